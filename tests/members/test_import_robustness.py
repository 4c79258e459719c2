"""What bad input does to an import: every kind of refusal names its row and column; unusable
files are refused before any row is read; and an import killed in the middle leaves nothing
half-written."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from members.models import Contact, ImportRecord, Membership, Organisation, Term
from members.texts import text_render
from tests.factories import make_siret
from tests.samples import SAMPLES
from tests.test_settings import django_environment

pytestmark = pytest.mark.django_db

HEADER = (SAMPLES / "frenchsouth.csv").read_bytes().decode("cp1252").splitlines()[0].split(";")


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


def frenchsouth_csv(path: Path, rows: list[dict]) -> Path:
    """A file as FrenchSouth's tool writes it (``;``, Windows-1252, CRLF), from ``rows`` of
    column → value over a valid default row."""
    with path.open("w", encoding="cp1252", newline="") as file:
        writer = csv.DictWriter(file, HEADER, delimiter=";", lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def member(n: int, **cells) -> dict:
    siret = make_siret(500_000 + n)
    return {
        "id_membre": str(1000 + n),
        "nom_structure": f"Structure {n}",
        "siren": siret[:9],
        "siret": siret,
        "adresse_1": "1 rue de la Loge",
        "cp": "34000",
        "ville": "Montpellier",
        "antenne": "Montpellier",
        "categorie": "PME",
        "nb_salaries": "12",
        "date_premiere_adhesion": "01/02/2015",
        "cotisation_montant": "550,00",
        "cotisation_payee": "oui",
        "fin_adhesion": "31/12/2017",
        "contact_civilite": "Mme",
        "contact_nom": "MARTIN",
        "contact_prenom": "Claire",
        "contact_email": f"claire{n}@structure{n}.fr",
        "contact_tel": "04 67 00 00 00",
        **cells,
    }


def refusals(path: Path) -> list[tuple[int, str, str]]:
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "import_members",
            "--cluster=frenchsouth",
            "--profile=frenchsouth",
            "--json",
            path,
            stdout=out,
        )
    assert raised.value.returncode == 1
    return [(r["row"], r["column"], r["message"]) for r in json.loads(out.getvalue())["refused"]]


@pytest.mark.parametrize(
    ("cells", "column", "words"),
    [
        ({"nom_structure": "  "}, "nom_structure", "Raison sociale manquante"),
        ({"siret": "12345678901234"}, "siret", "clé de contrôle"),
        ({"siret": "1234567890"}, "siret", "nombre de chiffres"),
        ({"siret": "", "siren": "123456789"}, "siren", "clé de contrôle"),
        ({"siren": "732829320"}, "siren", "n’est pas celui du SIRET"),
        ({"contact_email": "claire.martin@"}, "contact_email", "adresse e-mail"),
        ({"contact2_email": "a@b@c.fr", "contact2_nom": "X"}, "contact2_email", "adresse e-mail"),
        ({"date_premiere_adhesion": "30/02/2016"}, "date_premiere_adhesion", "date valide"),
        ({"fin_adhesion": "2017-13-01"}, "fin_adhesion", "date valide"),
        ({"cotisation_montant": "cinq cents"}, "cotisation_montant", "n’est pas un montant"),
        ({"cotisation_montant": "-1,00"}, "cotisation_montant", "négatif"),
        (
            {"categorie": "Platine"},
            "categorie",
            "« Platine » n’existe pas chez FrenchSouth.digital",
        ),
        ({"antenne": "Paris"}, "antenne", "Site : « Paris » n’existe pas"),
        ({"cp": "3400"}, None, None),  # Excel's lost leading zero: accepted as 03400.
        ({"cp": "340000"}, "cp", "code postal"),
        ({"nb_salaries": "10 à 49"}, "nb_salaries", "effectif"),
        ({"cotisation_payee": "peut-être"}, "cotisation_payee", "« Oui » ou « Non »"),
        ({"nom_structure": "=1+1"}, "nom_structure", "formule"),
        ({"contact_civilite": "Dr"}, "contact_civilite", "« Dr » ne fait pas partie des valeurs"),
    ],
)
def test_each_refusal_names_its_row_column_and_reason(tmp_path, cells, column, words):
    path = frenchsouth_csv(tmp_path / "fs.csv", [member(1), member(2, **cells), member(3)])

    if column is None:
        call_command("import_members", "--cluster=frenchsouth", "--profile=frenchsouth", path)
        assert Organisation.objects.count() == 3
        return
    ((row, refused_column, message),) = refusals(path)
    assert (row, refused_column) == (3, column)
    assert words in message
    assert Organisation.objects.count() == 0


def test_the_unknown_plan_message_lists_the_clusters_plans(tmp_path):
    path = frenchsouth_csv(tmp_path / "fs.csv", [member(1, categorie="Platine")])
    ((_, _, message),) = refusals(path)
    for plan in ("Startup", "PME", "Grande entreprise", "Recherche & formation", "Indépendant"):
        assert f"« {plan} »" in message


def test_a_second_contact_and_warnings_do_not_refuse_the_row(tmp_path):
    path = frenchsouth_csv(
        tmp_path / "fs.csv",
        [
            member(
                1,
                contact_tel="pas de téléphone",
                contact2_nom="DUPONT",
                contact2_prenom="Luc",
                contact2_email=" LUC.DUPONT@Structure1.FR ",
            ),
            member(2, contact2_nom="Sans adresse"),
        ],
    )
    out = io.StringIO()
    call_command(
        "import_members", "--cluster=frenchsouth", "--profile=frenchsouth", "-v2", path, stdout=out
    )
    assert "non reconnu : enregistré tel quel" in out.getvalue()
    assert "Contact 2 sans e-mail" in out.getvalue()
    contacts = {c.email: c for c in Contact.objects.all()}
    assert set(contacts) == {
        "claire1@structure1.fr",
        "luc.dupont@structure1.fr",
        "claire2@structure2.fr",
    }
    assert contacts["claire1@structure1.fr"].phone == "pas de téléphone"
    assert contacts["claire1@structure1.fr"].role == "primary"
    assert contacts["luc.dupont@structure1.fr"].role == "member"
    assert contacts["luc.dupont@structure1.fr"].last_name == "Dupont"


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bombe.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 20_000_000)
    assert path.stat().st_size < 1_000_000

    with pytest.raises(CommandError) as raised:
        call_command("import_members", "--cluster=frenchsouth", "--profile=frenchsouth", path)
    assert raised.value.returncode == 2
    assert "bombe.xlsx" in str(raised.value)


def test_a_file_over_the_size_limit_is_refused_unread_and_recorded(tmp_path, settings):
    settings.IMPORT_MAX_FILE_SIZE = 2000
    path = frenchsouth_csv(tmp_path / "gros.csv", [member(n) for n in range(40)])

    with pytest.raises(CommandError, match="taille maximale") as raised:
        call_command("import_members", "--cluster=frenchsouth", "--profile=frenchsouth", path)

    assert raised.value.returncode == 2
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.UNUSABLE
    assert not record.file  # Not kept.
    assert record.file_size == path.stat().st_size


def test_an_empty_file(tmp_path):
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    with pytest.raises(CommandError, match="vide") as raised:
        call_command("import_members", "--cluster=frenchsouth", "--profile=frenchsouth", empty)
    assert raised.value.returncode == 2


NO_DATA_ROW = "n’a aucune ligne de données sous les en-têtes"


def header_only_csv(path: Path, *, below: bytes = b"", times: int = 0) -> Path:
    """FrenchSouth's header, then ``times`` lines of ``below`` and no data row."""
    frenchsouth_csv(path, [])
    with path.open("ab") as file:
        file.write(below * times)
    return path


