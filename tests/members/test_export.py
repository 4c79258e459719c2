"""Exporting memberships in the standard format: the clusters' sample files, imported, exported
and re-imported with the standard profile, change nothing; text that spreadsheet software would
run as a formula is escaped in every column and comes back exactly; the export's queries do not
grow with the memberships; the command and the admin action write what their user may see."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from members.imports.export import (
    CHUNK_SIZE,
    SHEET_TITLE,
    export_filename,
    export_memberships,
)
from members.imports.resources import StandardResource
from members.imports.services import import_file_run
from members.models import Contact, ContactRole, Membership, Organisation, Plan, Site, Term
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE
from members.services import staff_user_ensure
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
)
from tests.samples import FILES

pytestmark = pytest.mark.django_db

SAMPLE_FILES = FILES
HEADERS = [field.column_name for field in StandardResource.fields.values()]
DATE_COLUMNS = {"Date d'adhésion", "Début de période", "Fin de période", "Date de règlement"}
AMOUNT_COLUMNS = {"Cotisation"}
FORMATS = ("csv", "xlsx")
TODAY = dt.date(2026, 3, 1)


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


@pytest.fixture(autouse=True)
def _french():
    with translation.override("fr"):
        yield


def read_rows(content: bytes, file_format: str) -> list[list[str]]:
    """The cells of an export, header row first, as text ("" for an empty cell)."""
    if file_format == "csv":
        text = content.decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    sheet = openpyxl.load_workbook(io.BytesIO(content))[SHEET_TITLE]
    return [["" if value is None else value for value in row] for row in sheet.values]


def as_dicts(content: bytes, file_format: str) -> list[dict[str, str]]:
    header, *rows = read_rows(content, file_format)
    assert header == HEADERS
    return [dict(zip(header, row, strict=True)) for row in rows]


def reimport(content: bytes, *, slug: str, file_format: str, tmp_path: Path):
    path = tmp_path / export_filename(cluster=cluster(slug), file_format=file_format)
    path.write_bytes(content)
    _record, report = import_file_run(
        path=path, cluster=cluster(slug), profile="standard", skip_invalid=True
    )
    return report


def stored() -> dict[str, list[tuple]]:
    """Every stored value of the members' data, timestamps aside."""
    tables = {}
    for model in (Organisation, Membership, Term, Contact, Plan, Site):
        names = [
            field.attname
            for field in model._meta.concrete_fields
            if field.name not in ("created_at", "updated_at")
        ]
        tables[model.__name__] = list(model.objects.order_by("pk").values_list(*names))
    return tables


# Round trip of the sample files


@pytest.fixture
def samples_imported():
    for slug, path in SAMPLE_FILES.items():
        _record, report = import_file_run(
            path=path, cluster=cluster(slug), profile=slug, skip_invalid=True
        )
        assert report.written and report.new


@pytest.mark.parametrize("file_format", FORMATS)
def test_exporting_the_samples_and_reimporting_them_changes_nothing(
    samples_imported, tmp_path, file_format
):
    before = stored()
    for slug in SAMPLE_FILES:
        memberships = Membership.objects.filter(cluster=cluster(slug))
        content = export_memberships(memberships, file_format=file_format)
        rows = as_dicts(content, file_format)
        assert {row["Cluster"] for row in rows} == {slug}
        assert {row["N° adhérent"] for row in rows} == set(
            memberships.values_list("member_number", flat=True)
        )

        if file_format == "xlsx":
            typed_cells_check(content, rows=len(rows))

        report = reimport(content, slug=slug, file_format=file_format, tmp_path=tmp_path)

        assert report.refused == []
        assert (report.rows, report.new, report.updated, report.refused_rows) == (
            len(rows),
            0,
            0,
            0,
        )
        assert report.unchanged == len(rows)
        assert report.written
    assert stored() == before


