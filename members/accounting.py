"""The accounting export of a cluster's billing for a period: its FEC (fichier des écritures
comptables, art. A47 A-1 of the Livre des procédures fiscales), or the same lines as CSV or XLSX.

One balanced entry per document of the period, by its accounting date:

- an invoice (``issued_on``), sales journal: the member's sub-account debited, fees credited;
- a credit note (``issued_on``), sales journal: fees debited, the member's sub-account credited;
- a payment (``received_on``): the bank (transfer, other), cheques to cash (cheque) or the card
  clearing account (card, card journal) debited, the member's sub-account credited;
- a succeeded refund (``refunded_on``): the other way round;
- a payment or refund by carry-over (``carryover``: what was paid beyond one invoice moved to
  another invoice of the same member), miscellaneous journal: the member's sub-account both
  debited and credited, no bank line.

An invoice of 0 € moves no money and makes no entry. The journals and accounts are the
cluster's :class:`~members.models.AccountingSettings` (the associations' chart of accounts by
default); a member's sub-account (``CompAuxNum``) is its member number as its invoice printed it,
with the name the invoice printed (``CompAuxLib``).

Entries are ordered by date, then kind (invoices, credit notes, payments, refunds), then
document number (payments and refunds: their record's id), and numbered from 1 without gap.
Nothing depends on when the export runs (the validation date is the entry's date, lettering is
left to the accountant): exporting a period twice gives the same file, byte for byte. The four
kinds of documents are read in chunks and merged in that order, and the lines are written as
they come: memory does not grow with the period.

The FEC is UTF-8 text without byte order mark, one line per row ending with CRLF, fields
separated by tabs, the 18 columns of the legal order in a header line, dates ``YYYYMMDD``,
amounts with a decimal comma and no thousands separator (``1234,56``), both debit and credit
written on each line. The file is named ``<SIREN>FEC<YYYYMMDD>.txt`` after the period's last day.
Its labels are French, whoever exports it: it is written for the French tax administration.
"""

import csv
import datetime as dt
import heapq
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from members import formatting
from members.imports.widgets import escape_formula
from members.models import (
    AccountingSettings,
    Cluster,
    CreditNote,
    Invoice,
    Payment,
    Refund,
    RefundState,
)

#: The 18 columns of a FEC, in the legal order.
FEC_COLUMNS = (
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
)
#: The formats of the export, and their content types.
CONTENT_TYPES = {
    "fec": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: A payment method's value that moves money between two invoices of one member, no bank
#: involved (a refund on the over-paid invoice, a payment on the other).
CARRYOVER = "carryover"
#: How the entries' labels name a payment method (in French, as the whole file).
METHOD_WORDS = {
    "transfer": "virement",
    "card": "carte bancaire",
    "cheque": "chèque",
    "other": "autre moyen",
    CARRYOVER: "report",
}
#: The order of the kinds of documents within a day.
INVOICE, CREDIT_NOTE, PAYMENT, REFUND = range(4)
#: Documents read per query of each kind.
CHUNK_SIZE = 2000
CSV_DELIMITER = ";"
XLSX_SHEET_TITLE = "Écritures"
XLSX_DATE_FORMAT = "dd/mm/yyyy"
XLSX_AMOUNT_FORMAT = "#,##0.00"
#: An XLSX file's columns, as wide as their usual content (the file is written row by row).
XLSX_WIDTHS = (8, 20, 8, 12, 10, 20, 12, 30, 24, 12, 50, 12, 12, 8, 12, 12, 10, 6)
#: The date every member of an XLSX archive carries, so that two exports are the same bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Line:
    """One line of an entry: an account (and a member's sub-account) debited or credited."""

    account: str
    account_label: str
    debit: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")
    aux_number: str = ""
    aux_label: str = ""


@dataclass(frozen=True)
class Entry:
    """One balanced entry: a document of the period in a journal, with its lines."""

    sort_key: tuple
    journal_code: str
    journal_label: str
    date: dt.date
    piece_ref: str
    label: str
    lines: tuple[Line, ...] = field(default=())

    @property
    def debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), Decimal("0.00"))

    @property
    def credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), Decimal("0.00"))


