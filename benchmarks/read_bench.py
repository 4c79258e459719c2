"""How fast, and in how much memory, a big member workbook is read: openpyxl, python-calamine and
our ``members.imports.readers.open_spreadsheet``.

Run it from the project's root:

    .venv/bin/python benchmarks/read_bench.py --rows 50000

It writes an XLSX of ``--rows`` member rows in DigitalPlace's layout (a title row, a blank row,
then the 21-column header of ``digitalplace.xlsx``; text, date cells, numbers, SIRETs sometimes as
numbers, a blank row now and then) with openpyxl's write-only mode, and the same rows as a French
Excel CSV (``;``, Windows-1252). It prints the sizes of the zip's members (what the zip-bomb guard
of the readers must let through), then reads the files with each reader in a fresh subprocess, so
that one reader's memory does not hide another's, and prints for each: seconds, rows per second,
the resident memory before reading (interpreter and imports, Django's for ``open_spreadsheet``)
and the process's peak (Linux only: it reads /proc). ``--keep DIR`` writes the files there and
keeps them.
"""

import argparse
import csv
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cluster.settings")

# The header row of DigitalPlace's export, as in tests/samples/digitalplace.xlsx.
HEADER = [
    "N° adhérent",
    "Raison sociale",
    "SIRET",
    "Forme juridique",
    "Adresse",
    "Code postal",
    "Ville",
    "Effectif",
    "Secteur d'activité",
    "Date d'adhésion",
    "Formule",
    "Cotisation 2017",
    "Réglée",
    "Date de règlement",
    "Fin d'adhésion",
    "Civilité",
    "Prénom",
    "Nom",
    "Fonction",
    "E-mail",
    "Téléphone",
]
TITLE = "Export des adhérents DigitalPlace — arrêté au 15/12/2017"
PREFIXES = ["Agly", "Aubrac", "Sud", "Orb", "Larzac", "Comédie", "Oc", "Capitole", "Garonne"]
SUFFIXES = ["IA", "Quantum", "Connect", "Digital", "Studio", "Numérique", "Lab", "Data", "Cloud"]
FORMS = ["SAS", "SASU", "SARL", "EURL", "SA", "Association loi 1901"]
STREETS = ["rue", "avenue", "boulevard", "allée"]
SURNAMES = ["Roux", "Bonnet", "Bernard", "Lopez", "Garcia", "Fournier", "Martin", "Castanet"]
FIRST_NAMES = ["Julien", "Manon", "Anaïs", "Arnaud", "Inès", "Laurent", "Émilie", "Paul"]
TOWNS = [("31000", "Toulouse"), ("32000", "Auch"), ("09100", "Pamiers"), ("81000", "Albi")]
SECTORS = ["Web et communication", "Objets connectés", "Agritech", "Formation", "Spatial"]
PLANS = [("Startup", 300), ("PME", 600), ("ETI / Grand compte", 2500), ("Académique", 400)]
JOBS = ["Gérant", "Directrice générale", "Responsable administratif", "Chargé de projet"]
# Resident memory of the process, in MB, from Linux's /proc: VmRSS now, VmHWM its peak. Not
# ru_maxrss: a child started by fork and exec inherits its parent's peak there.
MEMORY = """
def memory(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
"""
# (label, code run in the subprocess with ``path`` set; it leaves the number of rows in ``rows``).
READERS = [
    (
        "openpyxl read-only",
        "import openpyxl\n"
        "workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)\n"
        "rows = sum(1 for _ in workbook.worksheets[0].iter_rows(values_only=True))\n"
        "workbook.close()\n",
    ),
    (
        "calamine to_python()",
        "from python_calamine import CalamineWorkbook\n"
        "rows = len(CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python())\n",
    ),
    (
        "calamine iter_rows()",
        "from python_calamine import CalamineWorkbook\n"
        "sheet = CalamineWorkbook.from_path(path).get_sheet_by_index(0)\n"
        "rows = sum(1 for _ in sheet.iter_rows())\n",
    ),
    (
        "open_spreadsheet (xlsx)",
        "import django\n"
        "django.setup()\n"
        "from members.imports.readers import open_spreadsheet\n"
        "START\n"
        "rows = sum(1 for sheet in open_spreadsheet(path) for _ in sheet.rows())\n",
    ),
    (
        "open_spreadsheet (csv)",
        "import django\n"
        "django.setup()\n"
        "from members.imports.readers import open_spreadsheet\n"
        "START\n"
        "rows = sum(1 for sheet in open_spreadsheet(csv_path) for _ in sheet.rows())\n",
    ),
]


