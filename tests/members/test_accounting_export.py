"""The accounting export: a cluster's FEC for a period, built from a year of invoices, credit
notes, payments and refunds made by the billing services; the same lines as CSV and XLSX; the
``accounting_export`` command; the admin's page, for the cluster's staff only."""

import csv
import datetime as dt
import io
from collections import defaultdict
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from members.accounting import FEC_COLUMNS, accounting_export
from members.models import AccountingSettings, Cluster, Payment, Refund, RefundState
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from tests.factories import TermFactory, staff_user
from tests.members.billing_helpers import legal_details, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date
YEAR_START, YEAR_END = D(2025, 1, 1), D(2025, 12, 31)
EXPORT_URL = "admin:members_invoice_accounting_export"


def _invoice(on: dt.date, fee: str, *, slug="digitalplace", year=2025, **membership):
    return invoice_issue(term=unpaid_term(slug, year=year, fee=fee, **membership), on=on)


def _pay(invoice, amount: str, on: dt.date, method="transfer", **kwargs):
    return invoice_payment_record(
        invoice=invoice, amount=Decimal(amount), received_on=on, method=method, **kwargs
    )


def _refund(invoice, amount: str, on: dt.date, method="transfer", **kwargs):
    return Refund.objects.create(
        invoice=invoice,
        amount=Decimal(amount),
        refunded_on=on,
        method=method,
        reason="Trop-perçu",
        **kwargs,
    )


@pytest.fixture
def year_of_activity():
    """DigitalPlace's 2025: invoices paid by transfer, card and cheque, in parts, late or not
    at all; a full and a partial credit note; refunds by transfer and card (one pending); a
    carry-over from one invoice to another of the same member; an invoice of 0 €; an invoice
    of December 2024 paid in January. FrenchSouth.digital's invoice and payment of 2025 too."""
    legal_details("digitalplace")
    legal_details("frenchsouth")
    acme = _invoice(D(2025, 1, 15), "300.00", organisation__name="ACME", member_number="DP-0001")
    _pay(acme, "300.00", D(2025, 2, 1), reference="VIR ACME")
    ondine = _invoice(
        D(2025, 1, 15), "1200.00", organisation__name="Ondine\tVision", member_number="DP-0002"
    )
    _pay(ondine, "1200.00", D(2025, 1, 20), method="card", provider_reference="cs_test_ondine")
    _refund(ondine, "200.00", D(2025, 3, 1), method="card", provider_reference="re_ondine")
    _refund(ondine, "50.00", D(2025, 3, 2), method="card", state=RefundState.PENDING)
    bleu = _invoice(D(2025, 2, 3), "612.50", organisation__name="=Bleu", member_number="DP-0003")
    _pay(bleu, "300.00", D(2025, 3, 10), method="cheque", reference="Chèque 1234567")
    _pay(bleu, "312.50", D(2025, 4, 10))
    cancelled = _invoice(D(2025, 2, 3), "450.00", member_number="DP-0004")
    credit_note_issue(invoice=cancelled, reason="Adhésion annulée", on=D(2025, 3, 1))
    reduced = _invoice(D(2025, 5, 2), "900.00", member_number="DP-0005")
    _pay(reduced, "900.00", D(2025, 5, 20))
    credit_note_issue(
        invoice=reduced, reason="Formule corrigée", amount=Decimal("300.00"), on=D(2025, 6, 1)
    )
    _refund(reduced, "300.00", D(2025, 6, 15), reference="VIR REMB 5")
    # What a member over-paid on one invoice is carried over to its next one.
    first = _invoice(D(2025, 3, 1), "100.00", member_number="DP-0007")
    _pay(first, "250.00", D(2025, 3, 5))
    next_term = TermFactory(
        membership=first.term.membership,
        plan=first.term.plan,
        year=2026,
        fee=Decimal("150.00"),
        is_paid=False,
    )
    second = invoice_issue(term=next_term, on=D(2025, 11, 2))
    _refund(first, "150.00", D(2025, 11, 3), method="carryover")
    Payment.objects.create(
        invoice=second, amount=Decimal("150.00"), received_on=D(2025, 11, 3), method="carryover"
    )
    _invoice(D(2025, 7, 1), "0.00", member_number="DP-0008")
    _invoice(D(2025, 9, 1), "300.00", member_number="DP-0009")  # never paid
    late = _invoice(D(2024, 12, 20), "300.00", year=2024, member_number="DP-0010")
    _pay(late, "300.00", D(2025, 1, 5))
    # After the period.
    _pay(_invoice(D(2025, 12, 20), "300.00", member_number="DP-0011"), "300.00", D(2026, 1, 4))
    elsewhere = _invoice(D(2025, 4, 1), "777.77", slug="frenchsouth", member_number="FS-0001")
    _pay(elsewhere, "777.77", D(2025, 4, 2))
    return Cluster.objects.get(slug="digitalplace")


