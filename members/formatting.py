"""How amounts, dates and bank details are written, in the active language, everywhere a user
reads them: PDFs, e-mails, the member area, the admin, messages and management commands.

Pure functions: they read nothing but their argument and the active language (``translation``),
and use the date formats of Django's locales as the project overrides them (``cluster/formats``:
English dates never put the month first in numbers). Templates reach them through the
``members`` template filters of the same names.
"""

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone, translation
from django.utils.formats import date_format, number_format
from stdnum import iban as stdnum_iban

#: Where the euro sign goes, per language; French puts it after the number, past a no-break space.
CURRENCY_PATTERNS = {"fr": "{amount}\xa0€", "en": "€{amount}"}


def _language() -> str:
    """The active language's code without its region ("fr" for "fr-ca"), French by default."""
    return (translation.get_language() or "fr").split("-")[0]


def _local(day: date) -> date:
    """``day``, or the moment ``day`` in the project's time zone when it is an aware datetime."""
    if isinstance(day, datetime) and timezone.is_aware(day):
        return timezone.localtime(day)
    return day


def money(amount: Decimal) -> str:
    """``amount`` in euros the way the active language writes it: "1 200,00 €" in French (with
    no-break spaces), "€1,200.00" in English."""
    number = number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)
    return CURRENCY_PATTERNS.get(_language(), CURRENCY_PATTERNS["fr"]).format(amount=number)


def long_date(day: date) -> str:
    """``day`` written out in the active language: "1er janvier 2027", "15 mars 2027" in
    French (the first of the month is "1er", which Django's formats cannot write), "March 15,
    2027" in English."""
    day = _local(day)
    if _language() == "fr" and day.day == 1:
        return f"1er {date_format(day, 'F Y')}"
    return date_format(day, "DATE_FORMAT")


def short_date(day: date) -> str:
    """``day`` in numbers or abbreviated, for tables and messages: "05/12/2026" in French,
    "5 Dec 2026" in English (never the month first in numbers)."""
    return date_format(_local(day), "SHORT_DATE_FORMAT")


def short_datetime(moment: datetime) -> str:
    """``moment`` in the project's time zone, short: "05/12/2026 14:30" in French, "5 Dec 2026
    14:30" in English."""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "SHORT_DATETIME_FORMAT")


def iban(value: str) -> str:
    """``FR76 3000 6000 0112 3456 7890 189``: upper case, in groups of four, as printed on bank
    details; "" for no IBAN."""
    return stdnum_iban.format(value) if value and value.strip() else ""


def month(day: date) -> str:
    """``day``'s month and year in the active language: "décembre 2026", "December 2026"."""
    return date_format(_local(day), "YEAR_MONTH_FORMAT")


#: Where the percent sign goes, per language; French puts it past a no-break space.
PERCENT_PATTERNS = {"fr": "{number}\xa0%", "en": "{number}%"}


def percent(value: Decimal) -> str:
    """``value`` (a percentage) the way the active language writes it, decimals only when it
    has any: "12 %", "10,15 %" in French, "12%", "10.15%" in English."""
    decimals = 0 if value == value.to_integral_value() else 2
    number = number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)
    return PERCENT_PATTERNS.get(_language(), PERCENT_PATTERNS["fr"]).format(number=number)
