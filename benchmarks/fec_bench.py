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
each, the time, the peak resident memory of a fresh process that sets Django up and exports
(and what it held before exporting), and the file's size; for the FEC also the peak of Python's
allocations during the export (``tracemalloc``, a second run, slower). It checks
that the FEC is balanced per entry and in total, numbered without gap, and the same bytes when
exported again; it exits with status 1 otherwise.
"""

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from common import (
    ROOT,
    database_analyze,
    database_describe,
    django_start,
    organisations_bulk_create,
)

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gc_bench_fec"
YEAR = 2025
BATCH = 5000


def peak_mb() -> float:
    """The process's peak resident memory (VmHWM: ru_maxrss would count the parent's too)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def phase_export(file_format: str, path: Path, *, traced: bool) -> dict:
    """In a process of its own: export 2025 as ``file_format`` to ``path``; the time, the
    process's peak resident memory before and after (Django set up, then the export), and the
    peak of Python's allocations if ``traced`` (slower)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cluster.settings")
    import django

    django.setup()
    from django.db import connection

    from members.accounting import accounting_export
    from members.models import Cluster

    cluster = Cluster.objects.get(slug="digitalplace")
    connection.ensure_connection()
    before = peak_mb()
    if traced:
        tracemalloc.start()
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
    python_peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024 if traced else None
    return {
        "seconds": seconds,
        "peak_before": before,
        "peak": peak_mb(),
        "python_peak": python_peak,
        "entries": summary.entries,
        "lines": summary.lines,
        "debit": str(summary.debit),
        "credit": str(summary.credit),
    }


def export_measure(file_format: str, path: Path, *, traced: bool = False) -> dict:
    """:func:`phase_export` in a fresh process, so that its peak memory is the export's."""
    completed = subprocess.run(
        [sys.executable, __file__, "--phase", file_format, "--file", str(path)]
        + (["--traced"] if traced else []),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


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
    parser.add_argument("--phase", choices=["fec", "csv", "xlsx"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase_export(args.phase, args.file, traced=args.traced)))
        return

    django_start(default_database_url=DEFAULT_DATABASE_URL)
    from members.models import CreditNote, Payment, Refund

    started = time.perf_counter()
    activity_create(args.invoices)
    database_analyze()
    print(f"Data created in {time.perf_counter() - started:.1f} s", file=sys.stderr)
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
            result = export_measure(file_format, paths[file_format])
            size = paths[file_format].stat().st_size / 1024 / 1024
            print(
                f"{file_format:>4}: {result['seconds']:6.1f} s, peak memory "
                f"{result['peak']:5.1f} MB ({result['peak_before']:.1f} MB before the export), "
                f"{size:5.1f} MB, {result['entries']:,} entries, {result['lines']:,} lines, "
                f"debits {result['debit']} = credits {result['credit']}"
            )
            failed |= result["debit"] != result["credit"]
        again = Path(folder) / "again.fec"
        traced = export_measure("fec", again, traced=True)
        print(f" fec: peak of Python's allocations (tracemalloc) {traced['python_peak']:.1f} MB")
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