@dataclass
class ExportSummary:
    """What an export wrote: its entries and lines, and the total of debits (equal to credits)."""

    entries: int = 0
    lines: int = 0
    debit: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")


def accounting_settings_of(cluster: Cluster) -> AccountingSettings:
    """The journals and accounts of ``cluster``: its own, or the defaults if it has none."""
    return AccountingSettings.objects.filter(cluster=cluster).first() or AccountingSettings(
        cluster=cluster
    )


def accounting_export_check(*, cluster: Cluster, start: dt.date, end: dt.date) -> None:
    """Raise :class:`ValidationError` when the export of ``cluster`` from ``start`` to ``end``
    cannot be written: a period ending before it starts, a cluster without SIREN (the file's
    name)."""
    if start > end:
        raise ValidationError(
            _("La période commence le %(start)s, après sa fin le %(end)s.")
            % {"start": formatting.short_date(start), "end": formatting.short_date(end)},
            code="period",
        )
    if not cluster.siren:
        raise ValidationError(
            _(
                "Le cluster %(cluster)s n’a pas de SIREN : renseignez-le dans sa fiche (Clusters) "
                "avant d’exporter sa comptabilité."
            )
            % {"cluster": cluster.name},
            code="siren",
        )


def fec_filename(*, cluster: Cluster, end: dt.date, file_format: str = "fec") -> str:
    """``<SIREN>FEC<YYYYMMDD>.txt``, after the period's last day; ``.csv`` or ``.xlsx`` for
    the plain files."""
    extension = "txt" if file_format == "fec" else file_format
    return f"{cluster.siren}FEC{end:%Y%m%d}.{extension}"


def _text(value: str) -> str:
    """``value`` on one line: control characters (a tab would split a field) become spaces."""
    return _CONTROL.sub(" ", value or "").strip()


def _customer(details: dict, member_number: str) -> tuple[str, str]:
    """A member's sub-account number and label: its member number and name as its invoice
    printed them (the membership's number when the invoice did not keep it)."""
    return (
        _text(details.get("member_number") or member_number),
        _text(details.get("name", "")),
    )