def typed_cells_check(content: bytes, *, rows: int) -> None:
    """The XLSX export's dates are date cells shown dd/mm/yyyy and its amounts numbers shown in
    euros, in every row that has them; every other cell is text."""
    sheet = openpyxl.load_workbook(io.BytesIO(content))[SHEET_TITLE]
    typed = {"d": 0, "n": 0}
    for row in sheet.iter_rows(min_row=2):
        assert len(row) == len(HEADERS)
        for name, cell in zip(HEADERS, row, strict=True):
            if cell.value is None:
                continue
            if name in DATE_COLUMNS:
                assert (cell.data_type, cell.is_date, cell.number_format) == (
                    "d",
                    True,
                    "dd/mm/yyyy",
                ), (name, cell.value)
                assert isinstance(cell.value, dt.datetime) and cell.value.time() == dt.time()
            elif name in AMOUNT_COLUMNS:
                assert (cell.data_type, cell.number_format) == ("n", '#,##0.00 "€"')
                assert isinstance(cell.value, int | float)
            else:
                assert cell.data_type == "s", (name, cell.value)
                continue
            typed[cell.data_type] += 1
    assert typed["d"] >= 2 * rows and typed["n"] == rows, "each row's term is typed"


# Rows, columns and formats


@pytest.fixture
def membership():
    """A DigitalPlace membership with a site, two terms and four contacts."""
    site = Site.objects.get(cluster=cluster("digitalplace"), name="Toulouse")
    membership = MembershipFactory(
        member_number="DP-0042",
        site=site,
        organisation__name="Exemple SAS",
        organisation__postcode="09100",
        organisation__siret="00000000000018",
        organisation__siren="000000000",
    )
    TermFactory(membership=membership, year=2024)
    TermFactory(
        membership=membership,
        year=2025,
        plan=Plan.objects.get(cluster=membership.cluster, name="PME"),
        fee=Decimal("612.50"),
        is_paid=True,
        paid_on=dt.date(2025, 2, 3),
    )
    organisation = membership.organisation
    ContactFactory(organisation=organisation, email="b@exemple.fr", role=ContactRole.MEMBER)
    ContactFactory(organisation=organisation, email="a@exemple.fr", role=ContactRole.MEMBER)
    ContactFactory(organisation=organisation, email="z@exemple.fr", role=ContactRole.BILLING)
    ContactFactory(
        organisation=organisation,
        email="y@exemple.fr",
        role=ContactRole.PRIMARY,
        civility="Mme",
        phone="+33612345678",
        language="en",
    )
    return membership


@time_machine.travel(dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC), tick=False)
def test_one_row_per_contact_primary_first_with_the_latest_term(membership):
    bare = MembershipFactory(member_number="DP-0001")

    rows = as_dicts(export_memberships(Membership.objects.all(), file_format="csv"), "csv")

    assert [(row["N° adhérent"], row["E-mail"]) for row in rows] == [
        ("DP-0001", ""),
        ("DP-0042", "y@exemple.fr"),
        ("DP-0042", "z@exemple.fr"),
        ("DP-0042", "a@exemple.fr"),
        ("DP-0042", "b@exemple.fr"),
    ]
    assert rows[0] == dict.fromkeys(HEADERS, "") | {
        "Cluster": "digitalplace",
        "N° adhérent": "DP-0001",
        "Raison sociale": bare.organisation.name,
        "SIRET": bare.organisation.siret,
        "SIREN": bare.organisation.siren,
        "Code postal": "31000",
        "Ville": "Toulouse",
        "Effectif": "12",
        "Date d'adhésion": "01/01/2020",
        "Statut": "En attente de paiement",
    }
    assert rows[1] == {
        "Cluster": "digitalplace",
        "N° adhérent": "DP-0042",
        "Raison sociale": "Exemple SAS",
        "SIRET": "00000000000018",
        "SIREN": "000000000",
        "Forme juridique": "",
        "Adresse": "",
        "Complément d'adresse": "",
        "Code postal": "09100",
        "Ville": "Toulouse",
        "Effectif": "12",
        "Secteur d'activité": "",
        "Site": "Toulouse",
        "Date d'adhésion": "01/01/2020",
        "Statut": "En période de grâce",
        "Formule": "PME",
        "Début de période": "01/01/2025",
        "Fin de période": "31/12/2025",
        "Cotisation": "612,50",
        "Réglée": "Oui",
        "Date de règlement": "03/02/2025",
        "Civilité": "Mme",
        "Prénom": "Camille",
        "Nom": rows[1]["Nom"],
        "Fonction": "",
        "E-mail": "y@exemple.fr",
        "Téléphone": "'+33612345678",
        "Rôle": "Principal",
        "Langue": "en",
    }
    assert [row["Rôle"] for row in rows[1:]] == [
        "Principal",
        "Facturation",
        "Collaborateur",
        "Collaborateur",
    ]


