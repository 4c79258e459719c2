"""An import's report reads in the reader's language, whoever ran it; its refused rows download as
a spreadsheet to fix and upload again; the confirm button says why it cannot be used yet."""

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from members.imports.services import import_file_run
from members.models import Cluster, ImportRecord, Membership, Organisation
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from members.texts import text_render
from tests.samples import EXPECTED, FILES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_restored():
    """Requests in English leave the language active in this thread: give the next test French."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


ADD_URL = reverse("admin:members_importrecord_add")


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


def staff(slug: str):
    user, _ = staff_user_ensure(
        email=f"staff@{slug}.example",
        password="pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug=slug)],
    )
    return user


def upload(client, profile: str, name: str, content: bytes, *, skip_invalid=False):
    data = {
        "cluster": Cluster.objects.get(slug=profile).pk,
        "profile": profile,
        "file": SimpleUploadedFile(name, content),
    }
    if skip_invalid:
        data["skip_invalid"] = "on"
    return client.post(ADD_URL, data)


def record_url(record, name="change", *args) -> str:
    return reverse(f"admin:members_importrecord_{name}", args=[record.pk, *args])


def read_in(client, language: str, url: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200
    return response.text


# --- The report in the reader's language ---------------------------------------------------------


def test_an_import_run_in_french_reads_in_english_and_the_other_way_round(client):
    with translation.override("fr"):
        french_run, _report = import_file_run(
            path=FILES["digitalplace"],
            cluster=Cluster.objects.get(slug="digitalplace"),
            profile="digitalplace",
            dry_run=True,
        )
    with translation.override("en"):
        english_run, _report = import_file_run(
            path=FILES["digitalplace"],
            cluster=Cluster.objects.get(slug="digitalplace"),
            profile="digitalplace",
            dry_run=True,
        )
    client.force_login(staff("digitalplace"))

    for record in (french_run, english_run):
        french = read_in(client, "fr", record_url(record))
        assert "« gratuit ? » n’est pas un montant." in french
        assert "Raison sociale manquante." in french
        assert "nouvelle organisation" in french
        assert "“gratuit ?” is not an amount." not in french

        english = read_in(client, "en", record_url(record))
        assert "“gratuit ?” is not an amount." in english
        assert "Missing company name." in english
        assert "new organisation" in english
        assert "n’est pas un montant" not in english
        assert "nouvelle organisation" not in english


def test_the_stored_report_is_codes_and_values_not_sentences():
    record, _report = import_file_run(
        path=FILES["digitalplace"],
        cluster=Cluster.objects.get(slug="digitalplace"),
        profile="digitalplace",
        dry_run=True,
    )
    fee = next(r for r in record.refused if r["row"] == 14)
    assert fee["message"] == {"code": "import.amount_invalid", "params": {"value": "gratuit ?"}}
    first_change = record.changes[0]["changes"][0]
    assert first_change == {"code": "import.new_organisation", "params": {}}
    with translation.override("en"):
        assert text_render(fee["message"]) == "“gratuit ?” is not an amount."


def test_a_change_line_names_its_field_and_writes_its_dates_in_the_readers_language(
    client, tmp_path
):
    cluster = Cluster.objects.get(slug="digitalplace")
    path = tmp_path / "adherents.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(
        [
            "N° adhérent",
            "Raison sociale",
            "SIRET",
            "Formule",
            "Cotisation",
            "Fin d'adhésion",
            "Date d'adhésion",
        ]
    )
    sheet.append(["DP-9", "Ondine", "", "Startup", "120", "31/12/2026", "01/02/2020"])
    workbook.save(path)
    import_file_run(path=path, cluster=cluster, profile="digitalplace")
    sheet["G2"] = "03/04/2021"
    workbook.save(path)
    record, report = import_file_run(path=path, cluster=cluster, profile="digitalplace")
    assert report.updated == 1

    client.force_login(staff("digitalplace"))
    assert "Adhérent depuis : 01/02/2020 → 03/04/2021" in read_in(client, "fr", record_url(record))
    assert "Member since: 1 Feb 2020 → 3 Apr 2021" in read_in(client, "en", record_url(record))


def test_records_stored_before_the_codes_still_show_their_sentences(client):
    record = ImportRecord.objects.create(
        cluster=Cluster.objects.get(slug="digitalplace"),
        profile="digitalplace",
        source=ImportRecord.Source.COMMAND,
        file_name="ancien.xlsx",
        file_sha256="0" * 64,
        file_size=10,
        status=ImportRecord.Status.REFUSED,
        rows=2,
        refused_rows=1,
        refused=[{"row": 3, "column": "SIRET", "message": "Ancien motif en français."}],
        warnings=[{"row": 2, "message": "Ancien avertissement."}],
        changes=[
            {
                "row": 2,
                "outcome": "new",
                "label": "DP-1 · Ondine",
                "changes": ["nouvelle organisation", "nouvelle adhésion"],
            }
        ],
    )
    client.force_login(staff("digitalplace"))
    for language in ("fr", "en"):
        page = read_in(client, language, record_url(record))
        assert "Ancien motif en français." in page
        assert "Ancien avertissement." in page
        assert "nouvelle organisation ; nouvelle adhésion" in page


def test_the_command_line_report_is_in_the_commands_language():
    with translation.override("en"):
        _record, report = import_file_run(
            path=FILES["digitalplace"],
            cluster=Cluster.objects.get(slug="digitalplace"),
            profile="digitalplace",
            dry_run=True,
        )
        refused = report.as_json()["refused"]
    assert "“gratuit ?” is not an amount." in [r["message"] for r in refused]


# --- Refused rows as a spreadsheet -------------------------------------------------------------


def test_refused_rows_download_as_the_files_own_rows_with_their_reasons(client):
    client.force_login(staff("digitalplace"))
    upload(client, "digitalplace", "adherents.xlsx", FILES["digitalplace"].read_bytes())
    record = ImportRecord.objects.get()
    page = read_in(client, "fr", record_url(record))
    url = record_url(record, "refused", "xlsx")
    assert url in page
    assert record_url(record, "refused", "csv") not in page  # the upload was not CSV

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    response = client.get(url)
    assert response.status_code == 200
    assert "adherents-lignes-refusees.xlsx" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    original = openpyxl.load_workbook(FILES["digitalplace"]).active
    original_rows = [list(row) for row in original.iter_rows(values_only=True)]
    header_index = next(i for i, row in enumerate(original_rows) if "SIRET" in row)
    header = original_rows[header_index]
    assert rows[0][: len(header)] == header
    assert rows[0][-1] == "Motif du refus"
    refused_numbers = [error["row"] for error in EXPECTED["digitalplace"]["errors"]]
    assert len(rows) == 1 + len(refused_numbers)
    for number, row in zip(refused_numbers, rows[1:], strict=True):
        assert row[: len(header)] == original_rows[number - 1][: len(header)]
    fee = rows[1 + refused_numbers.index(14)][-1]
    assert "« gratuit ? » n’est pas un montant." in fee

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = openpyxl.load_workbook(io.BytesIO(client.get(url).content)).active
    english_rows = list(english.iter_rows(values_only=True))
    assert english_rows[0][-1] == "Reason for refusal"
    assert "“gratuit ?” is not an amount." in english_rows[1 + refused_numbers.index(14)][-1]


def test_the_fixed_download_imports_its_rows_once(client):
    client.force_login(staff("digitalplace"))
    upload(
        client,
        "digitalplace",
        "adherents.xlsx",
        FILES["digitalplace"].read_bytes(),
        skip_invalid=True,
    )
    first = ImportRecord.objects.get()
    client.post(record_url(first, "confirm"))
    first.refresh_from_db()
    assert first.status == ImportRecord.Status.IMPORTED
    memberships = Membership.objects.count()

    download = client.get(record_url(first, "refused", "xlsx")).content
    workbook = openpyxl.load_workbook(io.BytesIO(download))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    column = {name: header.index(name) + 1 for name in header if name}
    for row in range(2, sheet.max_row + 1):
        sheet.cell(
            row,
            column["Cotisation 2026"]
            if "Cotisation 2026" in column
            else next(i for n, i in column.items() if n.startswith("Cotisation")),
        ).value = 150
        if not sheet.cell(row, column["Raison sociale"]).value:
            sheet.cell(row, column["Raison sociale"]).value = "Société retrouvée"
        sheet.cell(row, column["Date d'adhésion"]).value = dt.date(2020, 1, 1)
        sheet.cell(row, column["E-mail"]).value = f"contact{row}@corrige.example"
        sheet.cell(row, column["SIRET"]).value = None
    fixed = io.BytesIO()
    workbook.save(fixed)

    upload(client, "digitalplace", "corrige.xlsx", fixed.getvalue())
    second = ImportRecord.objects.latest("pk")
    assert (second.refused_rows, second.rows) == (0, len(EXPECTED["digitalplace"]["errors"]))
    client.post(record_url(second, "confirm"))
    second.refresh_from_db()
    assert second.status == ImportRecord.Status.IMPORTED
    assert second.new == second.rows
    assert Membership.objects.count() == memberships + second.rows
    # Nothing imported twice: uploading the same fixed file again changes nothing.
    upload(client, "digitalplace", "corrige.xlsx", fixed.getvalue())
    third = ImportRecord.objects.latest("pk")
    assert (third.new, third.updated, third.unchanged) == (0, 0, third.rows)
    assert Organisation.objects.filter(name="Société retrouvée").count() == 1


def test_a_csv_upload_also_downloads_its_refused_rows_as_csv(client):
    client.force_login(staff("frenchsouth"))
    upload(client, "frenchsouth", "adherents.csv", FILES["frenchsouth"].read_bytes())
    record = ImportRecord.objects.get()
    page = read_in(client, "fr", record_url(record))
    assert record_url(record, "refused", "csv") in page
    assert record_url(record, "refused", "xlsx") in page

    response = client.get(record_url(record, "refused", "csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    original = FILES["frenchsouth"].read_bytes().decode("cp1252").splitlines()
    assert rows[0][:-1] == original[0].split(";")
    assert rows[0][-1] == "Motif du refus"
    assert len(rows) == 1 + len(EXPECTED["frenchsouth"]["errors"])
    first_refused = EXPECTED["frenchsouth"]["errors"][0]["row"]
    assert ";".join(rows[1][:-1]) == original[first_refused - 1]


def test_another_clusters_record_is_a_404_on_the_download(client):
    client.force_login(staff("frenchsouth"))
    upload(client, "frenchsouth", "adherents.csv", FILES["frenchsouth"].read_bytes())
    theirs = ImportRecord.objects.get()
    client.force_login(staff("digitalplace"))
    for file_format in ("xlsx", "csv"):
        assert client.get(record_url(theirs, "refused", file_format)).status_code == 404


def test_a_record_without_refused_rows_has_no_download_and_the_url_says_so(client, tmp_path):
    path = tmp_path / "propre.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(
        ["N° adhérent", "Raison sociale", "SIRET", "Formule", "Cotisation", "Fin d'adhésion"]
    )
    workbook.active.append(["DP-9", "Ondine", "", "Startup", "120", "31/12/2026"])
    workbook.save(path)
    client.force_login(staff("digitalplace"))
    upload(client, "digitalplace", "propre.xlsx", path.read_bytes())
    record = ImportRecord.objects.get()
    assert record.refused_rows == 0
    assert record_url(record, "refused", "xlsx") not in read_in(client, "fr", record_url(record))

    response = client.get(record_url(record, "refused", "xlsx"), follow=True)
    assert response.status_code == 200
    assert "Cet import n’a aucune ligne refusée : rien à télécharger." in response.text
    for bad in ("pdf", "csv%00", "xlsx.exe"):
        assert (
            client.get(f"/admin/members/importrecord/{record.pk}/refused.{bad}").status_code == 404
        )
    assert client.get("/admin/members/importrecord/999999/refused.xlsx").status_code == 404


# --- The confirm button -------------------------------------------------------------------------


def test_the_confirm_button_says_why_it_waits_for_the_box_and_the_server_says_it_too(client):
    client.force_login(staff("digitalplace"))
    upload(client, "digitalplace", "adherents.xlsx", FILES["digitalplace"].read_bytes())
    record = ImportRecord.objects.get()
    page = read_in(client, "fr", record_url(record))
    reason = (
        "Pour confirmer, cochez d’abord « Importer les lignes valides et ignorer les lignes "
        "refusées » : les lignes refusées ne seront pas importées."
    )
    assert reason in page
    # No browser-only "required" bubble: without JavaScript the form goes, and the server answers.
    assert 'name="skip_invalid" value="1" required' not in page

    response = client.post(record_url(record, "confirm"), follow=True)
    assert "Des lignes sont refusées : corrigez le fichier, ou cochez" in response.text
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.ANALYSED

    english = read_in(client, "en", record_url(record))
    assert "To confirm, first tick “Import the valid rows and skip the refused ones”" in english


def test_why_a_file_is_unusable_reads_in_the_readers_language(client):
    client.force_login(staff("digitalplace"))
    response = upload(client, "digitalplace", "frenchsouth.csv", FILES["frenchsouth"].read_bytes())
    assert response.status_code == 200  # the upload form again, with the reason
    record = ImportRecord.objects.get()
    assert record.status == ImportRecord.Status.UNUSABLE
    assert [text["code"] for text in record.message] == ["import.no_header", "import.looks_like"]

    french = read_in(client, "fr", record_url(record))
    assert "Ce fichier ressemble au profil « frenchsouth »." in french
    english = read_in(client, "en", record_url(record))
    assert "This file looks like the “frenchsouth” profile." in english
    assert "Ce fichier ressemble" not in english


def test_a_message_stored_before_the_codes_shows_as_written(client):
    record = ImportRecord.objects.create(
        cluster=Cluster.objects.get(slug="digitalplace"),
        profile="digitalplace",
        source=ImportRecord.Source.COMMAND,
        file_name="ancien.xlsx",
        file_sha256="0" * 64,
        file_size=10,
        status=ImportRecord.Status.UNUSABLE,
        message="Le fichier « ancien.xlsx » est vide.",
    )
    client.force_login(staff("digitalplace"))
    for language in ("fr", "en"):
        assert "Le fichier « ancien.xlsx » est vide." in read_in(
            client, language, record_url(record)
        )


def test_formula_cells_of_the_download_never_run_in_a_spreadsheet(client):
    content = (
        "id_membre;nom_structure;siret;categorie;cotisation_montant;fin_adhesion\r\n"
        '1;"=HYPERLINK(""http://evil.example"")";;Startup;-50,00;31/12/2026\r\n'
    ).encode("cp1252")
    client.force_login(staff("frenchsouth"))
    upload(client, "frenchsouth", "adherents.csv", content)
    record = ImportRecord.objects.get()
    assert record.refused_rows == 1

    text = client.get(record_url(record, "refused", "csv")).content.decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text), delimiter=";"))[1]
    assert row[1] == '\'=HYPERLINK("http://evil.example")'
    assert row[4] == "-50,00"  # a signed number stays as uploaded

    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get(record_url(record, "refused", "xlsx")).content)
    )
    cell = workbook.active["B2"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://evil.example")', "s")