def _export(cluster, file_format="fec", start=YEAR_START, end=YEAR_END) -> bytes:
    file = io.BytesIO()
    accounting_export(cluster=cluster, start=start, end=end, file_format=file_format, file=file)
    return file.getvalue()


def _fec_rows(content: bytes) -> list[dict]:
    lines = content.decode("utf-8").split("\r\n")
    assert lines[-1] == ""
    header, *rows = (line.split("\t") for line in lines[:-1])
    assert tuple(header) == FEC_COLUMNS
    assert all(len(row) == 18 for row in rows)
    return [dict(zip(FEC_COLUMNS, row, strict=True)) for row in rows]


def _amount(text: str) -> Decimal:
    assert text.count(",") == 1 and "." not in text and " " not in text, text
    return Decimal(text.replace(",", "."))


def test_the_fec_of_a_year_is_balanced_gapless_and_dated(postgresql, year_of_activity):
    rows = _fec_rows(_export(year_of_activity))

    entries = defaultdict(list)
    for row in rows:
        entries[int(row["EcritureNum"])].append(row)
    # Numbered from 1 without gap, each entry's lines together, in the order of their dates.
    assert sorted(entries) == list(range(1, len(entries) + 1))
    assert [int(row["EcritureNum"]) for row in rows] == sorted(int(r["EcritureNum"]) for r in rows)
    dates = [entries[number][0]["EcritureDate"] for number in sorted(entries)]
    assert dates == sorted(dates)
    for number, lines in entries.items():
        debit = sum(_amount(line["Debit"]) for line in lines)
        credit = sum(_amount(line["Credit"]) for line in lines)
        assert debit == credit > 0, number
        assert len({line["EcritureDate"] for line in lines}) == 1
        assert len({line["JournalCode"] for line in lines}) == 1
    assert sum(_amount(r["Debit"]) for r in rows) == sum(_amount(r["Credit"]) for r in rows)
    for row in rows:
        for name in ("EcritureDate", "PieceDate", "ValidDate"):
            assert dt.datetime.strptime(row[name], "%Y%m%d").year == 2025
        assert row["EcritureDate"] == row["PieceDate"] == row["ValidDate"]
        assert row["EcritureLet"] == row["DateLet"] == row["Montantdevise"] == ""
        assert row["Idevise"] == ""

    # One entry per document of the period: 9 invoices (not the one of 0 €, nor December 2024's
    # or 2025's of another cluster), 2 credit notes, 8 payments, 3 succeeded refunds.
    by_journal = defaultdict(set)
    for row in rows:
        by_journal[row["JournalCode"]].add(row["EcritureNum"])
    assert {code: len(numbers) for code, numbers in by_journal.items()} == {
        "VE": 11,  # 9 invoices, 2 credit notes
        "BQ": 7,  # 6 payments by transfer or cheque, 1 refund by transfer
        "CB": 2,  # the card payment, its refund
        "OD": 2,  # the carry-over's refund and payment
    }
    refs = {row["PieceRef"] for row in rows}
    assert not any(ref.startswith("FS-") for ref in refs)
    assert not any("777,77" in (row["Debit"], row["Credit"]) for row in rows)
    assert "DP-2025-00001 VIR ACME" in refs
    assert "DP-2025-00002 cs_test_ondine" in refs
    assert "DP-2024-00001" in refs  # December's invoice paid in January: the payment only


