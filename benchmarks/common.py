"""What the benchmarks share: a throw-away PostgreSQL database migrated for Django's test client,
the line that describes it, a page's median time and query count, and valid SIRETs for bulk
organisations.

The benchmarks run as scripts (``.venv/bin/python benchmarks/<name>.py``): Python puts this folder
first on the path, so they ``import common``.
"""

import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


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


def database_drop(url: str) -> None:
    """Drop the PostgreSQL database of ``url`` (closing this process's connections first)."""
    import psycopg
    from django.conf import settings
    from django.db import connections
    from psycopg import sql

    if settings.configured:
        connections.close_all()
    parsed = urlparse(url)
    server = parsed._replace(scheme="postgresql", path="/postgres").geturl()
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(parsed.path.lstrip("/"))
            )
        )


def django_start(*, default_database_url: str) -> None:
    """Set Django up on the benchmark's database and migrate it.

    Without ``DATABASE_URL`` the database of ``default_database_url`` is dropped and re-created;
    with it, that database is used (created if it is a PostgreSQL one that does not exist yet).
    Exit with status 1 if the database already holds memberships: a benchmark only runs on a
    database it may throw away. The test environment is set up too, for the test client's host
    and the responses' context.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cluster.settings")
    own_database = "DATABASE_URL" not in os.environ
    if own_database:
        os.environ["DATABASE_URL"] = default_database_url
    database_prepare(os.environ["DATABASE_URL"], recreate=own_database)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    from members.models import Membership

    setup_test_environment()
    call_command("migrate", verbosity=0)
    if Membership.objects.exists():
        name = urlparse(default_database_url).path.lstrip("/")
        raise SystemExit(
            f"The database {connection.settings_dict['NAME']} already holds memberships: "
            f"point DATABASE_URL to a throwaway database, or unset it to use {name}."
        )


def database_describe() -> str:
    """The database in one line: vendor, name, and PostgreSQL's version and JIT setting."""
    from django.db import connection

    description = f"{connection.vendor} {connection.settings_dict['NAME']}"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), current_setting('jit')")
            version, jit = cursor.fetchone()
        description += f" (PostgreSQL {version}, jit={jit})"
    return description


def database_analyze() -> None:
    """Refresh PostgreSQL's statistics after bulk inserts, as autovacuum would in time."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def make_siret(n: int) -> str:
    """A valid SIRET (Luhn keys on the SIREN and on the whole) derived from ``n``."""
    from stdnum import luhn

    siren = f"{n % 10**8:08d}"
    siren += luhn.calc_check_digit(siren)
    base = siren + f"{n % 10**4:04d}"
    return base + luhn.calc_check_digit(base)


def page_measure(client, path: str, *, params: dict | None = None, repeat: int):
    """Ask ``client`` for ``path`` once to warm up, then ``repeat`` times: return the median time
    in milliseconds, the number of SQL queries of the last request and its response. Exit if
    the page does not answer 200."""
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
            raise SystemExit(f"{path} {params or ''} answered {response.status_code}")
    return statistics.median(timings), len(queries), response


def organisations_bulk_create(numbers: range, *, name: str, headcount) -> list:
    """One organisation numbered ``n`` for each of ``numbers`` (named ``name`` followed by it,
    in Toulouse, with a valid SIRET and ``headcount(n)`` people), each with one contact."""
    from members.models import Contact, Organisation

    organisations = Organisation.objects.bulk_create(
        Organisation(
            name=f"{name} {n}",
            siret=(siret := make_siret(n)),
            siren=siret[:9],
            postcode="31000",
            city="Toulouse",
            headcount=headcount(n),
        )
        for n in numbers
    )
    Contact.objects.bulk_create(
        Contact(organisation=organisation, email=f"contact{n}@example.org", last_name=f"N{n}")
        for n, organisation in zip(numbers, organisations, strict=True)
    )
    return organisations
