"""The refused rows of an import, as a spreadsheet to fix and upload again.

The file is the import's own file cut down to its header row and its refused rows, each cell as
it was uploaded (the reader's values: text, numbers, dates), with one more column at the end
saying why each row was refused, in the language of whoever downloads it. Uploaded again with the
same profile, the fixed rows are imported like any others (the reasons' column is unknown to
the profile and ignored with a warning); rows that were not refused are not in it, so nothing is
imported twice.

XLSX always; CSV too when the upload was a CSV file (``;``, UTF-8 with a byte-order mark, which
the import reads). Text that spreadsheet software would run as a formula is written as text in the
XLSX file and behind an apostrophe in the CSV file (CSV injection), plain signed numbers
(« -50,00 ») excepted.
"""

import csv
import io
import os
import re
from collections import defaultdict

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from members.models import ImportRecord
from members.texts import text_render

from .readers import open_spreadsheet
from .resources import PROFILES
from .tables import header_find
from .widgets import FORMULA_STARTS, escape_formula

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
CSV_EXTENSIONS = (".csv", ".txt")


def refused_rows_formats(*, record: ImportRecord) -> tuple[str, ...]:
    """The formats the refused rows of ``record`` can be downloaded in: none when it has no
    refused row kept or no file, else XLSX, and CSV when the upload was CSV."""
    if not record.refused or not record.file:
        return ()
    if os.path.splitext(record.file_name)[1].lower() in CSV_EXTENSIONS:
        return ("xlsx", "csv")
    return ("xlsx",)


def refused_rows_reasons(*, record: ImportRecord) -> dict[int, str]:
    """Row number in the file → why it was refused (« column : reason », several joined by
    " ; "), in the active language."""
    reasons = defaultdict(list)
    for refusal in record.refused:
        message = text_render(refusal["message"])
        if refusal.get("column"):
            message = _("%(column)s : %(message)s") % {
                "column": refusal["column"],
                "message": message,
            }
        reasons[refusal["row"]].append(message)
    return {row: " ; ".join(messages) for row, messages in reasons.items()}


def refused_rows_table(*, record: ImportRecord) -> tuple[str, list[list]]:
    """The sheet's name and the rows of the download: the file's header row and its refused
    rows, as read, each ending with its reasons."""
    reasons = refused_rows_reasons(record=record)
    sheets = open_spreadsheet(record.file.path, filename=record.file_name)
    header = header_find(sheets, PROFILES[record.profile])
    if header is None:  # the file was unusable: it has no refused row either
        return "", []
    rows = [(header.cells, _("Motif du refus"))]
    for number, cells in header.rows:
        if number in reasons:
            rows.append((cells, reasons[number]))
    width = max(len(cells) for cells, _reason in rows)
    table = [[*cells, *([None] * (width - len(cells))), reason] for cells, reason in rows]
    return header.sheet.name, table


def refused_rows_file(*, record: ImportRecord, file_format: str) -> bytes:
    """The refused rows of ``record`` as an XLSX or CSV file (see the module)."""
    sheet_name, table = refused_rows_table(record=record)
    if file_format == "csv":
        content = io.StringIO()
        writer = csv.writer(content, delimiter=";", lineterminator="\r\n")
        for row in table:
            writer.writerow(["" if value is None else _csv_cell(str(value)) for value in row])
        return content.getvalue().encode("utf-8-sig")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet((sheet_name or _("Lignes refusées"))[:31])
    bold = Font(bold=True)
    for index, row in enumerate(table):
        cells = []
        for value in row:
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                cell.data_type = "s"  # text, never a formula
            if index == 0:
                cell.font = bold
            cells.append(cell)
        sheet.append(cells)
    content = io.BytesIO()
    workbook.save(content)
    return content.getvalue()


#: A signed number as people write them (« -50,00 », « +33 6 12 34 56 78 »): never a formula.
_NUMBER = re.compile(r"[+-]?[\d\s.,\u00a0\u202f]+")


def _csv_cell(text: str) -> str:
    """Text as the CSV download writes it: behind an apostrophe when spreadsheet software would
    run it (widgets.escape_formula), unless it is a plain signed number, kept as uploaded so that
    the fixed file reads back the same."""
    return text if _NUMBER.fullmatch(text) else escape_formula(text)


def refused_rows_filename(*, record: ImportRecord, file_format: str) -> str:
    """``adherents-refus.xlsx`` for ``adherents.csv``: the upload's name, marked."""
    stem = os.path.splitext(record.file_name)[0] or "import"
    return _("%(name)s-lignes-refusees") % {"name": stem} + f".{file_format}"