def test_each_document_is_written_in_its_accounts(postgresql, year_of_activity):
    rows = _fec_rows(_export(year_of_activity))

    def entry_of(piece_ref: str) -> list[tuple]:
        numbers = {r["EcritureNum"] for r in rows if r["PieceRef"] == piece_ref}
        assert len(numbers) == 1, piece_ref
        return [
            (r["JournalCode"], r["CompteNum"], r["CompAuxNum"], r["Debit"], r["Credit"])
            for r in rows
            if r["EcritureNum"] in numbers
        ]

    assert entry_of("DP-2025-00001") == [
        ("VE", "411000", "DP-0001", "300,00", "0,00"),
        ("VE", "756000", "", "0,00", "300,00"),
    ]
    assert entry_of("DP-2025-00001 VIR ACME") == [
        ("BQ", "512000", "", "300,00", "0,00"),
        ("BQ", "411000", "DP-0001", "0,00", "300,00"),
    ]
    assert entry_of("DP-2025-00002 cs_test_ondine") == [
        ("CB", "467100", "", "1200,00", "0,00"),
        ("CB", "411000", "DP-0002", "0,00", "1200,00"),
    ]
    assert entry_of("DP-2025-00002 re_ondine") == [
        ("CB", "411000", "DP-0002", "200,00", "0,00"),
        ("CB", "467100", "", "0,00", "200,00"),
    ]
    assert entry_of("DP-2025-00003 Chèque 1234567") == [
        ("BQ", "511200", "", "300,00", "0,00"),
        ("BQ", "411000", "DP-0003", "0,00", "300,00"),
    ]
    assert entry_of("DP-AV-2025-00001") == [
        ("VE", "756000", "", "450,00", "0,00"),
        ("VE", "411000", "DP-0004", "0,00", "450,00"),
    ]
    assert entry_of("DP-AV-2025-00002") == [
        ("VE", "756000", "", "300,00", "0,00"),
        ("VE", "411000", "DP-0005", "0,00", "300,00"),
    ]
    assert entry_of("DP-2025-00005 VIR REMB 5") == [
        ("BQ", "411000", "DP-0005", "300,00", "0,00"),
        ("BQ", "512000", "", "0,00", "300,00"),
    ]
    # The carry-over: from the member's over-paid invoice to its other one, no bank line.
    carried = [r for r in rows if r["JournalCode"] == "OD"]
    assert {(r["CompteNum"], r["CompAuxNum"]) for r in carried} == {("411000", "DP-0007")}
    assert {r["PieceRef"] for r in carried} == {"DP-2025-00006", "DP-2025-00007"}
    assert sum(_amount(r["Debit"]) for r in carried) == Decimal("300.00")
    # A tab in a name would split its field: it is a space; a name that looks like a formula
    # stays as it is in the FEC.
    ondine = [r for r in rows if r["CompAuxNum"] == "DP-0002"]
    assert {r["CompAuxLib"] for r in ondine} == {"Ondine Vision"}
    assert {r["CompAuxLib"] for r in rows if r["CompAuxNum"] == "DP-0003"} == {"=Bleu"}
    sales = next(r for r in rows if r["JournalCode"] == "VE")
    assert (sales["JournalLib"], sales["CompteLib"]) == ("Ventes", "Adhérents")
    assert next(r for r in rows if r["CompteNum"] == "756000")["CompteLib"] == "Cotisations"


def test_the_export_reads_each_kind_of_document_in_one_query(
    postgresql, year_of_activity, django_assert_max_num_queries
):
    # The cluster's settings, then invoices, credit notes, payments and refunds.
    with django_assert_max_num_queries(5):
        _export(year_of_activity)


def test_the_same_period_gives_the_same_bytes(postgresql, year_of_activity):
    for file_format in ("fec", "csv", "xlsx"):
        assert _export(year_of_activity, file_format) == _export(year_of_activity, file_format)
    # A shorter period numbers its own entries from 1.
    march = _fec_rows(_export(year_of_activity, start=D(2025, 3, 1), end=D(2025, 3, 31)))
    assert march[0]["EcritureNum"] == "1"
    assert {r["EcritureDate"][:6] for r in march} == {"202503"}


def test_the_cluster_s_journals_and_accounts_are_used(postgresql, year_of_activity):
    AccountingSettings.objects.create(
        cluster=year_of_activity,
        sales_journal_code="VT",
        fees_account="756100",
        fees_account_label="Cotisations des adhérents",
        card_account="511500",
    )
    rows = _fec_rows(_export(year_of_activity))
    assert {r["JournalCode"] for r in rows} == {"VT", "BQ", "CB", "OD"}
    assert ("756100", "Cotisations des adhérents") in {
        (r["CompteNum"], r["CompteLib"]) for r in rows
    }
    assert "756000" not in {r["CompteNum"] for r in rows}
    assert "511500" in {r["CompteNum"] for r in rows}


