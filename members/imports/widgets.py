"""django-import-export widgets for the clusters' spreadsheets: French numbers, dates and booleans,
SIRET/SIREN as people and Excel write them, and text that is never a formula.

``clean`` turns a cell (``None``, ``str``, ``int``, ``float``, ``date``, ``datetime``, ``bool``, as
:mod:`members.imports.readers` gives them) into a Python value, or raises ``ValueError`` with a
:class:`~members.texts.Text` naming the value and what is wrong: the import reports it with the row
and column, and shows it in the language of whoever reads the report.
``render`` writes the value back as a cluster's staff would type it, so that an export re-imports
to the same values.
"""

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from import_export import widgets

from members.texts import Text
from members.validators import clean_siren, clean_siret, validate_siren, validate_siret

#: Spaces people and spreadsheets put inside numbers: space, no-break space, narrow no-break space,
#: thin space.
_NUMBER_SPACES = re.compile(r"[ \u00a0\u202f\u2009]")
_FORMULA = re.compile(r"^(=|[+\-@][^\s\d]*\()")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_CENT = Decimal("0.01")
#: How the clusters' files write a date, whatever the language of who reads or writes them.
FILE_DATE_FORMAT = "%d/%m/%Y"


def normalise_label(value: object) -> str:
    """Lower-case, without accents, typographic apostrophes or repeated spaces: how headers, plan
    and site names are compared."""
    text = unicodedata.normalize("NFKD", str(value))
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.replace("’", "'").replace("‘", "'").replace("º", "°")
    return " ".join(text.casefold().split())


def cell_text(value: object) -> str:
    """A cell as text: whole numbers without ``.0``, dates as dd/mm/yyyy, trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime(FILE_DATE_FORMAT)
    return str(value).strip()


def _quoted(text: str) -> Text:
    return Text("import.quoted", value=text)


def _shown(value: object) -> str:
    text = cell_text(value)
    return text if len(text) <= 40 else text[:39] + "…"


class TextWidget(widgets.CharWidget):
    """Free text: trimmed, numbers without ``.0``, at most ``max_length`` characters, and never a
    formula (``=…``, ``+SUM(…)``), which spreadsheet software would run when the file is opened."""

    def __init__(self, *, max_length: int, required: bool = False, missing_code: str = ""):
        super().__init__(allow_blank=True)
        self.max_length = max_length
        self.required = required
        #: The code (:mod:`members.texts`) of the refusal of a blank cell.
        self.missing_code = missing_code or "import.value_missing"

    def clean(self, value, row=None, **kwargs):
        return self.clean_text(cell_text(value))

    def clean_text(self, text: str, *, escaped: bool = False) -> str:
        if not text:
            if self.required:
                raise ValueError(Text(self.missing_code))
            return ""
        if not escaped and _FORMULA.match(text):
            raise ValueError(Text("import.formula", value=_shown(text)))
        if len(text) > self.max_length:
            raise ValueError(Text("import.too_long", value=_shown(text), max=self.max_length))
        return text


class PersonNameWidget(TextWidget):
    """A first or last name; one written in capitals (« ROUX », as French forms write surnames)
    is stored in title case (« Roux »), so that two files writing it differently agree."""

    def clean_text(self, text: str, *, escaped: bool = False) -> str:
        text = super().clean_text(text, escaped=escaped)
        if len(text) > 1 and text.isupper():
            text = text.title()
        return text


#: How text that spreadsheet software would run as a formula starts (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """Prefix member-supplied text that spreadsheet software would run as a formula (it starts with
    ``= + - @``, a tab or a carriage return) with an apostrophe; and text that starts with an
    apostrophe before one of those, so that :func:`unescape_formula` gives it back exactly."""
    if text.startswith(FORMULA_STARTS) or (text[:1] == "'" and text[1:].startswith(FORMULA_STARTS)):
        return "'" + text
    return text


def unescape_formula(value):
    """``(text, True)`` when ``value`` is text that :func:`escape_formula` escaped, else
    ``(value, False)``."""
    if isinstance(value, str) and value[:1] == "'" and escape_formula(value[1:]) == value:
        return value[1:], True
    return value, False


class UnescapingMixin:
    """For the project's own export, where :func:`escape_formula` put an apostrophe before text
    that spreadsheet software would run: the widget reads the text behind it, as it was stored,
    and does not refuse it as a formula."""

    def clean(self, value, row=None, **kwargs):
        value, escaped = unescape_formula(value)
        if escaped and isinstance(self, TextWidget):
            return self.clean_text(value.rstrip(), escaped=True)
        return super().clean(value, row, **kwargs)


_UNESCAPING: dict[type, type] = {}


def unescaping(widget_class: type) -> type:
    """``widget_class`` reading the export's escaped text (see :class:`UnescapingMixin`)."""
    if widget_class not in _UNESCAPING:
        _UNESCAPING[widget_class] = type(
            f"Unescaping{widget_class.__name__}", (UnescapingMixin, widget_class), {}
        )
    return _UNESCAPING[widget_class]


