"""The accounting export (FEC) of a year of 50,000 invoices with their payments: time and peak
memory.

Run it from the project's root, in one command, against a throwaway PostgreSQL database:

    .venv/bin/python benchmarks/fec_bench.py [--invoices 50000]

Without ``DATABASE_URL`` it drops and re-creates the database ``gc_bench_fec`` on
``postgres://postgres@127.0.0.1:5432``; with it, it uses that database and refuses to run if it
already holds memberships.

It creates, in bulk, ``--invoices`` DigitalPlace members with one 2025 term each and its
invoice (issued through the year), paid by transfer (most), by card (one in six), by cheque in
two instalments (one in twenty) or not at all (one in fifty); one invoice in a hundred gets a
credit note, one in a hundred a refund. Then it exports 2025 as FEC, CSV and XLSX and prints, for
each, the time, the peak resident memory of the process during the export (its high-water mark
reset before: ``/proc/self/clear_refs``) above what it held before, and the file's size; for the
FEC also the peak of Python's allocations (``tracemalloc``, a second run, slower). It checks
that the FEC is balanced per entry and in total, numbered without gap, and the same bytes when
exported again; it exits with status 1 otherwise.
"""

import argparse
import datetime as dt
import hashlib
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from common import database_analyze, database_describe, django_start, organisations_bulk_create

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench_fec"
YEAR = 2025
BATCH = 5000


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_reset() -> None:
    """Reset the process's high-water mark of resident memory (VmHWM) to what it holds now."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def activity_create(count: int) -> None:
    """``count`` members with a term, its invoice and what was paid and given back for it."""
    from members.demo import DEMO_LEGAL_DETAILS
    from members.models import (
        Cluster,
        CreditNote,
        Invoice,
        Membership,
        Payment,
        Refund,
        Term,
    )

    Cluster.objects.filter(slug="digitalplace").update(**DEMO_LEGAL_DETAILS["digitalplace"])
    cluster = Cluster.objects.get(slug="digitalplace")
    plan = cluster.plans.order_by("position").first()
    issuer = cluster.issuer_details()
    for first in range(0, count, BATCH):
        numbers = range(first, min(first + BATCH, count))
        organisations = organisations_bulk_create(
            numbers, name="Entreprise", headcount=lambda n: 12
        )
        memberships = Membership.objects.bulk_create(
            Membership(
                organisation=organisation,
                cluster=cluster,
                member_number=f"DP-{n + 1:06d}",
                member_since=dt.date(2020, 1, 1),
            )
            for n, organisation in zip(numbers, organisations, strict=True)
        )
        terms = Term.objects.bulk_create(
            Term(
                membership=membership,
                plan=plan,
                start_date=dt.date(YEAR, 1, 1),
                end_date=dt.date(YEAR, 12, 31),
                fee=Decimal(300 + (n % 7) * 50) + Decimal("0.50") * (n % 2),
            )
            for n, membership in zip(numbers, memberships, strict=True)
        )
        invoices = Invoice.objects.bulk_create(
            Invoice(
                cluster=cluster,
                term=term,
                number=f"DP-{YEAR}-{n + 1:06d}",
                year=YEAR,
                sequence=n + 1,
                issued_on=(issued := dt.date(YEAR, 1, 1) + dt.timedelta(days=n * 365 // count)),
                due_on=issued + dt.timedelta(days=30),
                amount=term.fee,
                description="Cotisation",
                issuer_details=issuer,
                customer_details={
                    "name": organisation.name,
                    "siret": organisation.siret,
                    "member_number": membership.member_number,
                },
            )
            for n, term, organisation, membership in zip(
                numbers, terms, organisations, memberships, strict=True
            )
        )
        payments, credit_notes, refunds = [], [], []
        for n, invoice in zip(numbers, invoices, strict=True):
            received = min(invoice.issued_on + dt.timedelta(days=n % 40), dt.date(YEAR, 12, 31))
            if n % 50 == 49:
                continue
            if n % 20 == 3:
                half = (invoice.amount / 2).quantize(Decimal("0.01"))
                payments += [
                    Payment(invoice=invoice, amount=half, received_on=received, method="cheque"),
                    Payment(
                        invoice=invoice,
                        amount=invoice.amount - half,
                        received_on=received,
                        method="cheque",
                    ),
                ]
            elif n % 6 == 1:
                payments.append(
                    Payment(
                        invoice=invoice,
                        amount=invoice.amount,
                        received_on=received,
                        method="card",
                        provider_reference=f"cs_bench_{n}",
                    )
                )
            else:
                payments.append(
                    Payment(
                        invoice=invoice,
                        amount=invoice.amount,
                        received_on=received,
                        reference=f"VIR {invoice.number}",
                    )
                )
            if n % 100 == 7:
                credit_notes.append(
                    CreditNote(
                        cluster=cluster,
                        invoice=invoice,
                        number=f"DP-AV-{YEAR}-{len(credit_notes) + first // 100 + 1:05d}",
                        year=YEAR,
                        sequence=len(credit_notes) + first // 100 + 1,
                        issued_on=received,
                        amount=Decimal("50.00"),
                        reason="Correction",
                        description="Avoir",
                        issuer_details=issuer,
                        customer_details=invoice.customer_details,
                    )
                )
                refunds.append(
                    Refund(
                        invoice=invoice,
                        amount=Decimal("50.00"),
                        refunded_on=received,
                        reason="Trop-perçu",
                    )
                )
        Payment.objects.bulk_create(payments)
        CreditNote.objects.bulk_create(credit_notes)
        Refund.objects.bulk_create(refunds)
        print(f"  {numbers.stop:,} invoices created", file=sys.stderr)


def export_measure(cluster, file_format: str, path: Path) -> tuple[float, float, object]:
    """Export 2025 as ``file_format`` to ``path``: seconds, peak resident memory above what the
    process held before (MB), and the export's summary."""
    from members.accounting import accounting_export

    before = rss_mb("VmRSS")
    peak_reset()
    started = time.perf_counter()
    with open(path, "wb") as file:
        summary = accounting_export(
            cluster=cluster,
            start=dt.date(YEAR, 1, 1),
            end=dt.date(YEAR, 12, 31),
            file_format=file_format,
            file=file,
        )
    seconds = time.perf_counter() - started
    return seconds, rss_mb("VmHWM") - before, summary


