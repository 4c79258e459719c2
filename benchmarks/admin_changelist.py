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
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cluster.settings")

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


def database_prepare(url: str, *, recreate: bool) -> None:
    """Create the PostgreSQL database of ``url`` if missing (drop it first if ``recreate``)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql", "pgsql"):
        return
    import psycopg
    from psycopg import sql

    name = parsed.path.lstrip("/")
    server = parsed._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if exists and recreate:
            connection.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )
        if recreate or not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def make_siret(n: int) -> str:
    """A valid SIRET (Luhn keys on the SIREN and on the whole) derived from ``n``."""
    from stdnum import luhn

    siren = f"{n % 10**8:08d}"
    siren += luhn.calc_check_digit(siren)
    base = siren + f"{n % 10**4:04d}"
    return base + luhn.calc_check_digit(base)


def members_bulk_create(*, start: int, count: int, today: date) -> None:
    """``count`` memberships numbered from ``start``, alternating between the source clusters,
    each with its organisation, a contact and one term: a quarter current, a quarter pending, a
    quarter in grace, a quarter lapsed; one in twenty cancelled."""
    from members.models import Cluster, Contact, Membership, Organisation, Term

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
        organisations = Organisation.objects.bulk_create(
            Organisation(
                name=f"Entreprise {n}",
                siret=(siret := make_siret(n)),
                siren=siret[:9],
                postcode="31000",
                city="Toulouse",
                headcount=n % 300,
            )
            for n in numbers
        )
        Contact.objects.bulk_create(
            Contact(organisation=organisation, email=f"contact{n}@example.org", last_name=f"N{n}")
            for n, organisation in zip(numbers, organisations, strict=True)
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


def page_measure(client, path: str, params: dict, repeat: int) -> tuple[float, int, int]:
    """Median time in milliseconds, number of queries and rows shown of the page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, params)
    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(path, params)
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path} {params} answered {response.status_code}")
    rows = len(response.context["cl"].result_list)
    return statistics.median(timings), len(queries), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memberships", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median kept)")
    args = parser.parse_args()

    own_database = "DATABASE_URL" not in os.environ
    if own_database:
        os.environ["DATABASE_URL"] = DEFAULT_DATABASE_URL
    database_prepare(os.environ["DATABASE_URL"], recreate=own_database)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse
    from django.utils import timezone

    from members.models import Membership

    setup_test_environment()  # the test client's host and the responses' context
    call_command("migrate", verbosity=0)
    if Membership.objects.exists():
        print(
            f"The database {connection.settings_dict['NAME']} already holds memberships: "
            "point DATABASE_URL to a throwaway database, or unset it to use gc_bench.",
            file=sys.stderr,
        )
        return 1

    clients = {role: Client() for role in ROLES}
    for role, client in clients.items():
        client.force_login(user_create(role))
    path = reverse("admin:members_membership_changelist")
    today = timezone.localdate()
    server = f"{connection.vendor} {connection.settings_dict['NAME']}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), current_setting('jit')")
            version, jit = cursor.fetchone()
        server += f" (PostgreSQL {version}, jit={jit})"
    print(f"Base : {server}, date {today}")

    # (role, page) → [(memberships, median ms, queries, rows shown), …]
    results: dict[tuple[str, str], list[tuple[int, float, int, int]]] = {}
    created = 0
    for total in (SMALL, args.memberships):
        started = time.perf_counter()
        members_bulk_create(start=created, count=total - created, today=today)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{total - created} adhésions créées en {time.perf_counter() - started:.1f} s")
        created = total
        for role, client in clients.items():
            for label, params in PAGES:
                measure = page_measure(client, path, params, args.repeat)
                results.setdefault((role, label), []).append((total, *measure))

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