def member_rows(count: int, seed: int = 2017) -> list[list[object]]:
    """``count`` rows of the DigitalPlace export, varied as the real ones are."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    number = 0
    for _ in range(count):
        if rng.random() < 0.001:
            rows.append([None] * len(HEADER))
            continue
        if not rows or rows[-1][0] is None or rng.random() > 0.1:
            number += 1  # else a second contact of the same member
        company = f"{rng.choice(PREFIXES)} {rng.choice(SUFFIXES)}"
        digits = f"{rng.randrange(10**13, 10**14)}"
        siret = rng.choice(
            [int(digits), digits, f"{digits[:3]} {digits[3:6]} {digits[6:9]} {digits[9:]}", None]
        )
        postcode, town = rng.choice(TOWNS)
        joined = datetime.date(2008, 1, 1) + datetime.timedelta(days=rng.randrange(3300))
        plan, fee = rng.choice(PLANS)
        paid = rng.random() < 0.85
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        rows.append(
            [
                f"DP-{number:05d}",
                company,
                siret,
                rng.choice(FORMS),
                f"{rng.randrange(1, 200)} {rng.choice(STREETS)} {rng.choice(SURNAMES)}",
                int(postcode) if postcode[0] != "0" and rng.random() < 0.5 else postcode,
                town,
                rng.choice([1, 2, 4, 8, 12, 25, 40, 80, 150, 600, None]),
                rng.choice(SECTORS),
                joined if rng.random() < 0.7 else joined.strftime("%d/%m/%Y"),
                plan,
                rng.choice([fee, f"{fee},00", f"{fee:,} €".replace(",", "\u202f")]),
                "Oui" if paid else "Non",
                datetime.date(2017, 1, 1) + datetime.timedelta(days=rng.randrange(180))
                if paid
                else None,
                datetime.date(2017, 12, 31),
                rng.choice(["M.", "Mme"]),
                first,
                last,
                rng.choice(JOBS),
                f"{first.lower()}.{last.lower()}{rng.randrange(1000)}@example.fr",
                f"0{rng.randrange(1, 8)} {rng.randrange(10, 100)} {rng.randrange(10, 100)} "
                f"{rng.randrange(10, 100)} {rng.randrange(10, 100)}",
            ]
        )
    return rows


def write_files(directory: Path, count: int) -> tuple[Path, Path]:
    """The XLSX and the CSV of ``count`` member rows, in ``directory``."""
    import openpyxl

    rows = member_rows(count)
    xlsx_path = directory / f"members-{count}.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Adhérents")
    sheet.append([TITLE])
    sheet.append([])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(xlsx_path)
    csv_path = directory / f"members-{count}.csv"
    with csv_path.open("w", encoding="cp1252", errors="replace", newline="") as file:
        writer = csv.writer(file, delimiter=";", lineterminator="\r\n")
        writer.writerow([TITLE])
        writer.writerow([])
        writer.writerow(HEADER)
        for row in rows:
            writer.writerow(["" if value is None else _csv_text(value) for value in row])
    return xlsx_path, csv_path


def _csv_text(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def measure(code: str, path: Path, csv_path: Path) -> dict:
    """Run one reader's ``code`` in a fresh interpreter: seconds, rows, memory (MB)."""
    before = "baseline = memory('VmRSS')\nstarted = time.perf_counter()\n"
    code = code.replace("START\n", before) if "START\n" in code else before + code
    script = (
        "import json, time\n"
        f"{MEMORY}"
        f"path, csv_path = {str(path)!r}, {str(csv_path)!r}\n"
        f"{code}"
        "seconds = time.perf_counter() - started\n"
        "print(json.dumps({'seconds': seconds, 'rows': rows, "
        "'baseline_mb': baseline, 'peak_mb': memory('VmHWM')}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode:
        raise SystemExit(completed.stderr)
    return json.loads(completed.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50000, help="member rows (default 50000)")
    parser.add_argument("--keep", type=Path, help="write the files in this folder and keep them")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        directory = arguments.keep or Path(temporary)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        xlsx_path, csv_path = write_files(directory, arguments.rows)
        print(
            f"{arguments.rows} rows written in {time.perf_counter() - started:.1f} s: "
            f"{xlsx_path.name} {xlsx_path.stat().st_size / 2**20:.1f} MB, "
            f"{csv_path.name} {csv_path.stat().st_size / 2**20:.1f} MB"
        )
        with zipfile.ZipFile(xlsx_path) as archive:
            members = sorted(archive.infolist(), key=lambda member: -member.file_size)
            total = sum(member.file_size for member in members)
            print(f"zip: {total / 2**20:.1f} MB uncompressed in all; largest members:")
            for member in members[:3]:
                ratio = member.file_size / max(member.compress_size, 1)
                print(f"  {member.filename:28} {member.file_size / 2**20:7.1f} MB  {ratio:5.1f}:1")
        print()
        columns = ("rows", 7), ("seconds", 8), ("rows/s", 9), ("base MB", 8), ("peak MB", 8)
        print(f"{'reader':26}", *(f"{title:>{width}}" for title, width in columns))
        for label, code in READERS:
            result = measure(code, xlsx_path, csv_path)
            print(
                f"{label:26} {result['rows']:>7} {result['seconds']:>8.2f} "
                f"{result['rows'] / result['seconds']:>9,.0f} {result['baseline_mb']:>8.0f} "
                f"{result['peak_mb']:>8.0f}"
            )


if __name__ == "__main__":
    main()