def test_csv_is_utf8_with_bom_semicolons_and_crlf(membership):
    content = export_memberships(Membership.objects.all(), file_format="csv")

    assert content.startswith("\ufeffCluster;N° adhérent;".encode())
    lines = content.split(b"\r\n")
    assert len(lines) == 1 + 4 + 1 and lines[-1] == b""
    assert b"\n" not in b"".join(lines)


def test_xlsx_sheet_keeps_identifiers_postcodes_and_phones_as_text(membership):
    content = export_memberships(Membership.objects.all(), file_format="xlsx")

    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == [SHEET_TITLE]
    sheet = workbook[SHEET_TITLE]
    header = [cell.value for cell in sheet[1]]
    row = {name: cell for name, cell in zip(header, sheet[2], strict=True)}
    for column, value in {
        "SIRET": "00000000000018",
        "SIREN": "000000000",
        "Code postal": "09100",
        "Téléphone": "'+33612345678",
        "Effectif": "12",
    }.items():
        assert (row[column].value, row[column].data_type) == (value, "s")


def test_xlsx_dates_and_amounts_are_typed_cells_and_csv_stays_text(membership):
    xlsx = openpyxl.load_workbook(
        io.BytesIO(export_memberships(Membership.objects.all(), file_format="xlsx"))
    )[SHEET_TITLE]
    csv_rows = as_dicts(export_memberships(Membership.objects.all(), file_format="csv"), "csv")

    cells = dict(zip(HEADERS, xlsx[2], strict=True))
    assert (cells["Cotisation"].value, cells["Cotisation"].data_type) == (612.5, "n")
    assert cells["Cotisation"].number_format == '#,##0.00 "€"'
    for column, day in {
        "Début de période": dt.datetime(2025, 1, 1),
        "Fin de période": dt.datetime(2025, 12, 31),
        "Date de règlement": dt.datetime(2025, 2, 3),
    }.items():
        assert (cells[column].value, cells[column].is_date) == (day, True)
        assert cells[column].number_format == "dd/mm/yyyy"
    # The four rows (one per contact) sum as numbers.
    fees = [row[HEADERS.index("Cotisation")].value for row in xlsx.iter_rows(min_row=2)]
    assert sum(fees) == 4 * 612.5
    columns = ("Cotisation", "Début de période", "Fin de période", "Date de règlement")
    assert {tuple(row[column] for column in columns) for row in csv_rows} == {
        ("612,50", "01/01/2025", "31/12/2025", "03/02/2025")
    }


def test_filename_names_the_cluster_or_all_and_the_day():
    assert (
        export_filename(cluster=cluster("frenchsouth"), file_format="csv", on=TODAY)
        == "adherents-frenchsouth-2026-03-01.csv"
    )
    assert export_filename(cluster=None, file_format="xlsx", on=TODAY) == (
        "adherents-tous-2026-03-01.xlsx"
    )


# CSV injection

FORMULAS = {
    "organisation": {
        "name": '=HYPERLINK("http://x","y")',
        "legal_form": "-SAS",
        "address_line1": "+33 rue du Calcul",
        "address_line2": "@SUM(A1)",
        "sector": "=1+1",
    },
    "contact": {
        "job_title": "@SUM(1)",
        "first_name": "-Anne",
        "last_name": "+Durand",
        "phone": "+33612345678",
    },
}
#: Values the standard import cannot give back exactly: it trims the text it unescapes.
LEADING_BLANKS = {"city": "\tToulouse", "sector": "\r=cmd|' /C calc'!A0"}


@pytest.fixture
def formulas():
    organisation = OrganisationFactory(**FORMULAS["organisation"])
    ContactFactory(organisation=organisation, email="anne@x.fr", **FORMULAS["contact"])
    membership = MembershipFactory(organisation=organisation, member_number="-7")
    TermFactory(membership=membership)
    return membership


