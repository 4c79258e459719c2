"""Reading a member spreadsheet (XLSX, ODS, XLS or CSV) as rows of plain Python values.

:func:`open_spreadsheet` checks the file (size, kind, zip bomb) before parsing anything, then
returns its sheets; :meth:`SheetData.rows` reads one sheet, row by row, numbered as a spreadsheet
application shows them. Workbooks are read with python-calamine (Rust, about ten times faster
than openpyxl and with a fraction of its memory: ``benchmarks/read_bench.py``).

Cells are ``None`` (empty), ``str``, ``int`` (every whole number: ``600.0`` becomes ``600``),
``float``, ``bool``, ``datetime.date`` (date cells, and date-times at midnight),
``datetime.datetime`` (with a time) or ``datetime.time`` (a time-of-day cell); a duration cell
becomes text as a spreadsheet shows it (``"36:30:00"``) and an error cell (``#DIV/0!``) is empty.
CSV cells are all ``str`` (``""`` becomes ``None``).
"""

import codecs
import csv
import datetime
import math
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.utils.formats import number_format
from python_calamine import CalamineError, CalamineWorkbook, PasswordError, SheetTypeEnum

from members.texts import Text, TextError

Row = tuple[int, list[object]]

#: Extensions of workbooks: a file named so must be one, never read as CSV.
WORKBOOK_EXTENSIONS = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
#: Zip-bomb guard: a member larger than this uncompressed...
BOMB_MIN_SIZE = 1024 * 1024
#: ...may not be more than this many times larger than compressed. The 50,000-row XLSX of
#: benchmarks/read_bench.py compresses its sheet 9:1 (openpyxl writes strings inline); with
#: Excel's shared strings, its sheet would compress 8:1 and the strings 5:1.
BOMB_MAX_RATIO = 100
CSV_DELIMITERS = ";,\t|"
#: How much text the delimiter is guessed from.
SNIFF_LINES = 50
SNIFF_CHARS = 64 * 1024
CHUNK = 1024 * 1024
MEGABYTE = 1024 * 1024
_MIDNIGHT = datetime.time()
_QUOTED = re.compile(r'"[^"]*"')


class UnreadableFile(TextError):
    """The file cannot be used at all. ``exc.texts`` say why, naming the file and what is wrong
    (:class:`members.texts.TextError`); ``str(exc)`` in the active language."""


@dataclass
class SheetData:
    """One sheet of a spreadsheet; :meth:`rows` reads it (again at each call)."""

    name: str
    _read: Callable[[bool], Iterator[Row]] | None = field(
        default=None, repr=False, compare=False, kw_only=True
    )

    def rows(self, *, skip_empty: bool = False) -> Iterator[Row]:
        """``(row_number, cells)`` for every row, blank ones included, numbered from 1 as a
        spreadsheet application shows them; column A is ``cells[0]``. Workbook rows all have
        the sheet's width; CSV rows have the fields of their line (none for a blank line).

        With ``skip_empty``, rows whose cells are all empty (none at all, or only ``;`` on a CSV
        line) are passed over inside the reader, unseen and at a fraction of the cost: a file of
        a million blank lines is read in about a second. The other rows keep their numbers; a
        row of spaces is still given, as it is not empty.

        Raises :class:`UnreadableFile` if the sheet turns out to be unreadable."""
        return self._read(skip_empty) if self._read is not None else iter(())

    @classmethod
    def from_rows(cls, name: str, rows: Iterable[list[object]]) -> "SheetData":
        """A sheet of ``rows`` given in memory (for tests), numbered from 1."""
        materialised = [list(row) for row in rows]

        def read(skip_empty: bool) -> Iterator[Row]:
            for number, cells in enumerate(materialised, start=1):
                if not (skip_empty and cells.count(None) == len(cells)):
                    yield number, cells

        return cls(name, _read=read)


def open_spreadsheet(path: str | os.PathLike, *, filename: str | None = None) -> list[SheetData]:
    """Sheets of the file, in workbook order (one for CSV). ``filename`` is the name the user gave
    (for messages and as a hint); the format is decided from the content, not the extension.

    The file must stay in place until the rows are read. Raises :class:`UnreadableFile`."""
    path = Path(path)
    name = filename or path.name
    size = path.stat().st_size
    limit = settings.IMPORT_MAX_FILE_SIZE
    if size > limit:
        raise UnreadableFile(
            Text(
                "import.file_too_large",
                name=name,
                size=_megabytes(size),
                limit=_megabytes(limit),
            )
        )
    if size == 0:
        raise UnreadableFile(Text("import.file_empty", name=name))
    with path.open("rb") as file:
        head = file.read(len(OLE2_MAGIC))
    extension = os.path.splitext(name)[1].lower()
    if head.startswith(ZIP_MAGIC):
        _check_zip(path, name)
        return _open_workbook(path, name)
    if head.startswith(OLE2_MAGIC):
        return _open_workbook(path, name)
    if extension in WORKBOOK_EXTENSIONS:
        if extension == ".ods":
            code = "import.file_not_ods"
        elif extension == ".xls":
            code = "import.file_not_xls"
        else:
            code = "import.file_not_xlsx"
        raise UnreadableFile(Text(code, name=name))
    return [_open_csv(path, name)]


