"""Refunds in the admin and the member area: the invoice's page shows what is left to refund and
the ways to refund it to staff of its cluster (each a confirmation page with a reason), the
committee reads, other clusters' staff do not find it; malformed values are form errors; a
double submit records once; the dashboard counts the invoices to refund as the list filters
them; the member sees the refunds and the one in progress."""

# The fixture stripe_api is imported from the card payment's tests, and asked for by name.
# ruff: noqa: F811

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import Invoice, InvoiceStatus, Payment, PaymentMethod, Refund, RefundState
from members.selectors import invoice_with_balance
from members.services.billing import credit_note_issue, invoice_payment_record
from tests.factories import staff_user
from tests.members.billing_helpers import member_invoice, signed_in_invoice
from tests.members.test_payments import stripe_api, webhook_post  # noqa: F401
from tests.members.test_refunds import _next_year_invoice, paid_by_transfer_and_card

pytestmark = pytest.mark.django_db

REASON = "Payé deux fois"


@pytest.fixture
def member_client(client):
    return client


@pytest.fixture
def overpaid(member_client, stripe_api):
    """A member's invoice of 300 € paid by transfer and by card: 300 € to refund."""
    invoice = signed_in_invoice(member_client)
    paid_by_transfer_and_card(member_client, stripe_api, invoice)
    return invoice


@pytest.fixture
def staff(client, dp_staff):
    client.force_login(dp_staff)
    return client


def page_url(invoice: Invoice) -> str:
    return reverse("admin:members_invoice_change", args=[invoice.pk])


def refund_url(invoice: Invoice, kind: str) -> str:
    return reverse("admin:members_invoice_refund", args=[invoice.pk, kind])


def text(response) -> str:
    """The page's text, tags left out, no-break spaces read as spaces."""
    return html.unescape(re.sub(r"<[^>]+>", "", response.content.decode())).replace("\xa0", " ")


def messages(response) -> str:
    return "\n".join(str(m) for m in get_messages(response.wsgi_request)).replace("\xa0", " ")


def post(client, invoice, kind, **data):
    data.setdefault("version", Refund.objects.filter(invoice=invoice).count())
    data.setdefault("reason", REASON)
    return client.post(refund_url(invoice, kind), data)


ACTIONS = (
    "Rembourser par carte",
    "Enregistrer un remboursement par virement",
    "Reporter sur une autre facture",
    "Rouvrir l’adhésion avec une nouvelle facture",
)


def actions_shown(response) -> list[str]:
    page = html.unescape(response.content.decode())
    return [label for label in ACTIONS if f">{label}</a>" in page]


# --- The invoice's page -------------------------------------------------------------------------


def test_staff_see_what_to_refund_and_the_ways_to_refund_it(overpaid, staff):
    response = staff.get(page_url(overpaid))

    assert response.status_code == 200
    assert "À rembourser : 300,00 €" in text(response)
    assert actions_shown(response) == list(ACTIONS[:2])

    _next_year_invoice(overpaid)
    assert actions_shown(staff.get(page_url(overpaid))) == list(ACTIONS[:3])


def test_the_committee_reads_the_refunds_and_cannot_refund(overpaid, client, committee):
    Refund.objects.create(
        invoice=overpaid,
        amount=Decimal("20"),
        refunded_on=timezone.localdate(),
        reason=REASON,
    )
    client.force_login(committee)

    response = client.get(page_url(overpaid))

    assert response.status_code == 200
    assert "À rembourser : 280,00 €" in text(response)
    assert "Remboursé" in text(response) and REASON in text(response)
    assert actions_shown(response) == []
    for kind in ("carte", "virement", "report", "rouvrir"):
        assert client.get(refund_url(overpaid, kind)).status_code == 403
        assert post(client, overpaid, kind, amount="10").status_code == 403
    assert Refund.objects.count() == 1


def test_staff_of_another_cluster_do_not_find_the_invoice(overpaid, client):
    client.force_login(staff_user("frenchsouth"))
    assert client.get(page_url(overpaid)).status_code == 404
    for kind in ("carte", "virement"):
        assert client.get(refund_url(overpaid, kind)).status_code == 404
        assert post(client, overpaid, kind, amount="10").status_code == 404
    assert not Refund.objects.exists()


def test_an_unknown_way_to_refund_is_not_found(overpaid, staff):
    assert staff.get(refund_url(overpaid, "cheque")).status_code == 404


# --- By transfer --------------------------------------------------------------------------------


