"""Refunds in a real browser, at 1280 px: staff see what is left to refund on an invoice paid
twice, record a transfer refund on its confirmation page with a reason, and find it on the
invoice's page; the invoice is no longer over-paid. No page is wider than the window."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from members.models import InvoiceStatus, Refund, RefundState
from members.selectors import invoice_with_balance
from members.services.billing import invoice_issue, invoice_payment_record
from tests.factories import TermFactory, cluster
from tests.test_browser_back_office_members import fits, sign_in

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 12, 1, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=True)


def test_staff_refund_an_invoice_paid_twice_by_transfer(live_server, page):
    term = TermFactory(
        membership__cluster=cluster("digitalplace"),
        membership__organisation__name="Garonne Data",
        year=2027,
        fee=Decimal("300.00"),
        is_paid=False,
    )
    invoice = invoice_issue(term=term, on=dt.date(2026, 11, 2))
    for reference in ("VIR GARONNE", "CHQ 1234"):
        invoice_payment_record(
            invoice=invoice,
            amount=Decimal("300.00"),
            received_on=dt.date(2026, 11, 20),
            reference=reference,
        )
    sign_in(page, live_server, f"/admin/members/invoice/{invoice.pk}/change/")

    overpaid = page.locator(".field-refund_actions").inner_text().replace("\xa0", " ")
    assert "À rembourser : 300,00 €" in overpaid
    assert "Rembourser par carte" not in overpaid, "no card payment to refund"
    page.get_by_role("link", name="Enregistrer un remboursement par virement").click()
    assert fits(page)
    assert page.get_by_label("Montant (€)").input_value() == "300,00"
    page.get_by_label("Référence du virement").fill("REMB GARONNE")
    page.get_by_label("Motif").fill("Payée par virement puis par chèque.")
    page.locator("input[type=submit]").click()

    assert "par virement enregistré" in page.locator(".messagelist").inner_text()
    refunds = page.locator("table.refunds").inner_text().replace("\xa0", " ")
    assert "300,00 €" in refunds and "Remboursé" in refunds and "REMB GARONNE" in refunds
    assert "Payée par virement puis par chèque." in refunds
    assert fits(page)
    refund = Refund.objects.get()
    assert refund.state == RefundState.SUCCEEDED
    assert invoice_with_balance(invoice=invoice).status == InvoiceStatus.PAID