def header_only_xlsx(path: Path) -> Path:
    """A workbook with FrenchSouth's header on its first row, and nothing below it."""
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.save(path)
    return path


HEADER_ONLY = {
    "header-alone": lambda path: header_only_csv(path),
    "blank-lines": lambda path: header_only_csv(path, below=b"\r\n", times=1000),
    "separators-only": lambda path: header_only_csv(path, below=b";;;;\r\n", times=1000),
    "spaces-and-separators": lambda path: header_only_csv(path, below=b" ; ;\t;\r\n", times=10),
    "xlsx": lambda path: header_only_xlsx(path.with_suffix(".xlsx")),
}


@pytest.mark.parametrize("json_option", [[], ["--json"]], ids=["text", "json"])
@pytest.mark.parametrize("variant", HEADER_ONLY)
def test_a_header_without_a_data_row_is_unusable_input(tmp_path, variant, json_option):
    path = HEADER_ONLY[variant](tmp_path / "entete.csv")
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command(
            "import_members",
            "--cluster=frenchsouth",
            "--profile=frenchsouth",
            *json_option,
            path,
            stdout=out,
        )

    # Like every unusable input: exit status 2, the reason (on stderr from a shell), nothing on
    # stdout, with --json too.
    assert raised.value.returncode == 2
    assert str(raised.value) == (
        f"Le fichier « {path.name} » n’a aucune ligne de données sous les en-têtes (ligne 1) : "
        "rien à importer."
    )
    assert out.getvalue() == ""
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.UNUSABLE and NO_DATA_ROW in text_render(
        record.message
    )
    assert Membership.objects.count() == 0


