"""How long the admin's home page (the dashboards) takes, and in how many queries, as members grow.

Run it from the project's root, in one command, against a throwaway PostgreSQL database:

    .venv/bin/python benchmarks/dashboard.py --memberships 50000

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_dashboard`` on
``postgres://postgres@127.0.0.1:5432``; with it, it uses that database and refuses to run if it
already holds memberships (see ``common.django_start``). It bulk-creates the memberships as
``admin_changelist.py`` does (a quarter current, pending, in grace and lapsed; one in twenty
cancelled), and for them: an invoice for every pending term (one in three partly paid), a failed
reminder for one membership in ten, a transfer proposal per organisation of the source clusters
(decisions and flags in turn) and a notice for one in two. Then it asks for ``/admin/`` as a
superuser (the merger and every cluster), as DigitalPlace's membership staff and as the merger
committee, with ``--small`` memberships and with ``--memberships`` of them, and prints the median
time and the number of queries of each. It exits with status 1 if the number of queries grew with
the memberships.
"""

import argparse
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

from admin_changelist import members_bulk_create
from common import database_analyze, database_describe, django_start, page_measure

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench_dashboard"
ROLES = {
    "superuser": "superutilisateur",
    "staff": "personnel DigitalPlace",
    "committee": "comité de fusion",
}


def work_bulk_create(*, since_pk: int, today: date) -> None:
    """For the memberships created after ``since_pk``: the invoices of their pending terms, some
    partly paid, failed reminders, transfer proposals and their notices."""
    from members.models import (
        Invoice,
        Membership,
        Payment,
        Reminder,
        ReminderState,
        Term,
    )
    from merger.models import Decision, MergerNotice, TransferProposal
    from merger.selectors import merger_current

    terms = list(
        Term.objects.filter(membership_id__gt=since_pk)
        .select_related("membership__cluster")
        .order_by("pk")
    )
    pending = [term for term in terms if not term.is_paid and term.end_date >= today]
    invoices = Invoice.objects.bulk_create(
        Invoice(
            cluster=term.membership.cluster,
            term=term,
            number=f"BENCH-{term.membership.cluster.slug}-{term.pk:07d}",
            year=today.year,
            sequence=term.pk,
            issued_on=today - timedelta(days=term.pk % 60),
            due_on=today + timedelta(days=30),
            amount=term.fee,
            description="Adhésion",
            issuer_details={},
            customer_details={"name": f"Entreprise {term.membership_id}"},
        )
        for term in pending
    )
    Payment.objects.bulk_create(
        Payment(invoice=invoice, amount=Decimal("10.00"), received_on=today)
        for invoice in invoices[::3]
    )
    Reminder.objects.bulk_create(
        Reminder(
            term=term,
            offset_days=-30,
            due_on=today,
            scheduled_on=today,
            state=ReminderState.FAILED,
        )
        for term in terms[::10]
    )
    merger = merger_current()
    decisions = list(Decision.values)
    memberships = Membership.objects.filter(
        pk__gt=since_pk, cluster__in=merger.sources.all()
    ).values_list("organisation_id", "cluster__slug")
    proposals = TransferProposal.objects.bulk_create(
        TransferProposal(
            merger=merger,
            organisation_id=organisation_id,
            origin=slug,
            as_of=merger.planned_date,
            decision=decisions[n % len(decisions)]
            if decisions[n % len(decisions)] != Decision.EXECUTED
            else Decision.APPROVED,
            no_siret=n % 7 == 0,
            unpaid=n % 5 == 0,
        )
        for n, (organisation_id, slug) in enumerate(memberships)
    )
    MergerNotice.objects.bulk_create(
        MergerNotice(
            proposal=proposal,
            email=f"contact{proposal.organisation_id}@example.org",
            language="fr",
            state=MergerNotice.State.FAILED if n % 10 == 0 else MergerNotice.State.PENDING,
        )
        for n, proposal in enumerate(proposals[::2])
    )


def user_create(role: str):
    """A superuser, DigitalPlace's membership staff, or a member of the merger committee."""
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=400)
    parser.add_argument("--memberships", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median kept)")
    args = parser.parse_args()

    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from members.models import Membership

    clients = {role: Client() for role in ROLES}
    for role, client in clients.items():
        client.force_login(user_create(role))
    path = reverse("admin:index")
    today = timezone.localdate()
    print(f"Base : {database_describe()}, date {today}")

    # role → [(memberships, median ms, queries), …]
    results: dict[str, list[tuple[int, float, int]]] = {}
    created = 0
    for total in (args.small, args.memberships):
        started = time.perf_counter()
        last_pk = Membership.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        members_bulk_create(start=created, count=total - created, today=today)
        work_bulk_create(since_pk=last_pk, today=today)
        database_analyze()
        print(f"{total - created} adhésions créées en {time.perf_counter() - started:.1f} s")
        created = total
        for role, client in clients.items():
            milliseconds, queries, _response = page_measure(client, path, repeat=args.repeat)
            results.setdefault(role, []).append((total, milliseconds, queries))

    print()
    print(f"{'utilisateur':<24} {'adhésions':>10} {'requêtes':>9} {'médiane (ms)':>13}")
    constant = True
    for role, rows in results.items():
        for total, milliseconds, queries in rows:
            print(f"{ROLES[role]:<24} {total:>10} {queries:>9} {milliseconds:>13.1f}")
        constant &= len({queries for _total, _ms, queries in rows}) == 1
    print()
    print(
        "Nombre de requêtes constant : "
        + ("oui" if constant else "NON, il augmente avec le nombre d’adhésions")
    )
    return 0 if constant else 1


if __name__ == "__main__":
    sys.exit(main())
