"""How long every list of the admin takes, and in how many queries, as members grow.

Run it from the project's root, in one command, against a throwaway PostgreSQL database:

    .venv/bin/python benchmarks/admin_changelist.py --memberships 50000

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench`` on
``postgres://postgres@127.0.0.1:5432`` (trust authentication, as on a developer's machine or in
CI). With ``DATABASE_URL`` it uses that database, creates it if it is a PostgreSQL one that does
not exist yet, and refuses to run if it already holds memberships: point it to a database you
can throw away. Either way it migrates the database, bulk-creates the memberships (each with its
organisation, a contact and a term, in a mix of statuses) and, in proportion, what the other
lists show: invoices (half of them paid in part), the reminders the pass records, import
records, the merger's proposals and notices. Then it asks, with Django's test client, as a
superuser, as DigitalPlace's membership staff and as the merger committee, for every list of the
admin's registry that user may open (and the membership list's status filters and a search),
with 50 memberships and with ``--memberships`` of them. It prints the median time, the number of
queries and the rows shown of each, and exits with status 1 if the number of queries of a page
grew with the memberships (a query per row).

The header line says whether PostgreSQL's JIT compiler is on; to compare without it, prefix the
command with ``PGOPTIONS="-c jit=off"``.
"""

import argparse
import sys
import time
from datetime import date, timedelta

