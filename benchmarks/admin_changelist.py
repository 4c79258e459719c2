"""How long the admin's membership changelist takes, and in how many queries, as members grow.

Run it from the project's root, in one command, against a throwaway PostgreSQL database:

    .venv/bin/python benchmarks/admin_changelist.py --memberships 50000

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench`` on
``postgres://postgres@127.0.0.1:5432`` (trust authentication, as on a developer's machine or in
CI). With ``DATABASE_URL`` it uses that database, creates it if it is a PostgreSQL one that does
not exist yet, and refuses to run if it already holds memberships: point it to a database you
can throw away. Either way it migrates the database, bulk-creates the memberships (each with its
organisation, a contact and a term, in a mix of statuses), then asks for the changelist as a
superuser and as DigitalPlace's membership staff with Django's test client, with 50 memberships
and with ``--memberships`` of them: the list, two status filters and a search. It prints the
median time and the number of queries of each, and exits with status 1 if the number of queries
grew with the memberships.

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
ROLES = {"superuser": "superutilisateur", "staff": "personnel DigitalPlace"}
# (label, query string) of the pages asked for.
PAGES = [
    ("liste", {}),
    ("statut = à jour", {"status": "current"}),
    ("statut = expirée", {"status": "lapsed"}),
    ("recherche « 4242 »", {"q": "4242"}),
]


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


def user_create(role: str):
    """A superuser, or a membership-staff user of DigitalPlace (who sees half the members)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from members.models import Cluster
    from members.roles import MEMBERSHIP_STAFF

    users = get_user_model().objects
    if role == "superuser":
        return users.create_superuser("bench-admin", "bench-admin@example.org", "bench")
    user = users.create_user("bench-staff", "bench-staff@example.org", "bench", is_staff=True)
    user.groups.add(Group.objects.get(name=MEMBERSHIP_STAFF))
    Cluster.objects.get(slug="digitalplace").staff.add(user)
    return user


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memberships", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median kept)")
    args = parser.parse_args()

    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    clients = {role: Client() for role in ROLES}
    for role, client in clients.items():
        client.force_login(user_create(role))
    path = reverse("admin:members_membership_changelist")
    today = timezone.localdate()
    print(f"Base : {database_describe()}, date {today}")

    # (role, page) → [(memberships, median ms, queries, rows shown), …]
    results: dict[tuple[str, str], list[tuple[int, float, int, int]]] = {}
    created = 0
    for total in (SMALL, args.memberships):
        started = time.perf_counter()
        members_bulk_create(start=created, count=total - created, today=today)
        database_analyze()
        print(f"{total - created} adhésions créées en {time.perf_counter() - started:.1f} s")
        created = total
        for role, client in clients.items():
            for label, params in PAGES:
                milliseconds, queries, response = page_measure(
                    client, path, params=params, repeat=args.repeat
                )
                shown = len(response.context["cl"].result_list)
                results.setdefault((role, label), []).append((total, milliseconds, queries, shown))

    print()
    print(
        f"{'utilisateur':<22} {'page':<20} {'adhésions':>10} {'lignes':>7} {'requêtes':>9} "
        f"{'médiane (ms)':>13}"
    )
    constant = True
    for (role, label), rows in results.items():
        for total, milliseconds, queries, shown in rows:
            print(
                f"{ROLES[role]:<22} {label:<20} {total:>10} {shown:>7} {queries:>9} "
                f"{milliseconds:>13.1f}"
            )
        constant &= len({queries for _total, _ms, queries, _shown in rows}) == 1
    print()
    print(
        "Nombre de requêtes constant : "
        + ("oui" if constant else "NON, il augmente avec le nombre d’adhésions")
    )
    return 0 if constant else 1


if __name__ == "__main__":
    sys.exit(main())