def test_staff_record_a_transfer_refund_with_a_reason(overpaid, staff, dp_staff):
    page = staff.get(refund_url(overpaid, "virement"))
    assert page.status_code == 200
    assert page.context["form"].initial["amount"] == Decimal("300.00")

    response = post(
        staff,
        overpaid,
        "virement",
        amount="300,00",
        refunded_on=timezone.localdate().strftime("%d/%m/%Y"),
        reference="REMB-1",
    )

    assert response.status_code == 302, response.context and response.context["form"].errors
    assert "Remboursement de 300,00 € par virement enregistré." in messages(response)
    refund = Refund.objects.get()
    assert (refund.method, refund.state, refund.recorded_by, refund.reference) == (
        PaymentMethod.TRANSFER,
        RefundState.SUCCEEDED,
        dp_staff,
        "REMB-1",
    )
    assert invoice_with_balance(invoice=overpaid).status == InvoiceStatus.PAID
    page = staff.get(page_url(overpaid))
    assert "À rembourser" not in text(page).split("Trop-perçu à rembourser")[1][:200]
    assert "REMB-1" in text(page)


def test_a_transfer_refund_submitted_twice_is_recorded_once(overpaid, staff):
    data = {"amount": "100", "refunded_on": timezone.localdate().strftime("%d/%m/%Y")}
    first = post(staff, overpaid, "virement", version=0, **data)
    second = post(staff, overpaid, "virement", version=0, **data)

    assert first.status_code == second.status_code == 302
    assert "enregistré entre-temps : rien n’a été fait" in messages(second)
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "abc"),
        ("amount", "1e999"),
        ("amount", "-5"),
        ("amount", "300,01"),
        ("amount", "12345678901234567890"),
        ("refunded_on", "31/02/2027"),
        ("refunded_on", "01/01/2999"),
        ("reason", "   "),
        ("version", "x"),
    ],
)
def test_malformed_values_are_form_errors(overpaid, staff, field, value):
    data = {
        "amount": "10",
        "refunded_on": timezone.localdate().strftime("%d/%m/%Y"),
        "reason": REASON,
        "version": "0",
        field: value,
    }

    response = staff.post(refund_url(overpaid, "virement"), data)

    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors
    assert not Refund.objects.exists()


# --- By card ------------------------------------------------------------------------------------


def test_staff_refund_by_card_the_webhook_confirms_it(overpaid, staff, stripe_api):
    response = post(staff, overpaid, "carte", amount="300")

    assert response.status_code == 302
    assert "demandé à Stripe : en cours jusqu’à sa confirmation" in messages(response)
    refund = Refund.objects.get()
    assert refund.state == RefundState.PENDING
    page = text(staff.get(page_url(overpaid)))
    assert "En cours" in page and refund.provider_reference in page
    assert "dont 300,00 € en cours de remboursement par carte" in page
    assert "À rembourser : 0,00 €" in page
    # Clicked again with the same page: Stripe is asked once.
    again = post(staff, overpaid, "carte", amount="300", version=0)
    assert again.status_code == 200
    assert "Il ne reste rien à rembourser sur cette facture." in text(again)
    assert len(stripe_api.refund_requests) == 1

    webhook_post("refund.updated", stripe_api.refund_succeed(refund.provider_reference))

    page = text(staff.get(page_url(overpaid)))
    assert "Remboursé" in page
    assert invoice_with_balance(invoice=overpaid).status == InvoiceStatus.PAID


@pytest.mark.django_db(transaction=True)
def test_two_tabs_clicking_refund_at_once_ask_stripe_once(postgresql, stripe_api):
    """Two tabs of a staff member post the card refund at the same moment, each request in its
    own thread and database connection: one refund is asked of Stripe and recorded."""
    browser = Client()
    user, invoice = member_invoice()
    browser.force_login(user)
    paid_by_transfer_and_card(browser, stripe_api, invoice)
    staff = staff_user("digitalplace")
    tabs = []
    for _tab in range(2):
        tab = Client()
        tab.force_login(staff)
        tabs.append(tab)
    start = threading.Barrier(len(tabs))

    def click(tab):
        start.wait()
        try:
            return post(tab, invoice, "carte", amount="300", version=0).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        answers = list(pool.map(click, tabs))

    # The second waits for the first, then is sent back to the page: a refund was recorded.
    assert answers == [302, 302]
    assert len(stripe_api.refund_requests) == 1
    assert Refund.objects.count() == 1


def test_a_refusal_of_stripe_is_said_on_the_form(overpaid, staff, stripe_api):
    stripe_api.refuse_next_refund(message="Charge ch_x has been disputed.")

    response = post(staff, overpaid, "carte", amount="300")

    assert response.status_code == 200
    assert "Stripe a refusé le remboursement, rien n’a été remboursé" in text(response)
    assert not Refund.objects.exists()


def test_no_card_refund_without_a_card_payment(client, staff, dp_staff):
    invoice = signed_in_invoice(client)
    client.force_login(dp_staff)
    for _twice in range(2):
        invoice_payment_record(
            invoice=invoice, amount=invoice.amount, received_on=timezone.localdate()
        )

    response = staff.get(page_url(invoice))
    assert actions_shown(response) == [ACTIONS[1]]
    refused = post(staff, invoice, "carte", amount="300")
    assert refused.status_code == 200
    assert "Aucun paiement par carte de cette facture ne peut être remboursé." in text(refused)


# --- Carry-over and re-opening ------------------------------------------------------------------