from common import (
    database_analyze,
    database_describe,
    django_start,
    organisations_bulk_create,
    page_measure,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench"
SMALL = 50
BATCH = 5000
ROLES = {
    "superuser": "superutilisateur",
    "staff": "personnel DigitalPlace",
    "committee": "comité de fusion",
}
# (label, query string) of the membership list's variants asked for beside every list.
MEMBERSHIP_PAGES = [
    ("statut = à jour", {"status": "current"}),
    ("statut = expirée", {"status": "lapsed"}),
    ("recherche « 4242 »", {"q": "4242"}),
]
# One import record per this many memberships.
MEMBERSHIPS_PER_IMPORT = 100


def members_bulk_create(*, start: int, count: int, today: date) -> None:
    """``count`` memberships numbered from ``start``, alternating between the source clusters,
    each with its organisation, a contact and one term: a quarter current, a quarter pending, a
    quarter in grace, a quarter lapsed; one in twenty cancelled."""
    from members.models import Cluster, Membership, Term

    clusters = list(Cluster.objects.filter(kind=Cluster.Kind.SOURCE))
    plans = {cluster.pk: list(cluster.plans.all()) for cluster in clusters}
    sites = {cluster.pk: list(cluster.sites.all()) for cluster in clusters}
    year_start, year_end = date(today.year, 1, 1), date(today.year, 12, 31)
    periods = [  # start, end, paid
        (year_start, year_end, True),
        (year_start, year_end, False),
        (today - timedelta(days=375), today - timedelta(days=10), True),
        (today - timedelta(days=765), today - timedelta(days=400), True),
    ]
    for first in range(start, start + count, BATCH):
        numbers = range(first, min(first + BATCH, start + count))
        organisations = organisations_bulk_create(
            numbers, name="Entreprise", headcount=lambda n: n % 300
        )
        memberships = Membership.objects.bulk_create(
            Membership(
                organisation=organisation,
                cluster=(cluster := clusters[n % len(clusters)]),
                member_number=f"{cluster.member_number_prefix}{n:06d}",
                member_since=date(2015 + n % 10, 1, 1),
                site=sites[cluster.pk][n % len(sites[cluster.pk])],
                cancelled_on=today - timedelta(days=30) if n % 20 == 0 else None,
            )
            for n, organisation in zip(numbers, organisations, strict=True)
        )
        terms = []
        for n, membership in zip(numbers, memberships, strict=True):
            plan = plans[membership.cluster_id][n % len(plans[membership.cluster_id])]
            start_date, end_date, paid = periods[n // len(clusters) % len(periods)]
            terms.append(
                Term(
                    membership=membership,
                    plan=plan,
                    start_date=start_date,
                    end_date=end_date,
                    fee=plan.annual_fee,
                    is_paid=paid,
                )
            )
        Term.objects.bulk_create(terms)


def others_bulk_create(*, today: date, memberships: int, by) -> None:
    """What the other lists show, in proportion to the memberships: an invoice for every unpaid
    term without one (every other one paid in half), the reminders due today (the pass), an
    import record per ``MEMBERSHIPS_PER_IMPORT`` memberships, the merger's proposals (refreshed)
    and a notice, sent, to the contacts of each proposal's organisation."""
    from django.db.models import Max
    from django.utils import timezone

    from members.models import Cluster, Contact, ImportRecord, Invoice, Payment, Term
    from members.services.billing import invoice_number
    from members.services.reminders import reminders_schedule
    from merger.models import MergerNotice, TransferProposal
    from merger.selectors import merger_current
    from merger.services import proposals_refresh

    terms = Term.objects.filter(is_paid=False, invoice__isnull=True).select_related(
        "plan", "membership__cluster", "membership__organisation"
    )
    last = dict(
        Invoice.objects.filter(year=today.year)
        .values("cluster_id")
        .annotate(last=Max("sequence"))
        .values_list("cluster_id", "last")
    )
    invoices = []
    for term in terms.order_by("pk").iterator(chunk_size=BATCH):
        cluster = term.membership.cluster
        last[cluster.pk] = sequence = last.get(cluster.pk, 0) + 1
        organisation = term.membership.organisation
        invoices.append(
            Invoice(
                cluster=cluster,
                term=term,
                number=invoice_number(
                    prefix=cluster.invoice_prefix or cluster.slug[:2].upper(),
                    year=today.year,
                    sequence=sequence,
                ),
                year=today.year,
                sequence=sequence,
                issued_on=today,
                due_on=today + timedelta(days=30),
                amount=term.fee,
                description=f"Cotisation {cluster.name}, formule {term.plan.name}",
                issuer_details=cluster.issuer_details(),
                customer_details={
                    "name": organisation.name,
                    "siret": organisation.siret,
                    "member_number": term.membership.member_number,
                },
            )
        )
    Invoice.objects.bulk_create(invoices, batch_size=BATCH)
    Payment.objects.bulk_create(
        (
            Payment(
                invoice=invoice,
                amount=invoice.amount / 2,
                received_on=today,
                reference=f"VIR {invoice.number}",
                recorded_by=by,
            )
            for invoice in invoices[::2]
        ),
        batch_size=BATCH,
    )
    reminders_schedule(today=today)
    clusters = list(Cluster.objects.filter(kind=Cluster.Kind.SOURCE))
    imports = memberships // MEMBERSHIPS_PER_IMPORT - ImportRecord.objects.count()
    ImportRecord.objects.bulk_create(
        ImportRecord(
            cluster=clusters[n % len(clusters)],
            profile=ImportRecord.Profile.STANDARD,
            source=ImportRecord.Source.COMMAND,
            created_by=by,
            finished_at=timezone.now(),
            file_name=f"adherents-{n}.xlsx",
            file_sha256="0" * 64,
            file_size=1000 + n,
            status=ImportRecord.Status.IMPORTED,
            rows=200,
            new=n % 200,
            updated=200 - n % 200,
        )
        for n in range(max(0, imports))
    )
    proposals_refresh(merger=merger_current(), by=by)
    told = MergerNotice.objects.values("proposal_id")
    proposals = TransferProposal.objects.exclude(pk__in=told).values_list("pk", "organisation_id")
    contacts = {}
    for contact in Contact.objects.filter(
        organisation_id__in=TransferProposal.objects.exclude(pk__in=told).values("organisation_id")
    ):
        contacts.setdefault(contact.organisation_id, []).append(contact)
    now = timezone.now()
    MergerNotice.objects.bulk_create(
        (
            MergerNotice(
                proposal_id=proposal_id,
                contact=contact,
                email=contact.email,
                language="fr",
                state=MergerNotice.State.SENT,
                subject="Le transfert de votre adhésion",
                queued_at=now,
                sent_at=now,
            )
            for proposal_id, organisation_id in proposals.iterator(chunk_size=BATCH)
            for contact in contacts.get(organisation_id, [])
        ),
        batch_size=BATCH,
    )


def user_create(role: str):
    """A superuser, a membership-staff user of DigitalPlace (who sees half the members), or a
    member of the merger committee (who reads every cluster)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from members.models import Cluster
    from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE

    users = get_user_model().objects
    if role == "superuser":
        return users.create_superuser("bench-admin", "bench-admin@example.org", "bench")
    user = users.create_user(f"bench-{role}", f"bench-{role}@example.org", "bench", is_staff=True)
    if role == "staff":
        user.groups.add(Group.objects.get(name=MEMBERSHIP_STAFF))
        Cluster.objects.get(slug="digitalplace").staff.add(user)
    else:
        user.groups.add(Group.objects.get(name=MERGER_COMMITTEE))
    return user


def pages_of(user) -> list[tuple[str, str, dict]]:
    """(label, path, query string) of every list of the admin's registry that ``user`` may open,
    as the admin's home page lists them, and the membership list's variants."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    request = RequestFactory().get("/admin/")
    request.user = user
    pages = [
        (
            f"{model['model']._meta.app_label}.{model['model']._meta.model_name}",
            model["admin_url"],
            {},
        )
        for app in admin.site.get_app_list(request)
        for model in app["models"]
        if model.get("admin_url")
    ]
    memberships = reverse("admin:members_membership_changelist")
    if any(path == memberships for _label, path, _params in pages):
        pages += [
            (f"adhésions, {label}", memberships, params) for label, params in MEMBERSHIP_PAGES
        ]
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memberships", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median kept)")
    args = parser.parse_args()

    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from django.test import Client
    from django.utils import timezone

    users = {role: user_create(role) for role in ROLES}
    clients = {role: Client() for role in ROLES}
    for role, client in clients.items():
        client.force_login(users[role])
    today = timezone.localdate()
    print(f"Base : {database_describe()}, date {today}")

    # (role, page) → [(memberships, median ms, queries, rows shown), …]
    results: dict[tuple[str, str], list[tuple[int, float, int, int]]] = {}
    created = 0
    for total in (SMALL, args.memberships):
        started = time.perf_counter()
        members_bulk_create(start=created, count=total - created, today=today)
        others_bulk_create(today=today, memberships=total, by=users["superuser"])
        database_analyze()
        print(
            f"{total - created} adhésions créées, avec leurs factures, relances, imports et "
            f"propositions, en {time.perf_counter() - started:.1f} s"
        )
        created = total
        for role, client in clients.items():
            for label, path, params in pages_of(users[role]):
                milliseconds, queries, response = page_measure(
                    client, path, params=params, repeat=args.repeat
                )
                changelist = (response.context or {}).get("cl")
                shown = len(changelist.result_list) if changelist is not None else 0
                results.setdefault((role, label), []).append((total, milliseconds, queries, shown))

    print()
    print(
        f"{'utilisateur':<22} {'liste':<38} {'adhésions':>10} {'lignes':>7} {'requêtes':>9} "
        f"{'médiane (ms)':>13}"
    )
    growing = []
    for (role, label), rows in results.items():
        for total, milliseconds, queries, shown in rows:
            print(
                f"{ROLES[role]:<22} {label:<38} {total:>10} {shown:>7} {queries:>9} "
                f"{milliseconds:>13.1f}"
            )
        if len({queries for _total, _ms, queries, _shown in rows}) > 1:
            growing.append(f"{ROLES[role]}, {label}")
    print()
    print(
        "Nombre de requêtes constant : "
        + ("oui" if not growing else "NON, il augmente avec le nombre d’adhésions : ")
        + "; ".join(growing)
    )
    return 0 if not growing else 1


if __name__ == "__main__":
    sys.exit(main())