def database_url_of_the_tests() -> str:
    """The URL of the test database, for a ``manage.py`` run in a subprocess."""
    database = settings.DATABASES["default"]
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or 'localhost'}"
        f":{database['PORT'] or 5432}/{database['NAME']}"
    )


def run_manage(args: list[str], **variables: str) -> tuple[int, str, str, float, int]:
    """``python manage.py args`` in a subprocess: exit status, stdout, stderr, seconds taken and
    the subprocess's own peak resident memory in kilobytes."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=django_environment(**variables),
            stdout=out,
            stderr=err,
        )
        watchdog = threading.Timer(300, process.kill)
        watchdog.start()
        try:
            # wait4 rather than wait: it gives this child's resource usage alone.
            _pid, wait_status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(wait_status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return (
            process.returncode,
            out.read().decode(),
            err.read().decode(),
            seconds,
            usage.ru_maxrss,
        )


@pytest.mark.django_db(transaction=True)
def test_a_header_and_a_million_blank_lines_are_refused_from_the_command_line(postgresql, tmp_path):
    """The attack as it was run, from a shell: refused (exit 2, the reason on stderr, nothing on
    stdout with --json) in seconds, the file read as a stream: the process grows no bigger than
    for ten blank lines."""
    small = header_only_csv(tmp_path / "dix.csv", below=b"\n", times=10)
    large = header_only_csv(tmp_path / "un-million.csv", below=b"\n", times=1_000_000)
    arguments = ["import_members", "--cluster=frenchsouth", "--profile=frenchsouth", "--json"]
    variables = {
        "DATABASE_URL": database_url_of_the_tests(),
        "DJANGO_VAR_DIR": str(tmp_path / "var"),
    }

    status, out, err, small_seconds, small_memory = run_manage(
        [*arguments, str(small)], **variables
    )
    assert (status, out) == (2, "") and NO_DATA_ROW in err, err

    status, out, err, seconds, large_memory = run_manage([*arguments, str(large)], **variables)
    assert (status, out) == (2, "") and NO_DATA_ROW in err, err
    # Beyond starting Django, which both runs pay: about a second on an idle machine.
    assert seconds - small_seconds < 10
    assert large_memory < small_memory + 20 * 1024
    assert Membership.objects.count() == 0
    assert (
        list(ImportRecord.objects.values_list("status", flat=True))
        == [ImportRecord.Status.UNUSABLE] * 2
    )


@pytest.mark.django_db(transaction=True)
def test_an_import_killed_in_the_middle_leaves_nothing_half_written(postgresql, tmp_path):
    rows = 12_000
    path = frenchsouth_csv(tmp_path / "gros.csv", [member(n) for n in range(rows)])
    environment = django_environment(
        DATABASE_URL=database_url_of_the_tests(),
        DJANGO_VAR_DIR=str(tmp_path / "var"),
        PGAPPNAME="import-kill-test",
    )
    command = [
        sys.executable, "manage.py", "import_members", "--cluster=frenchsouth",
        "--profile=frenchsouth", str(path),
    ]  # fmt: skip

    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=environment)
    try:
        # Kill it once it has written at least one batch (a COPY) in its transaction.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT query FROM pg_stat_activity WHERE application_name = %s",
                    ["import-kill-test"],
                )
                queries = [query for (query,) in cursor.fetchall()]
            if any("COPY" in query or "members_term" in query for query in queries):
                break
            assert process.poll() is None, "the import ended before it could be killed"
            time.sleep(0.02)
        else:
            raise AssertionError("the import wrote nothing within 60 s")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    # PostgreSQL rolls the transaction back when the connection drops.
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                ["import-kill-test"],
            )
            if cursor.fetchone()[0] == 0:
                break
        time.sleep(0.05)

    assert (
        Organisation.objects.count(),
        Membership.objects.count(),
        Term.objects.count(),
        Contact.objects.count(),
    ) == (0, 0, 0, 0)
    assert ImportRecord.objects.get().status == ImportRecord.Status.IMPORTING

    # The same import runs again to the end.
    finished = subprocess.run(command, cwd=settings.BASE_DIR, env=environment, timeout=300)
    assert finished.returncode == 0
    assert Membership.objects.count() == rows
