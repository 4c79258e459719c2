"""Importing the clusters' spreadsheets: the sample files give exactly the figures of
``expected.json``, through the command line's contract; re-imports change nothing; dry runs write
nothing; refused rows stop the import unless told to skip them; unusable files are refused up
front."""

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from members.imports.resources import PROFILES
from members.imports.services import (
    import_record_analyse,
    import_record_cancel,
    import_record_confirm,
    import_record_create,
)
from members.models import Contact, ImportRecord, Membership, Organisation, Term
from members.texts import text_render
from tests.factories import MembershipFactory, OrganisationFactory, cluster, make_siret
from tests.samples import EXPECTED, FILES

pytestmark = pytest.mark.django_db

#: The attributes whose column a refusal of each kind of expected.json must name.
KIND_ATTRIBUTES = {
    "fee_text": {"fee"},
    "fee_negative": {"fee"},
    "name_missing": {"name"},
    "date": {"member_since", "end_date", "paid_on", "start_date"},
    "email": {"contact1_email", "contact2_email"},
    "siret_checksum": {"siret"},
    "siret_length": {"siret"},
}


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


def run(*args) -> tuple[int, str]:
    """``import_members`` in this process: (exit status, stdout)."""
    from io import StringIO

    stdout = StringIO()
    try:
        call_command("import_members", *[str(arg) for arg in args], stdout=stdout)
    except CommandError as exc:
        return exc.returncode, stdout.getvalue()
    return 0, stdout.getvalue()


def run_json(*args) -> tuple[int, dict]:
    status, out = run(*args, "--json")
    return status, json.loads(out)


def counts() -> tuple[int, int, int, int]:
    return (
        Organisation.objects.count(),
        Membership.objects.count(),
        Contact.objects.count(),
        Term.objects.count(),
    )


def test_another_clusters_format_is_refused_from_the_command_line_as_in_the_admin():
    # DigitalPlace's file carries DigitalPlace's plans and sites: imported into FrenchSouth, its
    # rows would take plans of the wrong cluster. The admin refused it; the command too now.
    before = counts()
    with pytest.raises(CommandError) as refused:
        call_command(
            "import_members",
            "--cluster=frenchsouth",
            "--profile=digitalplace",
            str(FILES["digitalplace"]),
        )

    assert refused.value.returncode == 2
    assert "pas de FrenchSouth" in str(refused.value)
    assert counts() == before
    assert not ImportRecord.objects.exists()


@pytest.mark.parametrize("profile", FILES)
def test_sample_file_refuses_exactly_the_expected_rows_and_writes_nothing(profile):
    expected = EXPECTED[profile]
    status, report = run_json("--cluster", profile, "--profile", profile, FILES[profile])

    assert status == 1
    assert set(report) == {"rows", "new", "updated", "unchanged", "refused", "dry_run", "written"}
    assert report["rows"] == expected["data_rows"]
    assert sorted({refusal["row"] for refusal in report["refused"]}) == [
        error["row"] for error in expected["errors"]
    ]
    headers = PROFILES[profile].fields
    for error in expected["errors"]:
        (refusal,) = [r for r in report["refused"] if r["row"] == error["row"]]
        accepted = {
            headers[attribute].column_name
            for attribute in KIND_ATTRIBUTES[error["kind"]]
            if attribute in headers
        }
        # The column is named as the file writes it ("Cotisation 2017" for "Cotisation").
        assert any(refusal["column"].startswith(header) for header in accepted), refusal
        assert refusal["message"]
    assert (
        report["new"] + report["updated"] + report["unchanged"] + len(expected["errors"])
        == (expected["data_rows"])
    )
    assert report["written"] is False and report["dry_run"] is False
    assert counts() == (0, 0, 0, 0)
    assert ImportRecord.objects.get().status == ImportRecord.Status.REFUSED


