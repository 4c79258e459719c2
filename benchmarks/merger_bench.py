"""The merger on the demo data and at scale: proposals, the duplicate review, execution.

Run it from the project's root, with PostgreSQL running:

    .venv/bin/python benchmarks/merger_bench.py [--sizes 2000,20000]

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_merger`` on
``postgres://postgres@127.0.0.1:5432`` and drops it at the end (``--keep`` keeps it); with
``DATABASE_URL`` it uses that database and refuses to run if it already holds memberships. SQL
queries are counted by Django's ``CaptureQueriesContext``.

1. The demo (``seed_demo``'s data, about 400 organisations, 20 members of both clusters and six
   records planted as duplicates), the merger fixed on 1 January of next year: the time and
   queries of ``propose``, of ``duplicates`` (pairs found against those planted), of the
   approval of every proposal, of a dry run, of the admin's pages that show what informing the
   members and the execution would do (the notices' page; the execution's preview, a page of
   it, a search), of the execution, then of a second execution (which must create nothing).
2. At scale: for each of ``--sizes`` organisations (half in each source cluster, one in ten a
   member of both, one in thirty without SIRET, one in a hundred a second record of a company
   under another SIRET of its SIREN), with one contact and two paid yearly terms each, built
   with ``bulk_create``: ``propose``, ``duplicates`` and the execution, time and queries. The
   proposals and the duplicates take a number of queries that does not grow with the members;
   the execution takes a fixed number per organisation, each in its own transaction.

It exits with status 1 if a second execution creates anything, the duplicates planted are not
all found, or the queries of ``duplicates`` or of the confirmation pages grow with the
organisations.
"""

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal

import common

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/gc_bench_merger"


def measure(function, **kwargs):
    """(result, seconds, queries) of ``function(**kwargs)``; queries counted as they run
    (Django's query log keeps only the last 9,000)."""
    from django.db import connection

    count = 0

    def counted(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        started = time.perf_counter()
        result = function(**kwargs)
        elapsed = time.perf_counter() - started
    return result, elapsed, count


SYLLABLES = [c + v for c in "bcdfglmnprstvz" for v in "aeiou"]


def company_name(n: int) -> str:
    """A made-up company name of two words drawn from ``n``: no two alike by chance."""
    words = []
    for seed in (n * 7919 + 17, n * 104729 + 3):
        word = ""
        for _ in range(3):
            seed, index = divmod(seed, len(SYLLABLES))
            word += SYLLABLES[index]
            seed = seed * 31 + 7
        words.append(word.capitalize())
    return " ".join(words)


def line(what: str, seconds: float, queries: int, extra: str = "") -> None:
    print(f"  {what:<34} {seconds * 1000:>9.0f} ms {queries:>8} queries  {extra}")


def committee():
    from members.services import staff_user_ensure

    user, _created = staff_user_ensure(email="bench@example.org", password="bench-pw-123")
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])
    return user


def merger_run(label: str, *, effective: dt.date) -> dict:
    """Propose, find duplicates, approve everything, dry-run, execute twice; print each step."""
    from merger.models import DuplicatePair, TransferProposal
    from merger.selectors import merger_current
    from merger.services import (
        duplicates_refresh,
        merger_execute,
        merger_update,
        proposals_refresh,
        transfer_decide,
    )

    user = committee()
    merger = merger_current()
    merger_update(
        merger=merger, by=user, reason="bench", status="scheduled", planned_date=effective
    )
    merger.refresh_from_db()
    print(label)
    proposals, seconds, queries = measure(proposals_refresh, merger=merger)
    line(
        "propose",
        seconds,
        queries,
        f"{proposals.proposals} proposals, {proposals.members_of_both} members of both, "
        f"{proposals.flagged} flagged",
    )
    duplicates, seconds, dup_queries = measure(duplicates_refresh)
    line("duplicates", seconds, dup_queries, f"{len(duplicates.pairs)} pairs")
    ids = list(TransferProposal.objects.values_list("pk", flat=True))
    decided, seconds, decide_queries = measure(
        transfer_decide, proposal_ids=ids, decision="approved", by=user, reason="bench"
    )
    line("approve all", seconds, decide_queries, f"{len(decided.decided)} approved")
    dry, seconds, queries = measure(merger_execute, merger=merger, dry_run=True)
    line("execute --dry-run", seconds, queries, f"{len(dry.executed)} would be created")
    pages = confirmation_pages(user, merger)
    done, seconds, queries = measure(merger_execute, merger=merger)
    per_organisation = queries / max(1, len(done.executed))
    line(
        "execute",
        seconds,
        queries,
        f"{len(done.executed)} created, {len(done.failed)} failed, "
        f"{per_organisation:.1f} queries per organisation",
    )
    again, seconds, queries = measure(merger_execute, merger=merger)
    line("execute again", seconds, queries, f"{len(again.executed)} created")
    return {
        "proposals": proposals,
        "pages": pages,
        "pairs": duplicates.pairs,
        "duplicates_queries": dup_queries,
        "again": len(again.executed),
        "stored_pairs": DuplicatePair.objects.count(),
    }


#: The admin's pages before the mass actions: (label, path's view, query string).
CONFIRMATION_PAGES = [
    ("notify page", "admin:merger_merger_notify", {}),
    ("execute page", "admin:merger_merger_execute", {}),
    ("execute page 3", "admin:merger_merger_execute", {"p": "3"}),
    ("execute search (name)", "admin:merger_merger_execute", {"q": "ba"}),
    ("execute search (number)", "admin:merger_merger_execute", {"q": "GC-0100"}),
]