def test_staff_carry_an_over_payment_over_to_the_next_invoice(overpaid, staff):
    later = _next_year_invoice(overpaid)

    response = post(staff, overpaid, "report", to_invoice=str(later.pk), amount="250")

    assert response.status_code == 302
    assert f"250,00 € reportés sur la facture {later.number}." in messages(response)
    later.refresh_from_db()
    assert later.is_paid
    assert "À rembourser : 50,00 €" in text(staff.get(page_url(overpaid)))


def test_a_carry_over_to_an_invoice_not_offered_is_a_form_error(overpaid, staff):
    _next_year_invoice(overpaid)
    other = Invoice.objects.exclude(pk=overpaid.pk).exclude(
        term__membership__organisation=overpaid.term.membership.organisation
    )
    for value in ["999999", "abc", str(overpaid.pk), *(str(i.pk) for i in other)]:
        response = post(staff, overpaid, "report", to_invoice=value, amount="10")
        assert response.status_code == 200
        assert "to_invoice" in response.context["form"].errors
    assert not Refund.objects.exists()


def test_staff_re_open_a_cancelled_membership_paid_after_its_cancellation(client, staff, dp_staff):
    invoice = signed_in_invoice(client)
    client.force_login(dp_staff)
    credit_note_issue(invoice=invoice, reason="Renouvellement impayé")
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    assert actions_shown(staff.get(page_url(invoice))) == [ACTIONS[1], ACTIONS[3]]

    response = post(staff, invoice, "rouvrir")

    assert response.status_code == 302
    new_invoice = Invoice.objects.exclude(pk=invoice.pk).get()
    assert response.url == page_url(new_invoice)
    assert f"facture {new_invoice.number} émise et réglée par report" in messages(response)
    assert invoice_with_balance(invoice=new_invoice).status == InvoiceStatus.PAID
    # Twice: nothing more.
    assert post(staff, invoice, "rouvrir", version=0).status_code in (200, 302)
    assert Invoice.objects.count() == 2


# --- The list, the dashboard --------------------------------------------------------------------


def test_the_dashboard_counts_the_invoices_to_refund_as_the_list_filters_them(overpaid, staff):
    response = staff.get("/admin/")

    figure = re.search(
        r'<a href="(?P<url>[^"]+)"><span class="dashboard-value">(?P<value>\d+)</span> '
        r'<span class="dashboard-label">À rembourser</span>',
        response.content.decode(),
    )
    assert figure["value"] == "1"
    listing = staff.get(html.unescape(figure["url"]))
    assert listing.context["cl"].result_count == 1
    assert "status=overpaid" in figure["url"]

    invoice_payment_record(
        invoice=overpaid, amount=Decimal("5"), received_on=timezone.localdate()
    )  # still one invoice
    Refund.objects.create(
        invoice=overpaid, amount=Decimal("305"), refunded_on=timezone.localdate(), reason=REASON
    )
    response = staff.get("/admin/")
    assert '<span class="dashboard-value">0</span> <span class="dashboard-label">À rembourser' in (
        response.content.decode()
    )


# --- The member area ----------------------------------------------------------------------------


def test_the_member_sees_the_refund_in_progress_then_done(overpaid, member_client, stripe_api):
    url = reverse("members:invoice_detail", args=[overpaid.pk])
    card = Payment.objects.get(invoice=overpaid, method=PaymentMethod.CARD)
    made = stripe_api.refund_in_dashboard(card.reference)
    webhook_post("refund.created", made)

    page = text(member_client.get(url))
    assert "Remboursements" in page
    assert "remboursement en cours" in page
    assert "Remboursement en cours : 300,00 €" in page
    assert "Montant à vous rembourser : 300,00 €" in page

    webhook_post("refund.updated", stripe_api.refund_succeed(made["id"]))

    page = text(member_client.get(url))
    assert "Remboursé" in page and "Sur votre carte bancaire" in page
    assert "remboursement en cours" not in page
    assert "Montant à vous rembourser" not in page


# --- The list of refunds ------------------------------------------------------------------------


def test_the_list_of_refunds_shows_staff_their_cluster_s_and_the_committee_all(
    overpaid, client, committee
):
    refund = Refund.objects.create(
        invoice=overpaid, amount=Decimal("20"), refunded_on=timezone.localdate(), reason=REASON
    )
    url = reverse("admin:members_refund_changelist")

    client.force_login(staff_user("digitalplace"))
    listing = client.get(url)
    assert list(listing.context["cl"].result_list) == [refund]
    assert overpaid.number in text(listing)
    assert client.get(reverse("admin:members_refund_change", args=[refund.pk])).status_code == 200

    client.force_login(staff_user("frenchsouth"))
    assert list(client.get(url).context["cl"].result_list) == []
    assert client.get(reverse("admin:members_refund_change", args=[refund.pk])).status_code == 404

    client.force_login(committee)
    assert list(client.get(url).context["cl"].result_list) == [refund]
