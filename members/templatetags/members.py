"""Template filters of the site, the e-mails and the admin: amounts, dates and bank details
written the way the active language writes them (``members.formatting``, as in the PDFs).
A missing value (``None``, "") gives "", so that ``|default:"–"`` can follow."""

from datetime import date, datetime
from decimal import Decimal

from django import template

from members import formatting, texts
from members.models import Cluster
from members.services.accounts import login_code_validity_minutes

register = template.Library()


@register.filter
def money(amount: Decimal | None) -> str:
    """``{{ invoice.amount|money }}``: "1 200,00 €" in French, "€1,200.00" in English."""
    return "" if amount is None or amount == "" else formatting.money(amount)


@register.filter(expects_localtime=True)
def long_date(day: date | None) -> str:
    """``{{ term.start_date|long_date }}``: "1er janvier 2027", "January 1, 2027"."""
    return formatting.long_date(day) if day else ""


@register.filter(expects_localtime=True)
def short_date(day: date | None) -> str:
    """``{{ term.start_date|short_date }}``: "01/01/2027", "1 Jan 2027"."""
    return formatting.short_date(day) if day else ""


@register.filter(expects_localtime=True)
def short_datetime(moment: datetime | None) -> str:
    """``{{ record.created_at|short_datetime }}``: "05/12/2026 14:30", "5 Dec 2026 14:30"."""
    return formatting.short_datetime(moment) if moment else ""


@register.filter
def iban(value: str | None) -> str:
    """``{{ issuer.iban|iban }}``: "FR76 3000 6000 0112 3456 7890 189"."""
    return formatting.iban(value or "")


@register.filter(expects_localtime=True)
def month(day: date | None) -> str:
    """``{{ dashboard.this_month|month }}``: "décembre 2026", "December 2026"."""
    return formatting.month(day) if day else ""


@register.simple_tag
def login_code_minutes() -> int:
    """``{% login_code_minutes as minutes %}``: how many minutes a sign-in code stays valid, the
    figure its e-mail gives too (:func:`~members.services.accounts.login_code_validity_minutes`)."""
    return login_code_validity_minutes()


@register.filter
def text(value, separator: str = " ; ") -> str:
    """``{{ refusal.message|text }}``: a text stored as a code and its values
    (:mod:`members.texts`) in the reader's language; plain text stored before, as it is. A list of
    them is joined by " ; ", or by the separator given (``|text:" "``)."""
    if isinstance(value, list):
        return separator.join(texts.texts_render(value))
    return texts.text_render(value)


@register.simple_tag
def successor_name() -> str:
    """The successor cluster's name, as data: pages follow when the committee names it."""
    return (
        Cluster.objects.filter(kind=Cluster.Kind.SUCCESSOR)
        .order_by("pk")
        .values_list("name", flat=True)
        .first()
        or ""
    )