def _megabytes(size: int) -> str:
    """``size`` bytes in megabytes, rounded up to a tenth (so that a file just over a limit is
    not shown at the limit), as the active language writes numbers: ``25,3``, ``20``."""
    value = math.ceil(size * 10 / MEGABYTE) / 10
    return number_format(value, decimal_pos=0 if value.is_integer() else 1)


# --- Workbooks ------------------------------------------------------------------------------------


def _check_zip(path: Path, name: str) -> None:
    """Refuse a zip that is corrupt, is not an XLSX or ODS workbook, or would inflate too much.

    The sizes its directory declares are checked first; then every member is inflated (and
    dropped) to check that it gives exactly its declared size, since calamine does not stop at
    it: about 0.1 s for a 50,000-row workbook."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > settings.IMPORT_MAX_UNCOMPRESSED_SIZE or any(
                member.file_size > BOMB_MIN_SIZE
                and member.file_size > BOMB_MAX_RATIO * max(member.compress_size, 1)
                for member in members
            ):
                raise UnreadableFile(
                    Text("import.file_inflates_too_much", name=name, size=_megabytes(total))
                )
            if not _is_workbook(archive):
                raise UnreadableFile(Text("import.file_zip_without_workbook", name=name))
        with path.open("rb") as file:
            for member in members:
                if _inflated_size(file, member) != member.file_size:
                    raise zipfile.BadZipFile(f"{member.filename}: not its declared size")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError) as exc:
        raise UnreadableFile(Text("import.file_zip_damaged", name=name)) from exc


def _is_workbook(archive: zipfile.ZipFile) -> bool:
    """Whether the archive is an XLSX (or XLSB) or an ODS workbook."""
    names = set(archive.namelist())
    if names & {"xl/workbook.xml", "xl/workbook.bin"}:
        return True
    if "mimetype" not in names or archive.getinfo("mimetype").file_size > 100:
        return False
    return archive.read("mimetype").strip() == ODS_MIMETYPE


def _inflated_size(file: BinaryIO, member: zipfile.ZipInfo) -> int:
    """How many bytes ``member``'s data really inflates to; inflating stops past its declared
    size, and at most ``CHUNK`` bytes are held at a time."""
    file.seek(member.header_offset)
    header = file.read(30)
    if len(header) != 30 or not header.startswith(b"PK\x03\x04"):
        raise zipfile.BadZipFile(f"{member.filename}: bad local header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    file.seek(member.header_offset + 30 + name_length + extra_length)
    if member.flag_bits & 1:
        raise NotImplementedError(f"{member.filename}: encrypted")
    if member.compress_type == zipfile.ZIP_STORED:
        return member.compress_size
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise NotImplementedError(f"{member.filename}: compression {member.compress_type}")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    size, left, data = 0, member.compress_size, b""
    while size <= member.file_size and not inflater.eof:
        if not data and left:
            data = file.read(min(CHUNK, left))
            if not data:
                raise zipfile.BadZipFile(f"{member.filename}: truncated")
            left -= len(data)
        output = inflater.decompress(data, CHUNK)
        data = inflater.unconsumed_tail
        if not (output or data or left or inflater.eof):
            raise zipfile.BadZipFile(f"{member.filename}: truncated")
        size += len(output)
    return size


def _open_workbook(path: Path, name: str) -> list[SheetData]:
    """The worksheets of an XLSX, XLSB, ODS or XLS workbook, read by python-calamine."""
    try:
        # From the content, not the path: calamine goes by the path's extension, which an
        # uploaded file's may not have.
        with path.open("rb") as file:
            workbook = CalamineWorkbook.from_filelike(file)
    except PasswordError as exc:
        raise UnreadableFile(Text("import.file_password", name=name)) from exc
    except CalamineError as exc:
        raise _damaged(name, exc) from exc
    return [
        SheetData(sheet.name, _read=_sheet_reader(workbook, sheet.name, name))
        for sheet in workbook.sheets_metadata
        if sheet.typ == SheetTypeEnum.WorkSheet
    ]


def _damaged(name: str, exc: Exception) -> UnreadableFile:
    return UnreadableFile(Text("import.file_damaged", name=name, error=str(exc)))


def _sheet_reader(
    workbook: CalamineWorkbook, sheet_name: str, name: str
) -> Callable[[bool], Iterator[Row]]:
    def read(skip_empty: bool) -> Iterator[Row]:
        try:
            sheet = workbook.get_sheet_by_name(sheet_name)
        except CalamineError as exc:
            raise _damaged(name, exc) from exc
        if sheet.start is None:  # no cell at all
            return
        # calamine's range starts at the first used cell. iter_rows() yields as many blank rows
        # as the range has rows above it, so rows keep their numbers, but it does not pad the
        # columns on the left: add them, so that column A is cells[0].
        left = [None] * sheet.start[1]
        for number, row in enumerate(sheet.iter_rows(), start=1):
            # calamine gives "" for an empty cell; counting them runs in C.
            if skip_empty and row.count("") == len(row):
                continue
            yield number, left + _normalise(row)

    return read


def _normalise(row: list) -> list[object]:
    """calamine's cells as documented at the top of this module."""
    cells: list[object] = []
    append = cells.append
    for value in row:
        kind = type(value)
        if kind is str:
            append(value or None)
        elif kind is float:
            append(int(value) if value.is_integer() else value)
        elif kind is datetime.datetime:
            append(value.date() if value.time() == _MIDNIGHT else value)
        elif kind is datetime.timedelta:
            append(_duration_text(value))
        else:  # int, bool, date, time
            append(value)
    return cells