def test_csv_and_xlsx_hold_the_same_lines(postgresql, year_of_activity):
    fec = [tuple(row.values()) for row in _fec_rows(_export(year_of_activity))]

    content = _export(year_of_activity, "csv")
    assert content.startswith("\ufeff".encode())
    header, *lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig")), delimiter=";"))
    assert tuple(header) == FEC_COLUMNS

    def as_fec(value: str) -> str:
        if len(value) == 10 and value[2] == value[5] == "/":
            return f"{value[6:]}{value[3:5]}{value[:2]}"
        return value.removeprefix("'")  # a text escaped as it could run as a formula

    assert [tuple(as_fec(value) for value in line) for line in lines] == fec
    assert any(line[7] == "'=Bleu" for line in lines)

    sheet = openpyxl.load_workbook(io.BytesIO(_export(year_of_activity, "xlsx"))).active
    header, *cells = sheet.iter_rows(values_only=True)
    assert header == FEC_COLUMNS

    def cell_as_fec(value) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return f"{value:%Y%m%d}"
        if isinstance(value, int | float):
            return f"{Decimal(str(value)):.2f}".replace(".", ",")
        return value.removeprefix("'")

    assert [tuple(cell_as_fec(value) for value in row) for row in cells] == fec


def _command(*args) -> tuple[int, str]:
    stdout = io.StringIO()
    try:
        call_command("accounting_export", *args, stdout=stdout)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, stdout.getvalue()