@pytest.mark.parametrize("profile", FILES)
def test_sample_file_with_skip_invalid_yields_the_expected_records(profile):
    expected = EXPECTED[profile]
    status, report = run_json(
        "--cluster", profile, "--profile", profile, "--skip-invalid", FILES[profile]
    )

    assert status == 0
    assert report["written"] is True
    assert report["new"] == expected["data_rows"] - len(expected["errors"])
    assert Organisation.objects.count() == expected["organisations"]
    assert Contact.objects.count() == expected["contacts"]
    assert Membership.objects.count() == expected["organisations"]
    record = ImportRecord.objects.get()
    assert (record.status, record.rows, record.new, record.refused_rows) == (
        ImportRecord.Status.IMPORTED,
        expected["data_rows"],
        report["new"],
        len(expected["errors"]),
    )
    # The record keeps each refusal as a code and its values, read in the reader's language.
    stored = record.refused
    assert [{**r, "message": text_render(r["message"])} for r in stored] == report["refused"]


def test_both_files_give_one_organisation_per_siret_across_clusters():
    for profile, path in FILES.items():
        assert run("--cluster", profile, "--profile", profile, "--skip-invalid", path)[0] == 0

    assert Organisation.objects.count() == EXPECTED["organisations_after_both"]
    assert Membership.objects.count() == EXPECTED["memberships_after_both"]
    assert Contact.objects.count() == EXPECTED["contacts_after_both"]
    both = Organisation.objects.annotate(n=Count("memberships")).filter(n=2)
    assert both.count() == EXPECTED["members_of_both_same_siret"]
    assert all(organisation.siret for organisation in both)
    # The records the merger's duplicate review must see stay apart, never merged silently.
    for pair in EXPECTED["duplicate_pairs"]:
        assert Organisation.objects.filter(name__in=pair["names"]).count() == 2


def test_reimports_in_any_order_change_nothing():
    for profile, path in [*FILES.items(), *FILES.items()]:
        run("--cluster", profile, "--profile", profile, "--skip-invalid", path)
    before = counts()

    for profile, path in [*reversed(FILES.items())]:
        status, report = run_json(
            "--cluster", profile, "--profile", profile, "--skip-invalid", path
        )
        expected = EXPECTED[profile]
        assert status == 0
        assert (report["new"], report["updated"]) == (0, 0)
        assert report["unchanged"] == expected["data_rows"] - len(expected["errors"])
    assert counts() == before


def test_a_dry_run_writes_nothing_and_reports_what_the_import_does():
    path = FILES["digitalplace"]
    status, dry = run_json(
        "--cluster",
        "digitalplace",
        "--profile",
        "digitalplace",
        "--dry-run",
        "--skip-invalid",
        path,
    )
    # Refused rows make a dry run's status 1, even with --skip-invalid: 0 promises a clean file.
    assert status == 1
    assert dry["dry_run"] is True and dry["written"] is False
    assert counts() == (0, 0, 0, 0)

    status, real = run_json(
        "--cluster", "digitalplace", "--profile", "digitalplace", "--skip-invalid", path
    )
    assert {k: v for k, v in real.items() if k not in ("dry_run", "written")} == {
        k: v for k, v in dry.items() if k not in ("dry_run", "written")
    }
    # Without --skip-invalid, a dry run that finds refused rows says so by its status.
    status, dry = run_json(
        "--cluster", "digitalplace", "--profile", "digitalplace", "--dry-run", path
    )
    assert status == 1 and dry["written"] is False