@pytest.mark.parametrize("file_format", FORMATS)
def test_formula_like_text_is_escaped_in_every_column_and_reimports_exactly(
    formulas, tmp_path, file_format
):
    before = stored()
    content = export_memberships(Membership.objects.all(), file_format=file_format)

    [row] = as_dicts(content, file_format)
    escaped = {
        "N° adhérent": "'-7",
        "Raison sociale": '\'=HYPERLINK("http://x","y")',
        "Forme juridique": "'-SAS",
        "Adresse": "'+33 rue du Calcul",
        "Complément d'adresse": "'@SUM(A1)",
        "Secteur d'activité": "'=1+1",
        "Fonction": "'@SUM(1)",
        "Prénom": "'-Anne",
        "Nom": "'+Durand",
        "Téléphone": "'+33612345678",
    }
    assert {column: row[column] for column in escaped} == escaped
    if file_format == "xlsx":
        sheet = openpyxl.load_workbook(io.BytesIO(content))[SHEET_TITLE]
        cells = dict(zip(HEADERS, sheet[2], strict=True))
        # Never a formula ("f"): text, and the typed dates and amounts.
        assert {
            name: cell.data_type
            for name, cell in cells.items()
            if cell.value is not None and cell.data_type != "s"
        } == dict.fromkeys(DATE_COLUMNS - {"Date de règlement"}, "d") | {"Cotisation": "n"}

    report = reimport(content, slug="digitalplace", file_format=file_format, tmp_path=tmp_path)

    assert (report.new, report.updated, report.unchanged, report.refused) == (0, 0, 1, [])
    assert stored() == before


@pytest.mark.parametrize("file_format", FORMATS)
def test_text_starting_with_a_tab_or_carriage_return_is_escaped(formulas, file_format):
    Organisation.objects.filter(pk=formulas.organisation_id).update(**LEADING_BLANKS)

    [row] = as_dicts(
        export_memberships(Membership.objects.all(), file_format=file_format), file_format
    )

    # XML turns a carriage return into a line feed: an XLSX file cannot hold one.
    blank = "\r" if file_format == "csv" else "\n"
    assert (row["Ville"], row["Secteur d'activité"]) == (
        "'\tToulouse",
        f"'{blank}=cmd|' /C calc'!A0",
    )


def test_text_starting_with_a_tab_reimports_exactly(formulas, tmp_path):
    Organisation.objects.filter(pk=formulas.organisation_id).update(**LEADING_BLANKS)
    before = stored()
    content = export_memberships(Membership.objects.all(), file_format="csv")

    report = reimport(content, slug="digitalplace", file_format="csv", tmp_path=tmp_path)

    assert (report.updated, report.refused) == (0, [])
    assert stored() == before


def test_email_starting_with_a_dash_reimports_exactly(formulas, tmp_path):
    Contact.objects.filter(email="anne@x.fr").update(email="-anne@x.fr")
    before = stored()
    content = export_memberships(Membership.objects.all(), file_format="csv")
    assert as_dicts(content, "csv")[0]["E-mail"] == "'-anne@x.fr"

    report = reimport(content, slug="digitalplace", file_format="csv", tmp_path=tmp_path)

    assert (report.new, report.updated, report.refused) == (0, 0, [])
    assert stored() == before


def test_control_characters_an_xlsx_cannot_hold_are_dropped(formulas):
    Organisation.objects.filter(pk=formulas.organisation_id).update(name="Ex\x0bemple\x01")

    for file_format in FORMATS:
        content = export_memberships(Membership.objects.all(), file_format=file_format)
        assert as_dicts(content, file_format)[0]["Raison sociale"] == "Exemple"


# Queries


def memberships_with_contacts_and_terms(count: int) -> None:
    site = Site.objects.get(cluster=cluster("digitalplace"))
    for _ in range(count):
        membership = TermFactory(membership__site=site, year=2024).membership
        TermFactory(membership=membership, year=2025)
        ContactFactory.create_batch(2, organisation=membership.organisation)


