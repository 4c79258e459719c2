"""The staff's day in a real browser, at 1280 px and on a 375 px phone: the dashboard, a renewal
due this month, the bank transfer recorded on its invoice, and the dashboard again, with one
unpaid invoice less."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from members.formatting import month, short_date
from members.models import Invoice, PaymentMethod
from members.selectors import month_last_day
from members.services.billing import invoice_issue
from tests.factories import TermFactory, cluster, staff_user
from tests.members.billing_helpers import legal_details

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def figure(page, label: str):
    """The number of the dashboard's figure ``label``."""
    tile = page.locator(".dashboard-figure").filter(
        has=page.locator(".dashboard-label", has_text=label)
    )
    return tile.locator(".dashboard-value")


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_staff_go_from_the_dashboard_to_a_due_renewal_and_record_its_transfer(
    live_server, page, settings, width
):
    page.set_viewport_size({"width": width, "height": 900})
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    today = timezone.localdate()
    legal_details("digitalplace")
    # A membership whose term ends this month, unpaid, invoiced; and another unpaid invoice.
    due = TermFactory(
        membership__cluster=cluster("digitalplace"),
        membership__organisation__name="Ondes Courtes",
        start_date=month_last_day(today) - timedelta(days=364),
        end_date=month_last_day(today),
        is_paid=False,
    )
    invoice = invoice_issue(term=due, on=today)
    invoice_issue(
        term=TermFactory(
            membership__cluster=cluster("digitalplace"),
            start_date=today,
            end_date=today + timedelta(days=364),
            is_paid=False,
        ),
        on=today,
    )
    user = staff_user("digitalplace")
    with translation.override("fr"):
        this_month, received_on = month(today), short_date(today)

    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", "motdepasse-de-test")
    page.get_by_role("button", name="Connexion").click()

    expect(page.get_by_role("heading", name="DigitalPlace")).to_be_visible()
    expect(figure(page, "Factures impayées")).to_have_text("2")
    expect(figure(page, "Virements à enregistrer")).to_have_text("2")
    expect(figure(page, f"À renouveler en {this_month}")).to_have_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    page.locator(".dashboard-figure").filter(has_text=f"À renouveler en {this_month}").locator(
        "a"
    ).first.click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("a").first.click()

    page.get_by_role("link", name=invoice.number).click()
    payment = page.locator("tr.form-row:not(.empty-form)").filter(
        has=page.locator("input[name$='-amount']")
    )
    payment.locator("input[name$='-amount']").fill("300")
    payment.locator("input[name$='-received_on']").fill(received_on)
    payment.locator("select[name$='-method']").select_option(PaymentMethod.TRANSFER)
    payment.locator("input[name$='-reference']").fill(invoice.number)
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(invoice.number)

    page.get_by_role("link", name="Accueil").first.click()
    expect(figure(page, "Facture impayée")).to_have_text("1")
    expect(figure(page, "Virement à enregistrer")).to_have_text("1")
    assert Invoice.objects.get(pk=invoice.pk).paid_on == today