def test_rows_are_cleaned_as_the_samples_readme_says():
    run(
        "--cluster",
        "digitalplace",
        "--profile",
        "digitalplace",
        "--skip-invalid",
        FILES["digitalplace"],
    )
    run(
        "--cluster",
        "frenchsouth",
        "--profile",
        "frenchsouth",
        "--skip-invalid",
        FILES["frenchsouth"],
    )

    for organisation in Organisation.objects.all():
        assert organisation.siret == "" or (
            len(organisation.siret) == 14 and organisation.siret.isdigit()
        )
        assert organisation.siren == organisation.siret[:9] or not organisation.siret
        assert len(organisation.postcode) == 5 and organisation.postcode.isdigit()
    for contact in Contact.objects.all():
        assert contact.email == contact.email.strip().lower()
        assert contact.phone.startswith("+33"), contact.phone
        assert not contact.last_name.isupper() or len(contact.last_name) < 2
    # Each organisation has exactly one primary contact.
    assert (
        not Organisation.objects.annotate(
            n=Count("contacts", filter=Contact.objects.filter(role="primary").query.where)
        )
        .exclude(contacts__role="primary")
        .exists()
    )
    for term in Term.objects.select_related("plan", "membership__cluster"):
        assert term.plan.cluster_id == term.membership.cluster_id
        assert (term.end_date - term.start_date).days in (364, 365)
        assert term.fee >= 0
        assert not term.paid_on or term.is_paid
    # A postcode Excel stored as a number lost its leading zero; the import puts it back.
    assert Organisation.objects.filter(postcode__startswith="0").exists()
    # French amounts with narrow no-break spaces: ETI / Grand compte at 2 500 €.
    assert Term.objects.filter(plan__name="ETI / Grand compte", fee=Decimal("2500.00")).exists()
    # FrenchSouth's « antenne » is the membership's site.
    assert not Membership.objects.filter(cluster__slug="frenchsouth", site=None).exists()


def test_unusable_input_exits_2_with_the_reason_and_writes_nothing(tmp_path, capsys):
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    not_a_zip = tmp_path / "faux.xlsx"
    not_a_zip.write_text("N° adhérent;Raison sociale\n", encoding="utf-8")
    cases = [
        ("--cluster", "nowhere", "--profile", "digitalplace", FILES["digitalplace"]),
        ("--cluster", "digitalplace", "--profile", "nope", FILES["digitalplace"]),
        ("--cluster", "digitalplace", "--profile", "digitalplace", tmp_path / "absent.xlsx"),
        ("--cluster", "digitalplace", "--profile", "digitalplace", empty),
        ("--cluster", "digitalplace", "--profile", "digitalplace", not_a_zip),
        # The other cluster's file.
        ("--cluster", "digitalplace", "--profile", "digitalplace", FILES["frenchsouth"]),
        ("--cluster", "frenchsouth", "--profile", "frenchsouth", FILES["digitalplace"]),
    ]
    for args in cases:
        with pytest.raises(CommandError) as raised:
            call_command("import_members", *map(str, args), "--json")
        assert raised.value.returncode == 2, args
        assert str(raised.value)
    assert capsys.readouterr().out == ""
    assert counts() == (0, 0, 0, 0)


def test_the_other_profiles_file_is_named(tmp_path):
    with pytest.raises(CommandError, match="ressemble au profil « frenchsouth »"):
        call_command(
            "import_members",
            "--cluster=digitalplace",
            "--profile=digitalplace",
            FILES["frenchsouth"],
        )


def _digitalplace_workbook(path: Path, rows: list[list], *, drop: str | None = None) -> Path:
    """A workbook in DigitalPlace's format, from the sample's headers, with ``rows`` below."""
    sample = openpyxl.load_workbook(FILES["digitalplace"], read_only=True)
    header = [
        cell for cell in next(sample.active.iter_rows(min_row=3, max_row=3, values_only=True))
    ]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Adhérents"
    sheet.append(["Export des adhérents"])
    sheet.append([])
    columns = [h for h in header if h != drop]
    sheet.append(columns)
    for row in rows:
        values = dict(zip(header, row, strict=True))
        sheet.append([values[h] for h in columns])
    for cells in sheet.iter_rows():
        for cell in cells:
            if cell.data_type == "f":  # Text that looks like a formula, as a text cell.
                cell.data_type = "s"
    book.save(path)
    return path