class EmailWidget(widgets.CharWidget):
    """An e-mail address, trimmed and lower-cased (allauth matches addresses lower-cased)."""

    validator = EmailValidator()

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value).lower()
        if not text:
            return ""
        try:
            self.validator(text)
        except ValidationError:
            raise ValueError(Text("import.email_invalid", value=_shown(text))) from None
        if len(text) > 254:
            raise ValueError(Text("import.email_too_long"))
        return text


class _IdentifierWidget(widgets.CharWidget):
    """SIRET or SIREN: spaces and dots removed, Excel numbers back to text with their leading
    zeros, Luhn key checked by python-stdnum."""

    digits = 14

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The import cleans each SIRET twice (to load the stored organisations, then the row):
        # the Luhn check is the costly part.
        self._cleaned = {}

    def compact(self, text: str) -> str:
        raise NotImplementedError

    def validate(self, text: str) -> None:
        raise NotImplementedError

    def clean(self, value, row=None, **kwargs):
        try:
            return self._cleaned[value]
        except (KeyError, TypeError):
            pass
        cleaned = self._clean(value)
        if len(self._cleaned) < 200_000:
            self._cleaned[value] = cleaned
        return cleaned

    def _clean(self, value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value).zfill(self.digits)
        else:
            text = self.compact(_NUMBER_SPACES.sub("", cell_text(value)))
        if not text:
            return ""
        try:
            self.validate(text)
        except ValidationError as exc:
            error = exc.error_list[0]
            raise ValueError(Text(f"import.identifier_{error.code}", **error.params)) from None
        return text


class SiretWidget(_IdentifierWidget):
    digits = 14

    def compact(self, text):
        return clean_siret(text)

    def validate(self, text):
        validate_siret(text)


class SirenWidget(_IdentifierWidget):
    digits = 9

    def compact(self, text):
        return clean_siren(text)

    def validate(self, text):
        validate_siren(text)


class PostcodeWidget(widgets.CharWidget):
    """A French postcode, 5 digits; Excel drops the leading zero of 01xxx–09xxx, put it back."""

    def clean(self, value, row=None, **kwargs):
        text = _NUMBER_SPACES.sub("", cell_text(value))
        if not text:
            return ""
        if text.isdigit() and len(text) == 4:
            text = "0" + text
        if not (text.isdigit() and len(text) == 5):
            raise ValueError(Text("import.postcode_invalid", value=_shown(value)))
        return text


class HeadcountWidget(widgets.IntegerWidget):
    """A number of employees: a whole number, zero or more."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value
        else:
            text = _NUMBER_SPACES.sub("", cell_text(value)).replace(",", ".")
            if not text:
                return None
            try:
                number = float(text)
            except ValueError:
                number = None
        if number is None or number < 0 or not float(number).is_integer():
            raise ValueError(Text("import.headcount_invalid", value=_shown(value)))
        return int(number)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class FrenchDecimalWidget(widgets.DecimalWidget):
    """An amount in euros: a number cell, or text as French people write it (``1 200,00 €``, with
    a space, no-break space or narrow no-break space between thousands). Never negative."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            amount = None
        elif isinstance(value, int | float | Decimal):
            amount = Decimal(str(value))
        else:
            text = _NUMBER_SPACES.sub("", cell_text(value))
            text = re.sub(r"(€|eur(os?)?)$", "", text, flags=re.IGNORECASE)
            if not text:
                return None
            if "," in text and "." in text:
                # The last separator is the decimal one: 1.200,50 or 1,200.50.
                thousands = "." if text.rfind(",") > text.rfind(".") else ","
                text = text.replace(thousands, "")
            text = text.replace(",", ".")
            try:
                amount = Decimal(text) if re.fullmatch(r"[+-]?\d+(\.\d*)?", text) else None
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            raise ValueError(Text("import.amount_invalid", value=_shown(value)))
        if amount < 0:
            raise ValueError(Text("import.amount_negative", value=_shown(value)))
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return f"{Decimal(value):.2f}".replace(".", ",")


