"""Credit notes in the member area: the invoice's page lists them with their PDF, for the
organisation's own contacts only; a cancelled invoice says so and is no longer payable, neither
by transfer nor by card."""

from decimal import Decimal

import pytest
from django.urls import reverse

from members.models import CheckoutSession, CheckoutStatus
from members.payments import providers_for
from members.selectors import invoice_with_balance
from members.services.billing import credit_note_issue
from tests.members.billing_helpers import member_invoice, pdf_text, signed_in_invoice
from tests.members.test_payments import checkout, messages_of, session_started, stripe_api

pytestmark = pytest.mark.django_db

__all__ = ["stripe_api"]  # the fixture, used by name


@pytest.fixture
def member(client):
    """A signed-in contact's unpaid invoice of 300 € (its issuer has bank details)."""
    return signed_in_invoice(client)


def page(client, invoice) -> str:
    response = client.get(reverse("members:invoice_detail", args=[invoice.pk]))
    assert response.status_code == 200
    return response.content.decode().replace("\xa0", " ")


def test_a_reduced_invoice_lists_its_credit_note_and_asks_for_the_rest(client, member):
    credit_note = credit_note_issue(invoice=member, amount=Decimal("100.00"), reason="Remise")

    html = page(client, member)

    pdf_url = reverse("members:credit_note_pdf", args=[credit_note.pk])
    assert credit_note.number in html and pdf_url in html and "Remise" in html
    assert 'Montant dû après avoirs : <strong class="amount">200,00 €</strong>' in html
    assert "Virez <strong>200,00 €</strong>" in html
    response = client.get(pdf_url)
    assert response.status_code == 200
    assert f'filename="avoir-{credit_note.number}.pdf"' in response["Content-Disposition"]
    assert credit_note.number in pdf_text(response.content)


def test_a_cancelled_invoice_says_so_and_offers_no_payment(client, member, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    credit_note = credit_note_issue(invoice=member, reason="Adhésion saisie deux fois")
    member.refresh_from_db()

    html = page(client, member)

    assert f"Cette facture est annulée par l’avoir {credit_note.number}" in html
    assert "Annulée le" in html
    assert "Régler cette facture" not in html
    assert "IBAN" not in html and "Payer par carte" not in html
    assert "Reste à payer" not in html and "Échéance" not in html
    assert providers_for(member) == []


def test_a_cancelled_invoice_cannot_be_paid_by_card(client, member, stripe_api):
    # A card page opened before the invoice was cancelled is expired, none is opened.
    session_started(client, stripe_api, member)
    credit_note_issue(invoice=member, reason="Départ")

    response = checkout(client, member)

    assert response.status_code == 302
    assert messages_of(client.get(response.url)) == [
        "Cette facture est annulée : il n’y a plus rien à régler."
    ]
    assert set(member.checkout_sessions.values_list("status", flat=True)) == {
        CheckoutStatus.EXPIRED
    }
    assert CheckoutSession.objects.count() == 1
    assert invoice_with_balance(invoice=member).amount_left == 0


def test_another_organisation_s_credit_note_is_not_found(client, member):
    _other_user, other_invoice = member_invoice(email="dominique@other.example", name="Other")
    theirs = credit_note_issue(invoice=other_invoice, reason="Erreur")

    assert client.get(reverse("members:credit_note_pdf", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("members:credit_note_pdf", args=[999999])).status_code == 404
    client.logout()
    response = client.get(reverse("members:credit_note_pdf", args=[theirs.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_the_member_area_shows_a_cancelled_term_and_nothing_to_pay(client, member):
    credit_note_issue(invoice=member, reason="Erreur de formule")

    html = client.get(reverse("members:area")).content.decode()

    assert "Annulée le" in html
    assert (
        reverse("members:invoice_detail", args=[member.pk]) + '"' not in html.split("Historique")[0]
    ), "no step asks to pay the cancelled invoice"
