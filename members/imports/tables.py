"""From a spreadsheet file to the tablib ``Dataset`` a profile's resource imports.

The header row is the first row, within the first :data:`HEADER_SEARCH_ROWS` rows of a sheet, that
holds the profile's headers (compared without case, accents, underscores or repeated spaces);
rows above it are titles. A file without such a row, or without one of the profile's required
columns, is refused before any row is read, with what is missing. Blank rows are passed over and
each kept row carries its number as spreadsheet software shows it (column ``#``); a file with no
data row below its headers is refused too.
"""

import re
from dataclasses import dataclass, field

import tablib

from members.texts import Text

from .readers import UnreadableFile, open_spreadsheet
from .resources import PROFILES, ROW_NUMBER, MemberRowResource
from .staging import SharedValues
from .widgets import normalise_label

HEADER_SEARCH_ROWS = 30
#: A row is the header row when it holds at least this many of the profile's headers.
MIN_HEADERS = 3


@dataclass
class Table:
    """The rows of a file a resource will import, and what was learnt reading it."""

    dataset: tablib.Dataset
    sheet: str
    header_row: int
    #: The file's own header of each attribute found.
    header_of: dict[str, str]
    warnings: list[Text] = field(default_factory=list)


def _header_key(value: object) -> str:
    return normalise_label(str(value).replace("_", " ")) if value is not None else ""


def match_headers(cells: list, resource_class: type[MemberRowResource]) -> dict[str, int]:
    """Attribute → column index of the headers in ``cells`` that the profile knows."""
    accepted = {
        attribute: {_header_key(label) for label in labels}
        for attribute, labels in resource_class.header_labels().items()
    }
    with_year = {
        attribute: re.compile(
            "(" + "|".join(re.escape(label) for label in accepted[attribute]) + r") \d{4}"
        )
        for attribute in resource_class.headers_with_year
    }
    found = {}
    for index, cell in enumerate(cells):
        key = _header_key(cell)
        if not key:
            continue
        for attribute, labels in accepted.items():
            if attribute in found:
                continue
            if key in labels or (attribute in with_year and with_year[attribute].fullmatch(key)):
                found[attribute] = index
                break
    return found


def _is_blank(cells: list) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def read_table(path, resource_class: type[MemberRowResource], *, filename: str) -> Table:
    """The dataset of ``path`` for ``resource_class``; raises :class:`UnreadableFile` (with a
    French sentence for staff) when the file cannot be imported with this profile."""
    sheets = open_spreadsheet(path, filename=filename)
    header = header_find(sheets, resource_class)
    if header is None:
        raise UnreadableFile(*_no_header_texts(sheets, resource_class, filename))
    return _table(
        header.sheet.name,
        header.number,
        header.cells,
        header.found,
        header.rows,
        resource_class,
        filename,
    )


@dataclass
class Header:
    """The header row of a file for a profile: its sheet, its number and cells, the column of
    each attribute found, and the rows below it, still to read."""

    sheet: object
    number: int
    cells: list
    found: dict[str, int]
    rows: object


def header_find(sheets, resource_class: type[MemberRowResource]) -> Header | None:
    """The first row, within the first :data:`HEADER_SEARCH_ROWS` rows of a sheet, that holds
    the profile's headers; ``None`` if no sheet has one."""
    for sheet in sheets:
        # Empty rows are passed over in the reader, where they cost least: a header followed by
        # a million blank lines is refused in a second or two.
        rows = sheet.rows(skip_empty=True)
        for number, cells in rows:
            if number > HEADER_SEARCH_ROWS:
                break
            found = match_headers(cells, resource_class)
            if len(found) >= min(MIN_HEADERS, len(resource_class.fields)):
                return Header(sheet, number, cells, found, rows)
    return None


def _table(sheet, header_row, headers, found, rows, resource_class, filename) -> Table:
    missing = [
        resource_class.fields[attribute].column_name
        for attribute in resource_class.required_columns
        if attribute not in found
    ]
    if missing:
        raise UnreadableFile(
            Text(
                "import.columns_missing",
                file=filename,
                row=header_row,
                missing=", ".join(missing),
            ),
            *_looks_like([headers], resource_class, len(found)),
        )
    attributes = list(found)
    indexes = [found[attribute] for attribute in attributes]
    dataset = tablib.Dataset(
        headers=[resource_class.fields[attribute].column_name for attribute in attributes]
        + [ROW_NUMBER]
    )
    width = max(indexes) + 1
    shared = SharedValues(len(indexes))
    for number, cells in rows:
        if _is_blank(cells):  # cells of spaces (empty rows never get here)
            continue
        if len(cells) < width:
            cells = [*cells, *([None] * (width - len(cells)))]
        dataset.append([*shared([cells[index] for index in indexes]), number])
    if not dataset:
        # Nothing to import is not a successful import of nothing: the file is not the one meant.
        raise UnreadableFile(Text("import.no_data_rows", file=filename, row=header_row))
    table = Table(
        dataset=dataset,
        sheet=sheet,
        header_row=header_row,
        header_of={attribute: str(headers[found[attribute]]).strip() for attribute in attributes},
    )
    ignored = [
        str(cell).strip()
        for index, cell in enumerate(headers)
        if index not in indexes and not _is_blank([cell])
    ]
    if ignored:
        table.warnings.append(Text("import.columns_ignored", columns=", ".join(ignored)))
    return table


def _no_header_texts(sheets, resource_class, filename) -> list[Text]:
    expected = ", ".join(
        resource_class.fields[name].column_name for name in resource_class.required_columns
    )
    message = Text(
        "import.no_header",
        profile=resource_class.label,
        rows=HEADER_SEARCH_ROWS,
        file=filename,
        expected=expected,
    )
    rows = []
    for sheet in sheets:
        for number, cells in sheet.rows():
            if number > HEADER_SEARCH_ROWS:
                break
            rows.append(cells)
    return [message, *_looks_like(rows, resource_class, 0)]


def _looks_like(rows: list[list], resource_class, matched: int) -> list[Text]:
    """[« Ce fichier ressemble au profil « … ». »] when another profile knows clearly more of
    these headers, else []."""
    for other in PROFILES.values():
        if other is resource_class:
            continue
        known = max((len(match_headers(cells, other)) for cells in rows), default=0)
        if known >= max(MIN_HEADERS * 2, matched + 3):
            return [Text("import.looks_like", profile=other.profile)]
    return []
