"""The member area's time and queries as a member's history grows, concurrent renewals, and the
invoice PDF.

Run it from the project's root, in one command, against a throwaway PostgreSQL database:

    .venv/bin/python benchmarks/member_area.py

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_member`` on
``postgres://postgres@127.0.0.1:5432`` (trust authentication, as on a developer's machine or in
CI). With ``DATABASE_URL`` it uses that database, creates it if it is a PostgreSQL one that does
not exist yet, and refuses to run if it already holds memberships. Celery tasks (the e-mails of
invoices and payments) go to kombu's in-memory transport and are never run: no broker, no
worker, no e-mail.

It prints:

1. The member area (``/espace/``, Django's test client, signed in with ``force_login``) for a
   contact of 1 and of 5 organisations, each a member of both source clusters, with 1, 10 and
   100 yearly terms per membership. Every term has its invoice (``invoice_issue``); past terms
   are paid by transfer (``invoice_payment_record``, some in two instalments), the current term
   is paid at DigitalPlace and due at FrenchSouth. Median time of ``--repeat`` requests and the
   number of SQL queries, which must be the same whatever the history and the organisations.
2. Concurrent renewals: ``--renewals`` DigitalPlace memberships whose term ends in 30 days,
   renewed at once by ``--threads`` threads (each with its own database connection) through
   ``membership_renew``: renewals per second; then whether the cluster's invoice numbers of the
   year are exactly 1 to N, and what a second pass over the same memberships (renewing again
   after the same term) creates: nothing. The threads share Python's GIL with the one holding
   the invoice counter's lock: ``--threads 1`` gives the rate without that contention.
3. The invoice PDF (``invoice_pdf``): median time of 20 and size.

It exits with status 1 if the member area's query count varies, an invoice number is missing or
repeated, or the second pass creates anything.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

from common import (
    database_analyze,
    database_describe,
    django_start,
    make_siret,
    organisations_bulk_create,
    page_measure,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench_member"
ORGANISATION_COUNTS = (1, 5)
HISTORY_LENGTHS = (1, 10, 100)
PDF_REPEAT = 20


def member_history_create(*, key: str, organisations: int, years: int, first_number: int, today):
    """A user who is the primary contact of ``organisations`` organisations, each a member of
    both source clusters for the last ``years`` calendar years (the current one included), each
    term with its invoice, issued a month before the term starts. Past terms are paid (every
    fourth in two instalments); the current one is paid at DigitalPlace, not at FrenchSouth.
    Return the user and the invoice numbers the page should show."""
    from members.models import Cluster, Contact, ContactRole, Membership, Organisation, Term
    from members.services.accounts import contact_login_ensure
    from members.services.billing import invoice_issue, invoice_payment_record

    clusters = list(Cluster.objects.filter(kind=Cluster.Kind.SOURCE).order_by("slug"))
    email = f"membre-{key}@example.org"
    user = None
    terms = []
    for index in range(organisations):
        n = first_number + index
        organisation = Organisation.objects.create(
            name=f"Entreprise {key} n° {index + 1}",
            siret=(siret := make_siret(n)),
            siren=siret[:9],
            address_line1=f"{index + 1} allée des Demoiselles",
            postcode="31400",
            city="Toulouse",
            headcount=12,
        )
        contact = Contact.objects.create(
            organisation=organisation,
            email=email,
            first_name="Camille",
            last_name="Martin",
            role=ContactRole.PRIMARY,
        )
        Contact.objects.create(
            organisation=organisation,
            email=f"compta{n}@example.org",
            last_name="Comptabilité",
            role=ContactRole.BILLING,
        )
        user, _created = contact_login_ensure(contact=contact)
        for cluster in clusters:
            plan = cluster.plans.filter(is_active=True).order_by("position").first()
            membership = Membership.objects.create(
                organisation=organisation,
                cluster=cluster,
                member_number=f"{cluster.member_number_prefix}{n:06d}",
                member_since=date(today.year - years + 1, 1, 1),
            )
            terms += Term.objects.bulk_create(
                Term(
                    membership=membership,
                    plan=plan,
                    start_date=date(year, 1, 1),
                    end_date=date(year, 12, 31),
                    fee=plan.annual_fee,
                )
                for year in range(today.year - years + 1, today.year + 1)
            )
    numbers = []
    terms = Term.objects.filter(pk__in=[term.pk for term in terms]).select_related(
        "plan", "membership__cluster", "membership__organisation"
    )
    for rank, term in enumerate(terms.order_by("start_date", "pk")):
        invoice = invoice_issue(term=term, on=term.start_date - timedelta(days=30))
        numbers.append(invoice.number)
        current = term.end_date >= today
        if current and term.membership.cluster.slug != "digitalplace":
            continue
        received_on = invoice.issued_on + timedelta(days=15)
        instalments = [invoice.amount]
        if rank % 4 == 0:
            first = (invoice.amount / 2).quantize(Decimal("0.01"))
            instalments = [first, invoice.amount - first]
        for instalment in instalments:
            invoice_payment_record(
                invoice=invoice,
                amount=instalment,
                received_on=received_on,
                reference=f"VIR {invoice.number}",
            )
    return user, numbers


def renewable_memberships_create(*, count: int, first_number: int, today):
    """``count`` DigitalPlace memberships whose only term, paid, ends in 30 days (renewals are
    open), with its invoice issued two months before it started. Return their terms."""
    from members.models import Cluster, Membership, Term
    from members.services.billing import invoice_issue, invoice_payment_record

    cluster = Cluster.objects.get(slug="digitalplace")
    plan = cluster.plans.filter(is_active=True).order_by("position").first()
    end = today + timedelta(days=30)
    start = end.replace(year=end.year - 1) + timedelta(days=1)
    numbers = range(first_number, first_number + count)
    organisations = organisations_bulk_create(
        numbers, name="Entreprise renouvelée", headcount=lambda n: 20
    )
    memberships = Membership.objects.bulk_create(
        Membership(
            organisation=organisation,
            cluster=cluster,
            member_number=f"{cluster.member_number_prefix}{n:06d}",
            member_since=start,
        )
        for n, organisation in zip(numbers, organisations, strict=True)
    )
    terms = Term.objects.bulk_create(
        Term(membership=membership, plan=plan, start_date=start, end_date=end, fee=plan.annual_fee)
        for membership in memberships
    )
    terms = list(
        Term.objects.filter(pk__in=[term.pk for term in terms])
        .select_related("plan", "membership__cluster", "membership__organisation")
        .order_by("pk")
    )
    for term in terms:
        invoice = invoice_issue(term=term, on=start - timedelta(days=60))
        invoice_payment_record(
            invoice=invoice, amount=invoice.amount, received_on=start, reference=invoice.number
        )
    return terms


def renewals_run(*, terms: list, threads: int, today) -> tuple[float, int]:
    """Renew the membership of each of ``terms`` after it, spread over ``threads`` threads
    started at once, each with its own database connection (closed at the end). Return the
    seconds taken and the number of renewals created."""
    from django.db import connection

    from members.services.renewals import membership_renew

    start = threading.Barrier(threads + 1)
    created = [0] * threads
    errors: list[BaseException] = []

    def renew(index: int) -> None:
        try:
            start.wait()
            for term in terms[index::threads]:
                renewal = membership_renew(
                    membership=term.membership, after=term, plan=term.plan, today=today
                )
                created[index] += renewal.created
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=renew, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed, sum(created)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="requests per page (median kept)")
    parser.add_argument("--renewals", type=int, default=200, help="memberships renewed at once")
    parser.add_argument("--threads", type=int, default=8, help="threads renewing them")
    args = parser.parse_args()

    # Tasks queued on commit (invoice and payment e-mails) stay in this process's memory.
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    os.environ["CELERY_RESULT_BACKEND"] = "cache+memory://"
    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from members.documents import invoice_pdf
    from members.models import Invoice, Term

    today = timezone.localdate()
    print(f"Base : {database_describe()}, date {today}")
    print()

    # 1. The member area.
    started = time.perf_counter()
    scenarios = []
    number = 1
    for organisations in ORGANISATION_COUNTS:
        for years in HISTORY_LENGTHS:
            user, numbers = member_history_create(
                key=f"{organisations}org-{years}ans",
                organisations=organisations,
                years=years,
                first_number=number,
                today=today,
            )
            number += organisations
            scenarios.append((organisations, years, user, numbers))
    database_analyze()
    total_terms = sum(len(numbers) for *_rest, numbers in scenarios)
    print(
        f"Espace adhérent : {total_terms} périodes, factures et paiements créés en "
        f"{time.perf_counter() - started:.1f} s"
    )
    path = reverse("members:area")
    print(
        f"{'organisations':>13} {'périodes/adhésion':>18} {'factures affichées':>19} "
        f"{'requêtes':>9} {'médiane (ms)':>13}"
    )
    query_counts = set()
    all_shown = True
    for organisations, years, user, numbers in scenarios:
        client = Client()
        client.force_login(user)
        milliseconds, queries, response = page_measure(client, path, repeat=args.repeat)
        content = response.content.decode()
        shown = sum(invoice_number in content for invoice_number in numbers)
        all_shown &= shown == len(numbers)
        query_counts.add(queries)
        print(
            f"{organisations:>13} {years:>18} {f'{shown}/{len(numbers)}':>19} {queries:>9} "
            f"{milliseconds:>13.1f}"
        )
    area_ok = len(query_counts) == 1 and all_shown
    print(
        "Nombre de requêtes constant : "
        + ("oui" if len(query_counts) == 1 else "NON, il varie avec l’historique")
    )
    if not all_shown:
        print("ATTENTION : la page ne montre pas toutes les factures de l’historique")
    print()

    # 2. Concurrent renewals.
    started = time.perf_counter()
    terms = renewable_memberships_create(count=args.renewals, first_number=number, today=today)
    database_analyze()
    print(
        f"Renouvellements : {len(terms)} adhésions DigitalPlace arrivant à échéance le "
        f"{terms[0].end_date}, créées en {time.perf_counter() - started:.1f} s"
    )
    year_invoices = Invoice.objects.filter(cluster=terms[0].membership.cluster, year=today.year)
    before = year_invoices.count()
    elapsed, created = renewals_run(terms=terms, threads=args.threads, today=today)
    print(
        f"{created} renouvellements par {args.threads} fil{'s' if args.threads > 1 else ''} "
        f"en {elapsed:.2f} s : "
        f"{created / elapsed:.0f} renouvellements/s"
    )
    sequences = sorted(year_invoices.values_list("sequence", flat=True))
    numbers = set(year_invoices.values_list("number", flat=True))
    numbering_ok = (
        before == 0 and sequences == list(range(1, len(terms) + 1)) and len(numbers) == len(terms)
    )
    prefix = terms[0].membership.cluster.invoice_prefix
    print(
        f"Factures {prefix}-{today.year} : {len(sequences)}, rangs "
        f"{sequences[0] if sequences else '-'} à {sequences[-1] if sequences else '-'}, "
        f"1 à {len(terms)} sans trou ni doublon : {'oui' if numbering_ok else 'NON'}"
    )
    renewed_terms = Term.objects.filter(membership__in=[t.membership_id for t in terms]).count()
    elapsed, created_again = renewals_run(terms=terms, threads=args.threads, today=today)
    again_ok = (
        created_again == 0
        and year_invoices.count() == len(terms)
        and Term.objects.filter(membership__in=[t.membership_id for t in terms]).count()
        == renewed_terms
    )
    print(
        f"Second passage ({len(terms)} renouvellements après la même période, {elapsed:.2f} s) : "
        f"{created_again} créé(s)" + ("" if again_ok else " — ERREUR")
    )
    print()

    # 3. The invoice PDF.
    invoice = Invoice.objects.get(term__membership=terms[0].membership, year=today.year)
    started = time.perf_counter()
    invoice_pdf(invoice)
    first_call = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(PDF_REPEAT):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            pdf = invoice_pdf(invoice)
            timings.append((time.perf_counter() - started) * 1000)
    print(
        f"PDF de la facture {invoice.number} : médiane {statistics.median(timings):.1f} ms "
        f"sur {PDF_REPEAT} (premier appel {first_call:.1f} ms), {len(pdf) / 1024:.1f} Ko, "
        f"{len(queries)} requête(s)"
    )
    return 0 if area_ok and numbering_ok and again_ok else 1


if __name__ == "__main__":
    sys.exit(main())
