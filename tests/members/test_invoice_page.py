"""The invoice page: what was invoiced and paid, what is left, and the ways to pay it."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from members.models import Invoice, PaymentMethod
from members.services.billing import invoice_payment_record
from tests.members.billing_helpers import (
    BIC,
    IBAN,
    IBAN_GROUPED,
    member_invoice,
    signed_in_invoice,
)

pytestmark = pytest.mark.django_db


def page_of(client, invoice: Invoice, query: str = "") -> str:
    response = client.get(reverse("members:invoice_detail", args=[invoice.pk]) + query)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def _card_payment_off(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = []


@pytest.fixture
def member(client):
    return signed_in_invoice(client)


def test_unpaid_invoice_shows_its_details_and_the_transfer_instructions(client, member):
    invoice = member
    html = page_of(client, invoice)
    assert f"Facture {invoice.number}" in html
    assert "À payer" in html
    assert invoice.term.plan.name in html
    assert invoice.issuer_details["name"] in html
    assert "300,00\xa0€" in html
    assert reverse("members:invoice_pdf", args=[invoice.pk]) in html
    assert reverse("members:area") in html
    assert reverse("members:certificate_pdf", args=[invoice.term.pk]) not in html
    # The transfer: beneficiary, IBAN in groups of four, BIC, amount, the number as reference.
    assert "Par virement bancaire" in html
    assert IBAN_GROUPED in html
    assert f'data-copy="{IBAN.upper()}"' in html
    assert BIC in html
    assert f'data-copy="{invoice.number}"' in html
    assert "Virez <strong>300,00\xa0€</strong>" in html


def test_partially_paid_invoice_shows_what_was_received_and_what_is_left(client, member):
    invoice = member
    invoice_payment_record(
        invoice=invoice,
        amount=Decimal("120.00"),
        received_on=timezone.localdate(),
        method=PaymentMethod.TRANSFER,
    )
    html = page_of(client, invoice)
    assert "Partiellement payée" in html
    assert "120,00\xa0€" in html and "Virement" in html
    assert 'Reste à payer : <strong class="amount">180,00\xa0€</strong>' in html
    assert "Virez <strong>180,00\xa0€</strong>" in html


def test_paid_invoice_links_the_certificate_and_offers_no_payment(client, member, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    invoice = member
    with time_machine.travel(dt.datetime(2030, 2, 3, 10, tzinfo=ZoneInfo("Europe/Paris"))):
        invoice_payment_record(
            invoice=invoice, amount=invoice.amount, received_on=dt.date(2030, 2, 3)
        )
    html = page_of(client, invoice)
    assert "Payée le 3 février 2030" in html
    assert reverse("members:certificate_pdf", args=[invoice.term.pk]) in html
    assert "Régler cette facture" not in html
    assert IBAN_GROUPED not in html
    assert "Payer par carte" not in html


def test_card_button_only_when_stripe_is_configured(client, member, settings):
    checkout_url = reverse("members:card_checkout", args=[member.pk])
    html = page_of(client, member)
    assert "Payer par carte" not in html and checkout_url not in html

    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    html = page_of(client, member)
    assert "Payer par carte" in html
    assert f'<form method="post" action="{checkout_url}">' in html
    assert "csrfmiddlewaretoken" in html


def test_issuer_without_iban_offers_no_transfer_but_a_contact(client):
    user, invoice = member_invoice()
    client.force_login(user)
    html = page_of(client, invoice)
    assert "Par virement bancaire" not in html
    assert "Pour régler cette facture, contactez" in html


def test_cancelled_card_payment_is_said(client, member):
    html = page_of(client, member, "?paiement=annule")
    assert "Paiement par carte annulé" in html


def test_contact_of_another_organisation_gets_404(client, member):
    other_user, other_invoice = member_invoice(email="dominique@other.example", name="Other")
    response = client.get(reverse("members:invoice_detail", args=[other_invoice.pk]))
    assert response.status_code == 404
    client.force_login(other_user)
    assert client.get(reverse("members:invoice_detail", args=[member.pk])).status_code == 404


def test_anonymous_visitor_is_sent_to_sign_in(client):
    _user, invoice = member_invoice()
    url = reverse("members:invoice_detail", args=[invoice.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={url}"


def test_page_queries_do_not_grow_with_payments(client, member, django_assert_max_num_queries):
    for _ in range(5):
        invoice_payment_record(
            invoice=member, amount=Decimal("10.00"), received_on=timezone.localdate()
        )
    # The session and user, the invoice with its balance, its payments, credit notes and refunds,
    # the payment options, and the successor's name in the footer: one query each, whatever
    # their number.
    with django_assert_max_num_queries(7):
        page_of(client, member)