def _row(number: str, name: str, siret: str, email: str, **changes) -> list:
    values = {
        "N° adhérent": number,
        "Raison sociale": name,
        "SIRET": siret,
        "Forme juridique": "SAS",
        "Adresse": "1 rue du Test",
        "Code postal": "31000",
        "Ville": "Toulouse",
        "Effectif": 12,
        "Secteur d'activité": "Logiciel",
        "Date d'adhésion": dt.date(2015, 3, 1),
        "Formule": "PME",
        "Cotisation 2017": 600,
        "Réglée": "Oui",
        "Date de règlement": dt.date(2017, 2, 1),
        "Fin d'adhésion": dt.date(2017, 12, 31),
        "Civilité": "Mme",
        "Prénom": "Claire",
        "Nom": "Martin",
        "Fonction": "Gérante",
        "E-mail": email,
        "Téléphone": "05 61 00 00 00",
    }
    values.update(changes)
    return list(values.values())


def test_a_missing_required_column_is_refused_up_front_with_its_name(tmp_path):
    path = _digitalplace_workbook(
        tmp_path / "sans-formule.xlsx",
        [_row("DP-1", "Alpha", make_siret(1), "a@alpha.fr")],
        drop="Formule",
    )
    with pytest.raises(CommandError, match="Formule") as raised:
        call_command("import_members", "--cluster=digitalplace", "--profile=digitalplace", path)
    assert raised.value.returncode == 2
    assert counts() == (0, 0, 0, 0)


def test_a_formula_looking_cell_is_refused(tmp_path):
    path = _digitalplace_workbook(
        tmp_path / "formule.xlsx",
        [
            _row("DP-1", "Alpha", make_siret(1), "a@alpha.fr"),
            _row("DP-2", '=HYPERLINK("http://evil.example","Beta")', make_siret(2), "b@beta.fr"),
            _row("DP-3", "Gamma", make_siret(3), "c@gamma.fr", Fonction="@SUM(A1:A9)"),
        ],
    )
    status, report = run_json("--cluster", "digitalplace", "--profile", "digitalplace", path)
    assert status == 1
    assert [(r["row"], r["column"]) for r in report["refused"]] == [
        (5, "Raison sociale"),
        (6, "Fonction"),
    ]
    assert "formule" in report["refused"][0]["message"]
    assert counts() == (0, 0, 0, 0)


def test_a_siret_already_member_of_the_other_cluster_gets_a_second_membership(tmp_path):
    organisation = OrganisationFactory(name="Ancienne Raison", siret=make_siret(42))
    MembershipFactory(organisation=organisation, cluster=cluster("frenchsouth"), member_number="77")
    path = _digitalplace_workbook(
        tmp_path / "dp.xlsx", [_row("DP-9", "Nouvelle Raison", organisation.siret, "x@y.fr")]
    )

    status, report = run_json("--cluster", "digitalplace", "--profile", "digitalplace", path)

    assert (status, report["new"]) == (0, 1)
    assert Organisation.objects.count() == 1
    organisation.refresh_from_db()
    assert sorted(organisation.memberships.values_list("cluster__slug", flat=True)) == [
        "digitalplace",
        "frenchsouth",
    ]
    assert organisation.name == "Nouvelle Raison"


def test_a_siret_already_used_by_another_member_number_is_refused(tmp_path):
    siret = make_siret(7)
    path = _digitalplace_workbook(
        tmp_path / "dp.xlsx",
        [
            _row("DP-1", "Alpha", siret, "a@alpha.fr"),
            _row("DP-2", "Alpha bis", siret, "b@alpha.fr"),
        ],
    )
    status, report = run_json("--cluster", "digitalplace", "--profile", "digitalplace", path)
    assert status == 1
    assert [(r["row"], r["column"]) for r in report["refused"]] == [(5, "SIRET")]
    assert "DP-1" in report["refused"][0]["message"]


def test_blank_cells_never_erase_and_a_paid_term_stays_paid(tmp_path):
    first = _digitalplace_workbook(
        tmp_path / "1.xlsx", [_row("DP-1", "Alpha", make_siret(1), "a@alpha.fr")]
    )
    run("--cluster", "digitalplace", "--profile", "digitalplace", first)
    second = _digitalplace_workbook(
        tmp_path / "2.xlsx",
        [
            _row(
                "DP-1",
                "Alpha",
                make_siret(1),
                "a@alpha.fr",
                Adresse=None,
                Ville="Blagnac",
                **{"Réglée": "Non", "Date de règlement": None},
            )
        ],
    )
    status, report = run_json("--cluster", "digitalplace", "--profile", "digitalplace", second)

    assert (status, report["updated"]) == (0, 1)
    organisation = Organisation.objects.get()
    assert (organisation.address_line1, organisation.city) == ("1 rue du Test", "Blagnac")
    term = Term.objects.get()
    assert term.is_paid and term.paid_on == dt.date(2017, 2, 1)


