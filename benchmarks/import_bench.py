"""Benchmark of the member import against merely reading the same workbook.

    .venv/bin/python benchmarks/import_bench.py --rows 50000

Writes an N-row clean DigitalPlace-format workbook, then, each in its own process so that each
peak memory is its own: reads it with openpyxl (read-only: the reference time), imports it into a
fresh PostgreSQL database with the project's import, and imports it again (all rows unchanged).
Prints seconds, rows per second, peak memory (maximum resident set of the process), SQL queries,
and each time as a ratio to the openpyxl reading time. Targets at 50,000 rows: first import within
2× the reading time, unchanged re-import within 1.5×, peak under 300 MB, queries growing with
batches, not rows (compare --rows 5000).

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/gc_bench_import``): the database
is dropped and created afresh; never point it at real data.
"""

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import make_siret  # noqa: E402
from read_bench import HEADER  # noqa: E402  (DigitalPlace's header row, as in the sample file)

PLANS = [("Startup", 300), ("PME", 600), ("ETI / Grand compte", 2500), ("Académique", 400)]
CITIES = [("31000", "Toulouse"), ("09100", "Pamiers"), ("81000", "Albi"), ("32000", "Auch")]


def write_workbook(path: Path, rows: int) -> None:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Adhérents")
    sheet.append(["Export des adhérents DigitalPlace — benchmark"])
    sheet.append([])
    sheet.append(HEADER)
    for n in range(rows):
        plan, fee = PLANS[n % len(PLANS)]
        postcode, city = CITIES[n % len(CITIES)]
        number = 10_000_000 + n
        sheet.append(
            [
                f"DP-{n:06d}",
                f"Entreprise {n}",
                int(make_siret(number)) if n % 3 == 0 else make_siret(number),
                "SAS",
                f"{n % 200 + 1} rue de la Paix",
                int(postcode) if n % 2 else postcode,
                city,
                n % 500,
                "Édition de logiciels",
                dt.datetime(2010 + n % 8, 1 + n % 12, 1 + n % 28),
                plan,
                fee if n % 2 else f"{fee:,.2f} €".replace(",", "\u202f").replace(".", ","),
                "Oui" if n % 5 else "Non",
                dt.datetime(2017, 1 + n % 12, 1 + n % 28) if n % 5 else None,
                dt.datetime(2017, 12, 31),
                "Mme" if n % 2 else "M.",
                "Camille",
                f"Martin{n}",
                "Gérante",
                f"contact{n}@entreprise{n}.fr",
                f"05 61 {n % 100:02d} {n // 100 % 100:02d} {n % 97:02d}",
            ]
        )
    book.save(path)


def peak_mb() -> float:
    """The process's peak resident memory (VmHWM: ru_maxrss would count the parent's too)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_read(path: Path) -> dict:
    import openpyxl

    start = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = sum(1 for _ in book.active.iter_rows(values_only=True))
    book.close()
    return {"seconds": time.perf_counter() - start, "rows": rows, "peak_mb": peak_mb()}


def phase_import(path: Path) -> dict:
    import django

    django.setup()
    from django.db import connection

    from members.imports.services import import_file_run
    from members.models import Cluster

    queries = 0

    def count(execute, sql, params, many, context):
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    cluster = Cluster.objects.get(slug="digitalplace")
    with connection.execute_wrapper(count):
        start = time.perf_counter()
        _, report = import_file_run(path=path, cluster=cluster, profile="digitalplace")
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": report.rows,
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "refused": report.refused_rows,
        "queries": queries,
        "peak_mb": peak_mb(),
    }


def child(phase: str, path: Path, env: dict) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--file", str(path)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/gc_bench_import"
    )
    parser.add_argument("--phase", choices=["read", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        result = phase_read(args.file) if args.phase == "read" else phase_import(args.file)
        print(json.dumps(result))
        return

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cluster.settings",
        "DATABASE_URL": args.database_url,
        "DJANGO_VAR_DIR": tempfile.mkdtemp(prefix="import-bench-"),
        "DJANGO_LOG_LEVEL": "WARNING",
        # As in production: with DEBUG on, Django keeps the SQL of the last 9,000 queries.
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "benchmark-only-not-secret",
    }
    name = args.database_url.rsplit("/", 1)[1]
    server = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", server, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", server, "-qc", f"CREATE DATABASE {name}"], check=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digitalplace-bench.xlsx"
        start = time.perf_counter()
        write_workbook(path, args.rows)
        print(
            f"{args.rows} rows written in {time.perf_counter() - start:.1f} s "
            f"({path.stat().st_size / 1e6:.1f} MB)"
        )
        read = child("read", path, env)
        first = child("import", path, env)
        again = child("import", path, env)

    print(f"\n{'phase':<26}{'seconds':>9}{'rows/s':>10}{'× read':>8}{'peak MB':>9}{'queries':>9}")
    for label, figures in (
        ("openpyxl read-only", read),
        ("first import", first),
        ("unchanged re-import", again),
    ):
        print(
            f"{label:<26}{figures['seconds']:>9.2f}{args.rows / figures['seconds']:>10.0f}"
            f"{figures['seconds'] / read['seconds']:>8.2f}{figures['peak_mb']:>9.0f}"
            f"{figures.get('queries', ''):>9}"
        )
    print(
        f"\nfirst import: {first['new']} new, {first['refused']} refused; "
        f"re-import: {again['unchanged']} unchanged, {again['updated']} updated, "
        f"{again['new']} new"
    )
    ok = (
        first["seconds"] <= 2 * read["seconds"]
        and again["seconds"] <= 1.5 * read["seconds"]
        and max(first["peak_mb"], again["peak_mb"]) < 300
    )
    print("targets (2× / 1.5× / 300 MB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