def test_the_command_writes_the_fec_under_its_legal_name(
    postgresql, year_of_activity, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    status, output = _command(
        "--cluster", "digitalplace", "--from", "2025-01-01", "--to", "2025-12-31"
    )
    assert status == 0
    assert "22 écritures" in output
    written = tmp_path / "812345676FEC20251231.txt"
    assert written.read_bytes() == _export(year_of_activity)
    status, _output = _command(
        "--cluster",
        "digitalplace",
        "--from",
        "2025-01-01",
        "--to",
        "2025-12-31",
        "--format",
        "xlsx",
        "--output",
        str(tmp_path / "compta.xlsx"),
    )
    assert status == 0
    assert (tmp_path / "compta.xlsx").read_bytes() == _export(year_of_activity, "xlsx")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cluster", "nulle-part"), "Cluster inconnu « nulle-part »"),
        (("--cluster", "digitalplace", "--from", "2025-13-01"), "Date invalide « 2025-13-01 »"),
        (("--cluster", "digitalplace", "--to", "31/12/2025"), "Date invalide « 31/12/2025 »"),
        (
            ("--cluster", "digitalplace", "--from", "2026-01-01"),
            "La période commence le 01/01/2026, après sa fin le 31/12/2025.",
        ),
        (("--cluster", "grand-cluster"), "n’a pas de SIREN"),
    ],
)
def test_the_command_says_what_is_wrong(postgresql, tmp_path, monkeypatch, args, message):
    legal_details("digitalplace")
    monkeypatch.chdir(tmp_path)
    defaults = {"--from": "2025-01-01", "--to": "2025-12-31"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    status, output = _command(*(part for pair in ({**defaults, **given}).items() for part in pair))
    assert status == 2
    assert message in output
    assert list(tmp_path.iterdir()) == []


def _download(client, **params):
    values = {"start": "01/01/2025", "end": "31/12/2025", "file_format": "fec"} | params
    return client.get(reverse(EXPORT_URL), values)


def test_staff_download_their_cluster_s_fec(postgresql, client, dp_staff, year_of_activity):
    client.force_login(dp_staff)
    invoices = client.get(reverse("admin:members_invoice_changelist"))
    assert reverse(EXPORT_URL) in invoices.content.decode()
    page = client.get(reverse(EXPORT_URL))
    assert page.status_code == 200
    assert [c.slug for c in page.context["form"].fields["cluster"].queryset] == ["digitalplace"]

    response = _download(client, cluster=year_of_activity.pk)
    assert response.status_code == 200
    assert 'filename="812345676FEC20251231.txt"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == _export(year_of_activity)
    response = _download(client, cluster=year_of_activity.pk, file_format="xlsx", end="2025-12-31")
    assert 'filename="812345676FEC20251231.xlsx"' in response["Content-Disposition"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "32/01/2025"}, "Saisissez une date valide."),
        ({"end": "demain"}, "Saisissez une date valide."),
        ({"start": "01/02/2025", "end": "01/01/2025"}, "après sa fin"),
        ({"file_format": "pdf"}, "Sélectionnez un choix valide"),
        ({"cluster": "abc"}, "Sélectionnez un choix valide"),
        ({"cluster": "99999999999999999999999"}, "Sélectionnez un choix valide"),
    ],
)
def test_a_malformed_export_is_a_form_error(postgresql, client, dp_staff, params, error):
    dp = legal_details("digitalplace")
    client.force_login(dp_staff)
    response = _download(client, **{"cluster": dp.pk} | params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert error in response.content.decode()


def test_a_null_character_is_a_clear_400(postgresql, client, dp_staff):
    dp = legal_details("digitalplace")
    client.force_login(dp_staff)
    response = _download(client, cluster=dp.pk, start="2025-01-01\x00")
    assert response.status_code == 400
    assert "caractère nul" in response.content.decode()


def test_another_cluster_is_not_exported_by_staff(postgresql, client, dp_staff, year_of_activity):
    client.force_login(dp_staff)
    frenchsouth = Cluster.objects.get(slug="frenchsouth")
    response = _download(client, cluster=frenchsouth.pk)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert "Sélectionnez un choix valide" in response.content.decode()
    # A cluster without SIREN is named in the error.
    grand = Cluster.objects.get(slug="grand-cluster")
    grand.staff.add(dp_staff)
    response = _download(client, cluster=grand.pk)
    assert "n’a pas de SIREN" in response.content.decode()


def test_the_committee_does_not_export(postgresql, client, committee, year_of_activity):
    client.force_login(committee)
    assert _download(client, cluster=year_of_activity.pk).status_code == 403
    assert client.get(reverse(EXPORT_URL)).status_code == 403
    invoices = client.get(reverse("admin:members_invoice_changelist"))
    assert reverse(EXPORT_URL) not in invoices.content.decode()


def test_a_superuser_exports_any_cluster(postgresql, client, superuser, year_of_activity):
    client.force_login(superuser)
    frenchsouth = Cluster.objects.get(slug="frenchsouth")
    response = _download(client, cluster=frenchsouth.pk)
    assert 'filename="823456785FEC20251231.txt"' in response["Content-Disposition"]
    rows = _fec_rows(b"".join(response.streaming_content))
    assert {r["PieceRef"] for r in rows} == {"FS-2025-00001"}


def test_staff_set_their_cluster_s_accounts_on_its_page(client, dp_staff):
    dp = legal_details("digitalplace")
    client.force_login(dp_staff)
    url = reverse("admin:members_cluster_change", args=[dp.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in (
            (field.html_name, field.value()) for field in form if field.value() is not None
        )
        if not isinstance(value, list)
    }
    inline = page.context["inline_admin_formsets"][0]
    formset = inline.formset
    data |= {
        f"{formset.prefix}-TOTAL_FORMS": "1",
        f"{formset.prefix}-INITIAL_FORMS": "0",
        f"{formset.prefix}-MIN_NUM_FORMS": "0",
        f"{formset.prefix}-MAX_NUM_FORMS": "1",
    }
    extra = formset.forms[0]
    data |= {
        f"{extra.prefix}-{name}": extra[name].value()
        for name in extra.fields
        if name not in ("id", "cluster")
    }
    data[f"{extra.prefix}-fees_account"] = "C756"
    response = client.post(url, data)
    assert response.status_code == 200  # refused: not a number
    assert "Un numéro de compte commence par un chiffre" in response.content.decode()
    data[f"{extra.prefix}-fees_account"] = "756100"
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert AccountingSettings.objects.get(cluster=dp).fees_account == "756100"


def test_the_committee_reads_the_accounts_and_staff_of_another_cluster_do_not(client, committee):
    dp = legal_details("digitalplace")
    url = reverse("admin:members_cluster_change", args=[dp.pk])
    client.force_login(committee)
    page = client.get(url)
    assert page.status_code == 200
    assert "756000" in page.content.decode()
    assert not page.context["inline_admin_formsets"][0].has_change_permission
    client.force_login(staff_user("frenchsouth"))
    assert client.get(url).status_code == 404