def confirmation_pages(user, merger) -> dict[str, int]:
    """Print the median time and queries of the pages that show what informing the members and
    the execution would do; return their queries by label."""
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    queries = {}
    for label, name, params in CONFIRMATION_PAGES:
        path = reverse(name, args=[merger.pk])
        milliseconds, count, _response = common.page_measure(client, path, params=params, repeat=3)
        line(label, milliseconds / 1000, count)
        queries[label] = count
    return queries


def members_create(count: int, *, year: int) -> int:
    """``count`` organisations as described in the module's docstring; return how many second
    records of a company (same SIREN, another SIRET) were planted."""
    from stdnum import luhn

    from members.models import Cluster, Contact, Membership, Organisation, Plan, Term

    clusters = list(
        Cluster.objects.filter(slug__in=["digitalplace", "frenchsouth"]).order_by("slug")
    )
    plans = {c.pk: Plan.objects.filter(cluster=c).order_by("position").first() for c in clusters}
    records, planted = [], 0
    for n in range(count):
        siret = common.make_siret(70_000_000 + n)
        if n % 100 == 99:  # another establishment of the previous company
            siren = records[-1].siren
            nic = "0099"
            siret = siren + nic + luhn.calc_check_digit(siren + nic)
            planted += 1
        no_siret = n % 30 == 29 and n % 100 != 99
        records.append(
            Organisation(
                name=records[-1].name if n % 100 == 99 else company_name(n),
                siret="" if no_siret else siret,
                siren="" if no_siret else siret[:9],
                postcode=f"{31000 + n % 900:05d}",
                city="Toulouse",
                headcount=5 + n % 40,
            )
        )
    organisations = Organisation.objects.bulk_create(records, batch_size=2000)
    Contact.objects.bulk_create(
        (
            Contact(organisation=o, email=f"contact{o.pk}@societe-{o.pk}.example")
            for o in organisations
        ),
        batch_size=2000,
    )
    memberships = []
    for n, organisation in enumerate(organisations):
        homes = clusters if n % 10 == 0 else [clusters[n % 2]]
        for cluster in homes:
            memberships.append(
                Membership(
                    organisation=organisation,
                    cluster=cluster,
                    member_number=f"B{n:07d}",
                    member_since=dt.date(2010 + n % 15, 1 + n % 12, 1),
                )
            )
    memberships = Membership.objects.bulk_create(memberships, batch_size=2000)
    Term.objects.bulk_create(
        (
            Term(
                membership=membership,
                plan=plans[membership.cluster_id],
                start_date=dt.date(term_year, 1, 1),
                end_date=dt.date(term_year, 12, 31),
                fee=Decimal("300.00"),
                is_paid=True,
                paid_on=dt.date(term_year, 2, 1),
            )
            for membership in memberships
            for term_year in (year - 1, year)
        ),
        batch_size=5000,
    )
    return planted


def database_empty() -> None:
    from members.models import Contact, Membership, Organisation, Term
    from merger.models import (
        DuplicatePair,
        Merger,
        MergerNotice,
        OrganisationMerge,
        TransferDecision,
        TransferProposal,
    )

    for model in (MergerNotice, TransferDecision, OrganisationMerge, DuplicatePair):
        model.objects.all().delete()
    Membership.objects.update(transferred_to=None)
    TransferProposal.objects.all().delete()
    Term.objects.all().delete()
    Membership.objects.filter(cluster__slug="grand-cluster").delete()
    Membership.objects.all().delete()
    Contact.objects.all().delete()
    Organisation.objects.update(merged_into=None)
    Organisation.objects.all().delete()
    Merger.objects.update(status="scheduled", effective_date=None, last_member_number=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000", help="Organisations, comma-separated.")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark's database.")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    own_database = "DATABASE_URL" not in os.environ
    common.django_start(default_database_url=DEFAULT_DATABASE)

    from django.utils import timezone

    from members.demo import demo_seed

    print(f"Database: {common.database_describe()}")
    failures = []
    next_new_year = dt.date(timezone.localdate().year + 1, 1, 1)
    demo_seed()
    common.database_analyze()
    demo = merger_run(f"Demo data, merger on {next_new_year:%d/%m/%Y}", effective=next_new_year)
    print(f"  duplicate pairs found: {len(demo['pairs'])} (6 planted in the demo)")
    if len(demo["pairs"]) < 6:
        failures.append("the demo's planted duplicates are not all found")
    if demo["again"]:
        failures.append("a second execution of the demo created memberships")

    queries = {}
    page_queries = {}
    for size in sizes:
        database_empty()
        year = timezone.localdate().year + 1
        planted = members_create(size, year=year)
        common.database_analyze()
        result = merger_run(
            f"{size} organisations ({planted} second records of a company)",
            effective=dt.date(year, 6, 1),
        )
        found = sum("same_siren" in pair.reasons for pair in result["pairs"])
        print(f"  same-SIREN pairs found: {found} of {planted} planted")
        if found < planted:
            failures.append(f"{size}: {planted - found} planted same-SIREN pairs not found")
        if result["again"]:
            failures.append(f"{size}: a second execution created memberships")
        queries[size] = result["duplicates_queries"]
        page_queries[size] = result["pages"]
    if len(set(queries.values())) > 1:
        failures.append(f"the duplicates' queries grow with the organisations: {queries}")
    if len({tuple(counts.items()) for counts in page_queries.values()}) > 1:
        failures.append(f"the confirmation pages' queries grow with the members: {page_queries}")
    if own_database and not args.keep:
        common.database_drop(DEFAULT_DATABASE)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
