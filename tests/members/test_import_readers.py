"""Reading member spreadsheets: the format found from the content, cells as Python values, rows
numbered as a spreadsheet application shows them, and unusable files refused before parsing."""

import codecs
import csv
import datetime
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.utils import translation
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from members.imports.readers import SheetData, UnreadableFile, open_spreadsheet
from tests.samples import SAMPLES

DIGITALPLACE_HEADER = [
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
MB = 1024 * 1024


@pytest.fixture
def samples() -> Path:
    """The clusters' sample files (tests/samples)."""
    return SAMPLES


@pytest.fixture(autouse=True)
def _french():
    with translation.override("fr"):
        yield


def read(path: Path, **kwargs) -> list[tuple[str, list[tuple[int, list[object]]]]]:
    """(name, rows) of each sheet of the file."""
    return [(sheet.name, list(sheet.rows())) for sheet in open_spreadsheet(path, **kwargs)]


def refusal(path: Path, **kwargs) -> str:
    with pytest.raises(UnreadableFile) as caught:
        read(path, **kwargs)
    return str(caught.value)


def column(rows: list[tuple[int, list[object]]], index: int) -> list[object]:
    return [cells[index] for _, cells in rows]


# --- The samples ----------------------------------------------------------------------------------


def test_digitalplace_workbook(samples):
    expected = json.loads((samples / "expected.json").read_text())["digitalplace"]
    [(name, rows)] = read(samples / "digitalplace.xlsx")

    assert name == "Adhérents"
    assert [number for number, _ in rows] == list(range(1, len(rows) + 1))
    assert rows[0][1][0].startswith("Export des adhérents")
    assert rows[2] == (3, DIGITALPLACE_HEADER)
    assert rows[16] == (17, [None] * 21)
    data = rows[3:]
    assert all(len(cells) == 21 for _, cells in rows)
    assert sum(any(cells) for _, cells in data) == expected["data_rows"]
    assert sum(not any(cells) for _, cells in data) == expected["blank_rows"]

    sirets = column(data, DIGITALPLACE_HEADER.index("SIRET"))
    assert {type(value) for value in sirets} == {str, int, type(None)}
    assert all(len(str(value)) == 14 for value in sirets if isinstance(value, int))
    postcodes = column(data, DIGITALPLACE_HEADER.index("Code postal"))
    assert 32000 in postcodes
    assert "09100" in postcodes  # a text cell keeps its leading zero
    ends = column(data, DIGITALPLACE_HEADER.index("Fin d'adhésion"))
    assert {type(value) for value in ends} - {type(None)} == {datetime.date}
    joined = column(data, DIGITALPLACE_HEADER.index("Date d'adhésion"))
    assert {type(value) for value in joined} - {type(None)} == {datetime.date, str}
    # No whole number stays a float.
    assert not any(isinstance(value, float) and value.is_integer() for _, c in rows for value in c)


def test_frenchsouth_csv(samples):
    expected = json.loads((samples / "expected.json").read_text())["frenchsouth"]
    [(name, rows)] = read(samples / "frenchsouth.csv")

    assert name == ""
    assert [number for number, _ in rows] == list(range(1, 38))
    header = rows[0][1]
    assert header[:4] == ["id_membre", "nom_structure", "siren", "siret"]
    assert len(header) == 24
    assert all(len(cells) == 24 for _, cells in rows)
    assert sum(any(cells) for _, cells in rows[1:]) == expected["data_rows"]
    cells = [value for _, row in rows for value in row]
    assert {type(value) for value in cells} == {str, type(None)}
    text = "".join(value for value in cells if value)
    assert "é" in text  # Windows-1252 decoded...
    assert "Ã" not in text  # ...not as UTF-8 mojibake


# --- CSV ------------------------------------------------------------------------------------------


def test_utf8_csv_with_bom_and_commas(tmp_path):
    path = tmp_path / "upload"
    text = 'nom,ville,note\r\n"Dupont, Jean",Sète,"sur\r\ndeux lignes"\r\n\r\nÉlodie,,""\r\n'
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    [(name, rows)] = read(path, filename="membres.csv")
    assert name == ""
    assert rows == [
        (1, ["nom", "ville", "note"]),
        (2, ["Dupont, Jean", "Sète", "sur\r\ndeux lignes"]),
        (3, []),
        (4, ["Élodie", None, None]),
    ]


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_csv_delimiter_is_sniffed(tmp_path, delimiter):
    lines = [
        ["id", "nom", "montant", "adresse"],
        ["1", "Oc Data", "550,00", "12 rue Blanc"],
        ["2", "Sud Lab", "1 200,00 €", "3, place du Marché"],
        ["3", "Gardon IA", "300", "avenue Roux"],
    ]
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(lines)
    path = tmp_path / "export.txt"
    path.write_text(text.getvalue(), encoding="utf-8")
    [(_, rows)] = read(path)
    assert [cells for _, cells in rows] == lines


def test_tab_separated_utf16_from_excel_unicode_text(tmp_path):
    path = tmp_path / "membres.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "nom\tville\r\nÉlodie\tSète\r\n".encode("utf-16-le"))
    [(_, rows)] = read(path)
    assert rows == [(1, ["nom", "ville"]), (2, ["Élodie", "Sète"])]


def test_windows_1252_csv(tmp_path):
    path = tmp_path / "membres.csv"
    path.write_bytes("nom;cotisation\r\nCévenne Soft;1 200,00 €\r\n".encode("cp1252"))
    [(_, rows)] = read(path)
    assert rows == [(1, ["nom", "cotisation"]), (2, ["Cévenne Soft", "1 200,00 €"])]


def test_single_column_csv(tmp_path):
    path = tmp_path / "emails.csv"
    path.write_text("email\nanne@example.fr\n\npaul@example.fr\n", encoding="utf-8")
    [(_, rows)] = read(path)
    assert rows == [(1, ["email"]), (2, ["anne@example.fr"]), (3, []), (4, ["paul@example.fr"])]


def test_text_neither_utf8_nor_windows_1252_is_refused(tmp_path):
    path = tmp_path / "membres.csv"
    path.write_bytes(b"nom;ville\r\nOc\x81Data;Albi\r\n")  # 0x81 means nothing in Windows-1252
    assert "ni UTF-8 ni Windows-1252" in refusal(path)


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert refusal(path) == (
        "Le fichier « photo.csv » n’est ni un classeur (.xlsx, .ods, .xls) ni un fichier CSV : "
        "son contenu est binaire."
    )


# --- Workbooks ------------------------------------------------------------------------------------


def test_xlsx_cells_and_leading_empty_rows_and_columns(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Membres"
    sheet["C4"] = "Nom"
    sheet["D4"] = 600.0
    sheet["E4"] = 58187066411345
    sheet["F4"] = 1.5
    sheet["C6"] = datetime.datetime(2017, 12, 31)
    sheet["D6"] = datetime.datetime(2017, 12, 31, 13, 45)
    sheet["E6"] = True
    sheet["F6"] = datetime.time(10, 30)
    sheet["G6"] = datetime.timedelta(hours=36, minutes=30)
    workbook.create_sheet("Vide")
    workbook.create_sheet("Autre")["A1"] = "x"
    path = tmp_path / "upload.bin"  # the format comes from the content
    workbook.save(path)

    sheets = read(path, filename="membres.xlsx")

    assert [name for name, _ in sheets] == ["Membres", "Vide", "Autre"]
    rows = sheets[0][1]
    assert [number for number, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert all(cells == [None] * 7 for _, cells in rows[:3] + rows[4:5])
    assert rows[3] == (4, [None, None, "Nom", 600, 58187066411345, 1.5, None])
    assert rows[5] == (
        6,
        [
            None,
            None,
            datetime.date(2017, 12, 31),
            datetime.datetime(2017, 12, 31, 13, 45),
            True,
            datetime.time(10, 30),
            "36:30:00",
        ],
    )
    assert type(rows[3][1][3]) is int
    assert type(rows[5][1][2]) is datetime.date
    assert sheets[1] == ("Vide", [])
    assert sheets[2] == ("Autre", [(1, ["x"])])


def _ods_cell(value: object = None, repeat: int = 1) -> TableCell:
    options = {"numbercolumnsrepeated": repeat} if repeat > 1 else {}
    if value is None:
        return TableCell(**options)
    if isinstance(value, bool):
        cell = TableCell(valuetype="boolean", booleanvalue=str(value).lower(), **options)
    elif isinstance(value, int | float):
        cell = TableCell(valuetype="float", value=value, **options)
    elif isinstance(value, datetime.date):
        cell = TableCell(valuetype="date", datevalue=value.isoformat(), **options)
    else:
        cell = TableCell(valuetype="string", **options)
    cell.addElement(P(text=str(value)))
    return cell


def test_ods_with_leading_empty_rows_and_columns(tmp_path):
    document = OpenDocumentSpreadsheet()
    table = Table(name="Adhérents")
    document.spreadsheet.addElement(table)
    blank = TableRow(numberrowsrepeated=2)
    blank.addElement(_ods_cell(repeat=4))
    table.addElement(blank)
    for values in [
        ["Nom", "Code postal", "Montant", "Fin"],
        ["Oc Data", 32000, 1.5, datetime.date(2017, 12, 31)],
        [],
        ["Sud Lab", 9100, True, datetime.datetime(2017, 12, 31, 13, 45)],
    ]:
        row = TableRow()
        row.addElement(_ods_cell())  # column A stays empty
        for value in values:
            row.addElement(_ods_cell(value))
        table.addElement(row)
    second = Table(name="Notes")
    document.spreadsheet.addElement(second)
    row = TableRow()
    row.addElement(_ods_cell("x"))
    second.addElement(row)
    path = tmp_path / "upload"
    document.save(str(path))

    sheets = read(path, filename="membres.ods")

    assert [name for name, _ in sheets] == ["Adhérents", "Notes"]
    assert sheets[0][1] == [
        (1, [None] * 5),
        (2, [None] * 5),
        (3, [None, "Nom", "Code postal", "Montant", "Fin"]),
        (4, [None, "Oc Data", 32000, 1.5, datetime.date(2017, 12, 31)]),
        (5, [None] * 5),
        (6, [None, "Sud Lab", 9100, True, datetime.datetime(2017, 12, 31, 13, 45)]),
    ]
    assert sheets[1] == ("Notes", [(1, ["x"])])


# --- Refused files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"", codecs.BOM_UTF8, b" \r\n\t\n", codecs.BOM_UTF16_LE + " \n".encode("utf-16-le")]
)
def test_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "upload"
    path.write_bytes(content)
    assert refusal(path, filename="membres.csv") == "Le fichier « membres.csv » est vide."


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        (
            "membres.xlsx",
            "Le fichier « membres.xlsx » n’est pas un classeur Excel valide "
            "(ce n’est pas une archive zip).",
        ),
        (
            "membres.ods",
            "Le fichier « membres.ods » n’est pas un classeur OpenDocument valide "
            "(ce n’est pas une archive zip).",
        ),
        (
            "membres.XLS",
            "Le fichier « membres.XLS » n’est pas un classeur Excel valide (son contenu n’est pas "
            "celui d’un fichier .xls) : ouvrez-le dans un tableur et enregistrez-le en .xlsx.",
        ),
    ],
)
def test_workbook_name_with_text_content_is_refused(tmp_path, filename, message):
    path = tmp_path / filename
    path.write_text("nom;ville\nOc Data;Albi\n", encoding="utf-8")
    assert refusal(path) == message