def _duration_text(value: datetime.timedelta) -> str:
    """A duration as a spreadsheet shows it: ``[h]:mm:ss``."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    minutes, second = divmod(abs(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{sign}{hours}:{minute:02d}:{second:02d}"


# --- CSV ------------------------------------------------------------------------------------------


def _open_csv(path: Path, name: str) -> SheetData:
    """The one sheet of a CSV (or other delimited text) file, its encoding and delimiter found."""
    encoding = _text_encoding(path, name)
    with path.open(encoding=encoding, newline="") as file:
        sample = file.read(SNIFF_CHARS)
    delimiter = _sniff_delimiter(sample)

    def read(skip_empty: bool) -> Iterator[Row]:
        with path.open(encoding=encoding, newline="") as file:
            reader = csv.reader(file, delimiter=delimiter, quotechar='"', doublequote=True)
            try:
                for number, fields in enumerate(reader, start=1):
                    # Fields are strings: any() tells, in C, whether one is not empty.
                    if skip_empty and not any(fields):
                        continue
                    yield number, [value or None for value in fields]
            except csv.Error as exc:
                raise UnreadableFile(
                    Text(
                        "import.file_csv_unreadable",
                        name=name,
                        row=reader.line_num,
                        error=str(exc),
                    )
                ) from exc

    return SheetData("", _read=read)


def _text_encoding(path: Path, name: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM (Excel's "Unicode text"), else
    Windows-1252: the first that decodes the whole file, decoded a chunk at a time. Refuses a
    file with nothing but blanks, or with NUL characters (a binary file)."""
    with path.open("rb") as file:
        head = file.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8-sig", "cp1252"]
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)()
        blank = True
        try:
            with path.open("rb") as file:
                while True:
                    chunk = file.read(CHUNK)
                    text = decoder.decode(chunk, final=not chunk)
                    if "\x00" in text:
                        raise UnreadableFile(Text("import.file_binary", name=name))
                    blank = blank and not text.replace("\ufeff", "").strip()
                    if not chunk:
                        break
        except UnicodeDecodeError:
            continue
        if blank:
            raise UnreadableFile(Text("import.file_empty", name=name))
        return encoding
    raise UnreadableFile(Text("import.file_encoding", name=name))


def _sniff_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample among ``; , tab |``: :class:`csv.Sniffer`'s guess if the
    sample holds it, else the one found the same number of times on most lines; ``;`` for a
    single column."""
    lines = [line for line in sample.splitlines()[:SNIFF_LINES] if line.strip()]
    if not lines:
        return ";"
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and any(delimiter in line for line in lines):
        return delimiter
    return _count_delimiter(lines)


def _count_delimiter(lines: list[str]) -> str:
    best, best_score = ";", (0, 0)
    unquoted = [_QUOTED.sub("", line) for line in lines]
    for delimiter in CSV_DELIMITERS:
        counts = [line.count(delimiter) for line in unquoted]
        common = max(set(counts), key=counts.count)
        # Lines that have the most frequent non-zero count, then that count.
        score = (counts.count(common) if common else 0, common)
        if score > best_score:
            best, best_score = delimiter, score
    return best
