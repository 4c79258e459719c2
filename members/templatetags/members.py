"""Template filters of the member area: amounts written the way the active language writes them."""

from decimal import Decimal

from django import template

from members.documents import money as money_format

register = template.Library()


@register.filter
def money(amount: Decimal | None) -> str:
    """``{{ invoice.amount|money }}``: "1 200,00 €" in French, "€1,200.00" in English (the same
    formatting as the PDFs)."""
    return "" if amount is None else money_format(amount)