class FrenchDateWidget(widgets.DateWidget):
    """A date cell, or text ``jj/mm/aaaa`` (also ``jj-mm-aaaa``, ``jj.mm.aaaa`` and ISO
    ``aaaa-mm-jj``); never read month first. A number is an Excel date serial."""

    _DAY_FIRST = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})")
    _ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")

    def __init__(self):
        super().__init__(format=FILE_DATE_FORMAT)

    def clean(self, value, row=None, **kwargs):
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            if 10_000 <= value <= 100_000:
                return _EXCEL_EPOCH + dt.timedelta(days=int(value))
            raise self._invalid(value)
        text = cell_text(value)
        if not text:
            return None
        text = text.split(" ")[0] if re.fullmatch(r"\S+ 00:00(:00)?", text) else text
        if match := self._DAY_FIRST.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
            if len(match.group(3)) == 2:
                year += 2000 if year < 70 else 1900
        elif match := self._ISO.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
        else:
            raise self._invalid(value)
        try:
            return dt.date(year, month, day)
        except ValueError:
            raise self._invalid(value) from None

    def _invalid(self, value) -> ValueError:
        return ValueError(Text("import.date_invalid", value=_shown(value)))

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value.strftime(FILE_DATE_FORMAT)


class OuiNonWidget(widgets.BooleanWidget):
    """Oui/Non in any case (also O/N, Yes/No, Vrai/Faux, 1/0, X for yes); blank is ``None``."""

    TRUE = frozenset({"oui", "o", "yes", "y", "vrai", "true", "1", "x", "payee", "reglee"})
    FALSE = frozenset({"non", "n", "no", "faux", "false", "0"})

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, bool):
            return value
        text = normalise_label(cell_text(value))
        if not text:
            return None
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise ValueError(Text("import.yes_no_invalid", value=_shown(value)))

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return "Oui" if value else "Non"


class ChoiceWidget(widgets.Widget):
    """One of a few values, matched on their normalised labels and aliases; renders the first
    label of the value."""

    def __init__(self, choices: dict[str, tuple[str, ...]], *, label: str):
        super().__init__()
        self.choices = choices
        self.label = label
        self.lookup = {
            normalise_label(alias): value
            for value, aliases in choices.items()
            for alias in (value, *aliases)
        }

    def clean(self, value, row=None, **kwargs):
        text = normalise_label(cell_text(value))
        if not text:
            return ""
        try:
            return self.lookup[text]
        except KeyError:
            expected = [_quoted(aliases[0]) for aliases in self.choices.values()]
            raise ValueError(
                Text(
                    "import.choice_invalid",
                    label=self.label,
                    value=_shown(value),
                    expected=expected,
                )
            ) from None

    def render(self, value, obj=None, **kwargs):
        if not value:
            return ""
        return self.choices[value][0]


class NamedObjectWidget(widgets.ForeignKeyWidget):
    """A plan or site of the cluster being imported, by its name, whatever its case, accents and
    spacing. The cluster's objects are read once, when the widget first cleans a value."""

    def __init__(self, model, *, label: str, **kwargs):
        super().__init__(model, field="name", **kwargs)
        self.label = label
        self.cluster = None
        self._by_name = None

    def get_queryset(self, value, row, *args, **kwargs):
        return self.model.objects.filter(cluster=self.cluster)

    def clean(self, value, row=None, **kwargs):
        text = normalise_label(cell_text(value))
        if not text:
            return None
        if self._by_name is None:
            self._by_name = {
                normalise_label(obj.name): obj for obj in self.get_queryset(value, row)
            }
        try:
            return self._by_name[text]
        except KeyError:
            names = sorted(obj.name for obj in self._by_name.values())
            known = [_quoted(name) for name in names]
            raise ValueError(
                Text(
                    "import.object_unknown",
                    label=self.label,
                    value=_shown(value),
                    cluster=str(self.cluster),
                    known=known or "—",
                )
            ) from None