def fec_check(path: Path) -> list[str]:
    """What is wrong with the FEC at ``path``: entries unbalanced, numbers with gaps."""
    problems = []
    totals = defaultdict(lambda: [Decimal(0), Decimal(0)])
    with open(path, encoding="utf-8", newline="") as file:
        header = next(file).rstrip("\r\n").split("\t")
        if len(header) != 18:
            problems.append(f"{len(header)} columns")
        for line in file:
            fields = line.rstrip("\r\n").split("\t")
            total = totals[int(fields[2])]
            total[0] += Decimal(fields[11].replace(",", "."))
            total[1] += Decimal(fields[12].replace(",", "."))
    if sorted(totals) != list(range(1, len(totals) + 1)):
        problems.append("entry numbers with gaps")
    unbalanced = [number for number, (debit, credit) in totals.items() if debit != credit]
    if unbalanced:
        problems.append(f"{len(unbalanced)} unbalanced entries")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=50_000)
    args = parser.parse_args()
    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from members.models import Cluster, CreditNote, Payment, Refund

    started = time.perf_counter()
    activity_create(args.invoices)
    database_analyze()
    print(f"Data created in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    cluster = Cluster.objects.get(slug="digitalplace")
    print(database_describe())
    print(
        f"{args.invoices:,} invoices, {Payment.objects.count():,} payments, "
        f"{CreditNote.objects.count():,} credit notes, {Refund.objects.count():,} refunds"
    )
    failed = False
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for file_format in ("fec", "csv", "xlsx"):
            paths[file_format] = Path(folder) / f"export.{file_format}"
            seconds, peak, summary = export_measure(cluster, file_format, paths[file_format])
            size = paths[file_format].stat().st_size / 1024 / 1024
            print(
                f"{file_format:>4}: {seconds:6.1f} s, peak memory +{peak:5.1f} MB, "
                f"{size:5.1f} MB, {summary.entries:,} entries, {summary.lines:,} lines, "
                f"debits {summary.debit} = credits {summary.credit}"
            )
            failed |= summary.debit != summary.credit
        again = Path(folder) / "again.fec"
        tracemalloc.start()
        export_measure(cluster, "fec", again)
        _current, python_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f" fec: peak of Python's allocations (tracemalloc) {python_peak / 1024 / 1024:.1f} MB"
        )
        same = (
            hashlib.sha256(paths["fec"].read_bytes()).digest()
            == hashlib.sha256(again.read_bytes()).digest()
        )
        problems = fec_check(paths["fec"])
        print(f" fec: exported twice, the same bytes: {'yes' if same else 'NO'}")
        print(f" fec: {'balanced per entry, gapless' if not problems else ', '.join(problems)}")
        failed |= not same or bool(problems)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