def _invoice_entries(settings: AccountingSettings, start, end) -> Iterator[Entry]:
    rows = (
        Invoice.objects.filter(
            cluster=settings.cluster_id, issued_on__range=(start, end), amount__gt=0
        )
        .order_by("issued_on", "year", "sequence")
        .values_list(
            "issued_on",
            "year",
            "sequence",
            "number",
            "amount",
            "customer_details",
            "term__membership__member_number",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for issued_on, year, sequence, number, amount, details, member_number in rows:
        aux_number, aux_label = _customer(details, member_number)
        yield Entry(
            sort_key=(issued_on, INVOICE, year, sequence),
            journal_code=settings.sales_journal_code,
            journal_label=settings.sales_journal_label,
            date=issued_on,
            piece_ref=number,
            label=_text(f"Facture {number} {aux_label}"),
            lines=(
                Line(
                    settings.customers_account,
                    settings.customers_account_label,
                    debit=amount,
                    aux_number=aux_number,
                    aux_label=aux_label,
                ),
                Line(settings.fees_account, settings.fees_account_label, credit=amount),
            ),
        )


def _credit_note_entries(settings: AccountingSettings, start, end) -> Iterator[Entry]:
    rows = (
        CreditNote.objects.filter(cluster=settings.cluster_id, issued_on__range=(start, end))
        .order_by("issued_on", "year", "sequence")
        .values_list(
            "issued_on",
            "year",
            "sequence",
            "number",
            "amount",
            "invoice__number",
            "customer_details",
            "invoice__term__membership__member_number",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for issued_on, year, sequence, number, amount, invoice, details, member_number in rows:
        aux_number, aux_label = _customer(details, member_number)
        yield Entry(
            sort_key=(issued_on, CREDIT_NOTE, year, sequence),
            journal_code=settings.sales_journal_code,
            journal_label=settings.sales_journal_label,
            date=issued_on,
            piece_ref=number,
            label=_text(f"Avoir {number} sur facture {invoice} {aux_label}"),
            lines=(
                Line(settings.fees_account, settings.fees_account_label, debit=amount),
                Line(
                    settings.customers_account,
                    settings.customers_account_label,
                    credit=amount,
                    aux_number=aux_number,
                    aux_label=aux_label,
                ),
            ),
        )


def _money_journal_and_account(settings: AccountingSettings, method: str):
    """Where money paid (or refunded) by ``method`` goes: (journal code, journal label,
    account, account label); ``None`` for a carry-over, which moves none."""
    if method == CARRYOVER:
        return None
    if method == "card":
        return (
            settings.card_journal_code,
            settings.card_journal_label,
            settings.card_account,
            settings.card_account_label,
        )
    account = (
        (settings.cheque_account, settings.cheque_account_label)
        if method == "cheque"
        else (settings.bank_account, settings.bank_account_label)
    )
    return (settings.bank_journal_code, settings.bank_journal_label, *account)


def _money_entry(
    settings: AccountingSettings,
    *,
    sort_key: tuple,
    on: dt.date,
    method: str,
    amount: Decimal,
    invoice: str,
    reference: str,
    customer: tuple[str, str],
    received: bool,
) -> Entry:
    """The entry of money received (a payment) or given back (a refund) for ``invoice``."""
    aux_number, aux_label = customer
    customer_line = {
        "account": settings.customers_account,
        "account_label": settings.customers_account_label,
        "aux_number": aux_number,
        "aux_label": aux_label,
    }
    method_word = METHOD_WORDS.get(method, method)
    where = _money_journal_and_account(settings, method)
    if where is None:
        journal = (settings.misc_journal_code, settings.misc_journal_label)
        if received:
            label = f"Report d’un trop-perçu sur la facture {invoice} {aux_label}"
        else:
            label = f"Report du trop-perçu de la facture {invoice} {aux_label}"
        # The member's credit moves from one of its invoices to another: its sub-account is
        # both debited and credited.
        other = Line(**customer_line, **({"debit": amount} if received else {"credit": amount}))
    else:
        journal = where[:2]
        word = "Règlement" if received else "Remboursement"
        label = f"{word} par {method_word} facture {invoice} {aux_label}"
        other = Line(where[2], where[3], **({"debit": amount} if received else {"credit": amount}))
    customer_side = Line(**customer_line, **({"credit": amount} if received else {"debit": amount}))
    return Entry(
        sort_key=sort_key,
        journal_code=journal[0],
        journal_label=journal[1],
        date=on,
        piece_ref=_text(f"{invoice} {reference}"),
        label=_text(label),
        lines=(other, customer_side) if received else (customer_side, other),
    )


def _payment_entries(settings: AccountingSettings, start, end) -> Iterator[Entry]:
    rows = (
        Payment.objects.filter(
            invoice__cluster=settings.cluster_id, received_on__range=(start, end)
        )
        .order_by("received_on", "pk")
        .values_list(
            "received_on",
            "pk",
            "amount",
            "method",
            "reference",
            "provider_reference",
            "invoice__number",
            "invoice__customer_details",
            "invoice__term__membership__member_number",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for on, pk, amount, method, reference, provider, invoice, details, member_number in rows:
        yield _money_entry(
            settings,
            sort_key=(on, PAYMENT, pk),
            on=on,
            method=method,
            amount=amount,
            invoice=invoice,
            reference=reference or provider,
            customer=_customer(details, member_number),
            received=True,
        )


def _refund_entries(settings: AccountingSettings, start, end) -> Iterator[Entry]:
    rows = (
        Refund.objects.filter(
            invoice__cluster=settings.cluster_id,
            refunded_on__range=(start, end),
            state=RefundState.SUCCEEDED,
        )
        .order_by("refunded_on", "pk")
        .values_list(
            "refunded_on",
            "pk",
            "amount",
            "method",
            "reference",
            "provider_reference",
            "invoice__number",
            "invoice__customer_details",
            "invoice__term__membership__member_number",
        )
        .iterator(chunk_size=CHUNK_SIZE)
    )
    for on, pk, amount, method, reference, provider, invoice, details, member_number in rows:
        yield _money_entry(
            settings,
            sort_key=(on, REFUND, pk),
            on=on,
            method=method,
            amount=amount,
            invoice=invoice,
            reference=reference or provider,
            customer=_customer(details, member_number),
            received=False,
        )


def accounting_entries(*, cluster: Cluster, start: dt.date, end: dt.date) -> Iterator[Entry]:
    """The entries of ``cluster``'s documents dated from ``start`` to ``end`` (both included),
    in their export order: by date, kind, then number. Read as they are consumed."""
    settings = accounting_settings_of(cluster)
    return heapq.merge(
        _invoice_entries(settings, start, end),
        _credit_note_entries(settings, start, end),
        _payment_entries(settings, start, end),
        _refund_entries(settings, start, end),
        key=lambda entry: entry.sort_key,
    )


def accounting_rows(entries: Iterable[Entry], summary: ExportSummary) -> Iterator[tuple]:
    """The 18 values of each line of ``entries``, numbered from 1 in their order (dates as
    dates, amounts as ``Decimal``, the rest text), counted into ``summary``."""
    for number, entry in enumerate(entries, start=1):
        summary.entries += 1
        for line in entry.lines:
            summary.lines += 1
            summary.debit += line.debit
            summary.credit += line.credit
            yield (
                entry.journal_code,
                entry.journal_label,
                str(number),
                entry.date,
                line.account,
                line.account_label,
                line.aux_number,
                line.aux_label,
                entry.piece_ref,
                entry.date,
                entry.label,
                line.debit,
                line.credit,
                "",
                None,
                entry.date,
                "",
                "",
            )


def _fec_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return f"{value:%Y%m%d}"
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    return _text(value)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")
    return escape_formula(value)


def _xlsx_cell(sheet, value):
    if value is None or value == "":
        return None
    if isinstance(value, dt.date | Decimal):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = XLSX_DATE_FORMAT if isinstance(value, dt.date) else XLSX_AMOUNT_FORMAT
        return cell
    return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", value))


def _fec_write(rows: Iterable[tuple], file: IO[bytes]) -> None:
    file.write(("\t".join(FEC_COLUMNS) + "\r\n").encode())
    for row in rows:
        file.write(("\t".join(_fec_value(value) for value in row) + "\r\n").encode())


def _csv_write(rows: Iterable[tuple], file: IO[bytes]) -> None:
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(FEC_COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(value) for value in row])
    text.detach()


def _xlsx_write(rows: Iterable[tuple], file: IO[bytes]) -> None:
    """A workbook written row by row (openpyxl's write-only mode), then stored again with fixed
    dates: openpyxl stamps its archive and properties with the time of writing."""
    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = dt.datetime(2000, 1, 1)
    sheet = workbook.create_sheet(XLSX_SHEET_TITLE)
    sheet.freeze_panes = "A2"
    for index, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    headers = []
    for name in FEC_COLUMNS:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        headers.append(cell)
    sheet.append(headers)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    with tempfile.TemporaryFile() as content:
        workbook.save(content)
        with (
            zipfile.ZipFile(content) as source,
            zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for member in source.infolist():
                info = zipfile.ZipInfo(member.filename, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                # Copied in pieces: the sheet's XML is some 150 MB for 200,000 lines.
                with source.open(member) as piece, target.open(info, "w") as copy:
                    shutil.copyfileobj(piece, copy)


WRITERS = {"fec": _fec_write, "csv": _csv_write, "xlsx": _xlsx_write}


def accounting_export(
    *, cluster: Cluster, start: dt.date, end: dt.date, file_format: str, file: IO[bytes]
) -> ExportSummary:
    """Write the accounting export of ``cluster`` from ``start`` to ``end`` (both included) to
    ``file`` as ``file_format`` (``fec``, ``csv`` or ``xlsx``); return what it wrote.

    Raise :class:`ValidationError` when it cannot be written (:func:`accounting_export_check`).
    """
    accounting_export_check(cluster=cluster, start=start, end=end)
    summary = ExportSummary()
    rows = accounting_rows(accounting_entries(cluster=cluster, start=start, end=end), summary)
    WRITERS[file_format](rows, file)
    return summary