def test_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "membres.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("membres.csv", "nom;ville\n")
    assert refusal(path) == (
        "Le fichier « membres.xlsx » est une archive zip qui ne contient pas de classeur "
        "Excel (.xlsx) ou OpenDocument (.ods)."
    )


def test_damaged_zip_is_refused(tmp_path, samples):
    path = tmp_path / "membres.xlsx"
    content = (samples / "digitalplace.xlsx").read_bytes()
    path.write_bytes(content[: len(content) // 2])
    assert refusal(path) == (
        "Le fichier « membres.xlsx » est endommagé : l’archive zip ne peut pas être lue."
    )


def test_ole2_file_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "membres.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    assert refusal(path).startswith(
        "Le fichier « membres.xls » est un classeur endommagé ou illisible ("
    )


def _bomb(path: Path, sheet_size: int, chunk: bytes = bytes(MB)) -> None:
    """An XLSX-looking zip whose sheet inflates to ``sheet_size`` bytes of ``chunk``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(sheet_size // len(chunk)):
                sheet.write(chunk)


def test_zip_bomb_is_refused_by_its_compression_ratio(tmp_path):
    path = tmp_path / "membres.xlsx"
    _bomb(path, 50 * MB)  # about 1000:1, well under the total limit
    assert path.stat().st_size < 100_000
    assert refusal(path) == (
        "Le fichier « membres.xlsx » est refusé : une fois décompressé, son contenu serait "
        "anormalement gros (50,1 Mo)."
    )


def test_zip_bomb_is_refused_by_its_total_size(tmp_path, settings):
    settings.IMPORT_MAX_UNCOMPRESSED_SIZE = 2 * MB
    path = tmp_path / "membres.xlsx"
    _bomb(path, 3 * MB, chunk=os.urandom(MB))  # incompressible: the ratio is not what refuses it
    assert "une fois décompressé, son contenu serait anormalement gros (3,1 Mo)" in refusal(path)


def test_zip_that_inflates_beyond_its_declared_size_is_refused(tmp_path):
    path = tmp_path / "membres.xlsx"
    _bomb(path, 5 * MB)
    # Declare 1,000 bytes for the sheet, in its local header and its central directory entry:
    # too small for the ratio rule, so only inflating the sheet can tell.
    content = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    local = content.index(b"PK\x03\x04" + content[4:26])  # first member, to skip past
    local = content.index(name, local + 30) - 30
    central = content.index(name, content.index(b"PK\x01\x02")) - 46
    struct.pack_into("<I", content, local + 22, 1000)
    struct.pack_into("<I", content, central + 24, 1000)
    path.write_bytes(bytes(content))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size == 1000

    assert refusal(path) == (
        "Le fichier « membres.xlsx » est endommagé : l’archive zip ne peut pas être lue."
    )


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path, settings):
    settings.IMPORT_MAX_FILE_SIZE = MB // 2
    path = tmp_path / "upload"
    path.write_bytes(b"nom;ville\n" * 60_000)  # not a workbook: refused otherwise if parsed
    assert refusal(path, filename="membres.xlsx") == (
        "Le fichier « membres.xlsx » fait 0,6 Mo : la taille maximale est 0,5 Mo."
    )


def test_size_message(tmp_path):
    path = tmp_path / "upload"
    with path.open("wb") as file:
        file.truncate(int(25.25 * MB))  # sparse: nothing is written
    assert refusal(path, filename="gros.xlsx") == (
        "Le fichier « gros.xlsx » fait 25,3 Mo : la taille maximale est 20 Mo."
    )


def test_sheet_data_from_rows():
    sheet = SheetData.from_rows("Feuille", [["a", None], []])
    assert sheet.name == "Feuille"
    assert list(sheet.rows()) == list(sheet.rows()) == [(1, ["a", None]), (2, [])]


def test_empty_rows_are_skipped_on_request_and_the_others_keep_their_numbers(tmp_path):
    csv_path = tmp_path / "membres.csv"
    csv_path.write_bytes(b"nom;ville\n\n;\n ; \nAlpha;Albi\n;;\n")
    book = openpyxl.Workbook()
    for row in (["nom", "ville"], [], [None, None], ["Alpha", 0]):
        book.active.append(row)
    xlsx_path = tmp_path / "membres.xlsx"
    book.save(xlsx_path)

    [sheet] = open_spreadsheet(csv_path)
    assert list(sheet.rows(skip_empty=True)) == [
        (1, ["nom", "ville"]),
        (4, [" ", " "]),  # spaces are not empty: the importer decides about them
        (5, ["Alpha", "Albi"]),
    ]
    assert len(list(sheet.rows())) == 6
    [sheet] = open_spreadsheet(xlsx_path)
    assert list(sheet.rows(skip_empty=True)) == [(1, ["nom", "ville"]), (4, ["Alpha", 0])]
    assert list(SheetData.from_rows("", [["a"], [None], []]).rows(skip_empty=True)) == [(1, ["a"])]