def export_queries(file_format: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        export_memberships(Membership.objects.all(), file_format=file_format)
    return len(queries)


@pytest.mark.parametrize("file_format", FORMATS)
def test_queries_do_not_grow_with_the_memberships(django_assert_max_num_queries, file_format):
    memberships_with_contacts_and_terms(5)
    few = export_queries(file_format)
    memberships_with_contacts_and_terms(45)
    assert CHUNK_SIZE >= 50

    # The memberships with cluster, organisation, site and status; their contacts; their terms.
    with django_assert_max_num_queries(3):
        content = export_memberships(Membership.objects.all(), file_format=file_format)
    assert export_queries(file_format) == few
    assert len(read_rows(content, file_format)) == 1 + 50 * 2


# The command


def run(*args) -> tuple[int, str, str]:
    """``export_members`` in this process: (exit status, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("export_members", *args, stdout=stdout, stderr=stderr)
    except CommandError as exc:
        return exc.returncode, str(exc), stderr.getvalue()
    return 0, stdout.getvalue(), stderr.getvalue()


def test_command_writes_one_cluster_as_csv_to_stdout(membership):
    TermFactory(membership__cluster=cluster("frenchsouth"))

    status, out, err = run("--cluster", "digitalplace", "--output", "-")

    assert status == 0
    rows = as_dicts(out.encode(), "csv")
    assert [row["E-mail"] for row in rows] == [
        "y@exemple.fr",
        "z@exemple.fr",
        "a@exemple.fr",
        "b@exemple.fr",
    ]
    assert "\r\n" in out
    assert err == "4 lignes exportées dans la sortie standard.\n"


@time_machine.travel(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), tick=False)
def test_command_writes_every_cluster_as_xlsx_in_the_current_directory(
    membership, tmp_path, monkeypatch
):
    TermFactory(membership__cluster=cluster("frenchsouth"))
    monkeypatch.chdir(tmp_path)

    status, out, err = run()

    path = tmp_path / "adherents-tous-2026-03-01.xlsx"
    assert (status, out, err) == (0, f"5 lignes exportées dans {path}.\n", "")
    rows = as_dicts(path.read_bytes(), "xlsx")
    assert [row["Cluster"] for row in rows] == ["digitalplace"] * 4 + ["frenchsouth"]


def test_command_writes_csv_to_the_file_asked(membership, tmp_path):
    path = tmp_path / "export.csv"

    status, out, _err = run("--format", "csv", "--output", str(path), "--cluster", "digitalplace")

    assert (status, out) == (0, f"4 lignes exportées dans {path}.\n")
    assert path.read_bytes() == export_memberships(Membership.objects.all(), file_format="csv")


def test_command_refuses_an_unknown_cluster_and_xlsx_on_stdout():
    status, message, _err = run("--cluster", "nowhere")
    assert status == 2
    assert message == (
        "Cluster inconnu « nowhere » (clusters : digitalplace, frenchsouth, grand-cluster)."
    )

    status, message, _err = run("--format", "xlsx", "--output", "-")
    assert status == 2
    assert "--format csv" in message


# The admin action


@pytest.fixture
def two_clusters(membership):
    return {
        "dp": membership,
        "fs": TermFactory(membership__cluster=cluster("frenchsouth")).membership,
    }


def post_action(client, action: str, *memberships: Membership):
    return client.post(
        reverse("admin:members_membership_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [m.pk for m in memberships]},
    )


@pytest.mark.parametrize("file_format", FORMATS)
def test_staff_download_only_their_cluster_memberships(client, two_clusters, file_format):
    user, _created = staff_user_ensure(
        email="staff@digitalplace.example",
        password="motdepasse-de-test",
        roles=[MEMBERSHIP_STAFF],
        clusters=[cluster("digitalplace")],
    )
    client.force_login(user)

    response = post_action(
        client, f"export_standard_{file_format}", two_clusters["dp"], two_clusters["fs"]
    )

    assert response.status_code == 200
    filename = export_filename(cluster=cluster("digitalplace"), file_format=file_format)
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    rows = as_dicts(response.content, file_format)
    assert {row["N° adhérent"] for row in rows} == {"DP-0042"}
    assert len(rows) == 4


def test_staff_posting_only_another_clusters_ids_download_an_empty_export(client, two_clusters):
    user, _created = staff_user_ensure(
        email="staff@digitalplace.example",
        password="motdepasse-de-test",
        roles=[MEMBERSHIP_STAFF],
        clusters=[cluster("digitalplace")],
    )
    client.force_login(user)

    response = post_action(client, "export_standard_csv", two_clusters["fs"])

    assert response.status_code == 200
    assert as_dicts(response.content, "csv") == []


def test_committee_may_export_with_its_view_permission_only(client, two_clusters):
    user, _created = staff_user_ensure(
        email="comite@example.org", password="motdepasse-de-test", roles=[MERGER_COMMITTEE]
    )
    client.force_login(user)

    changelist = client.get(reverse("admin:members_membership_changelist"))
    actions = dict(changelist.context["action_form"].fields["action"].choices)
    response = post_action(client, "export_standard_xlsx", *two_clusters.values())

    assert "export_standard_xlsx" in actions and "delete_selected" not in actions
    assert response.status_code == 200
    assert "adherents-tous-" in response["Content-Disposition"]
    rows = as_dicts(response.content, "xlsx")
    assert sorted({row["Cluster"] for row in rows}) == ["digitalplace", "frenchsouth"]