def test_an_overlapping_term_is_refused_with_both_periods(tmp_path):
    run(
        "--cluster",
        "digitalplace",
        "--profile",
        "digitalplace",
        _digitalplace_workbook(tmp_path / "1.xlsx", [_row("DP-1", "A", make_siret(1), "a@a.fr")]),
    )
    shifted = _digitalplace_workbook(
        tmp_path / "2.xlsx",
        [_row("DP-1", "A", make_siret(1), "a@a.fr", **{"Fin d'adhésion": dt.date(2018, 6, 30)})],
    )
    status, report = run_json("--cluster", "digitalplace", "--profile", "digitalplace", shifted)
    assert status == 1
    (refusal,) = report["refused"]
    assert refusal["column"] == "Fin d'adhésion"
    assert "01/07/2017" in refusal["message"] and "31/12/2017" in refusal["message"]


def test_every_import_is_recorded_with_its_file_kept(tmp_path):
    path = tmp_path / "copie.csv"
    shutil.copy(FILES["frenchsouth"], path)
    run("--cluster", "frenchsouth", "--profile", "frenchsouth", "--dry-run", path)
    record = ImportRecord.objects.get()
    assert record.file_name == "copie.csv"
    assert record.source == ImportRecord.Source.COMMAND
    assert record.dry_run and record.status == ImportRecord.Status.SIMULATED
    import hashlib

    assert record.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with record.file.open("rb") as kept:
        assert kept.read() == path.read_bytes()
    assert record.rows == EXPECTED["frenchsouth"]["data_rows"]


def test_a_dry_run_of_a_clean_file_exits_0(tmp_path):
    path = _digitalplace_workbook(
        tmp_path / "propre.xlsx", [_row("DP-1", "Alpha", make_siret(1), "a@alpha.fr")]
    )
    status, report = run_json(
        "--cluster", "digitalplace", "--profile", "digitalplace", "--dry-run", path
    )
    assert (status, report["new"], report["written"], report["dry_run"]) == (0, 1, False, True)
    assert counts() == (0, 0, 0, 0)


def test_the_import_workflow_runs_from_its_services_without_the_admin():
    def analysed() -> ImportRecord:
        record = import_record_create(
            cluster=cluster("digitalplace"),
            profile="digitalplace",
            file=FILES["digitalplace"],
            file_name=FILES["digitalplace"].name,
            source=ImportRecord.Source.COMMAND,
        )
        report = import_record_analyse(record=record)
        assert report.dry_run and record.status == ImportRecord.Status.ANALYSED
        return record

    record = analysed()
    assert Organisation.objects.count() == 0
    # Refused rows stop the import unless the valid rows are asked for.
    with pytest.raises(ValidationError) as refused:
        import_record_confirm(record=record)
    assert refused.value.code == "refused_rows" and Organisation.objects.count() == 0

    report = import_record_confirm(record=record, skip_invalid=True)

    record.refresh_from_db()
    assert report.written and record.status == ImportRecord.Status.IMPORTED
    assert Organisation.objects.count() == EXPECTED["digitalplace"]["organisations"]
    # Confirmed once: a second confirmation, or a cancellation, changes nothing.
    with pytest.raises(ValidationError) as again:
        import_record_confirm(record=record, skip_invalid=True)
    assert again.value.code == "not_analysed"
    assert import_record_cancel(record=record) is False

    other = analysed()
    assert import_record_cancel(record=other) is True
    other.refresh_from_db()
    assert other.status == ImportRecord.Status.CANCELLED
