"""Payment of an invoice by card through Stripe Checkout: the checkout, the return page and the
webhook. Only Stripe's HTTP API is replaced, by a real local server (tests/stripe_fake.py) that the
official stripe library talks to; webhook payloads are signed with the stripe library.

The confirmation e-mail that a paid invoice triggers is sent after commit: in these tests (each
in a transaction rolled back at its end) on-commit callbacks never run, so the e-mail is neither
sent nor needed; where it matters, the callbacks are captured, not run, to count them.
"""

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import time_machine
from django.core.checks import run_checks
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from stripe import WebhookSignature

from cluster.celery import app as celery_app
from members.formatting import iban as iban_format
from members.models import CheckoutSession, CheckoutStatus, MembershipStatus, Payment, PaymentMethod
from members.payments import BankTransfer, StripeCheckout, providers_for
from members.selectors import memberships_with_status
from members.services import contact_login_ensure
from members.services.billing import invoice_payment_record
from tests.factories import ContactFactory
from tests.members.billing_helpers import member_invoice, signed_in_invoice
from tests.stripe_fake import stripe_fake_server, webhook_request

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_secret"
WEBHOOK_URL = "/paiements/stripe/webhook/"


@pytest.fixture
def stripe_api(settings):
    """The fake Stripe API, and card payment configured to use it."""
    with stripe_fake_server() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = [WEBHOOK_SECRET]
        settings.STRIPE_API_BASE = fake.url
        yield fake


@pytest.fixture
def member(client):
    """A signed-in contact's unpaid invoice of 300 € (its issuer has bank details)."""
    return signed_in_invoice(client)


def checkout(client, invoice):
    return client.post(reverse("members:card_checkout", args=[invoice.pk]))


def session_started(client, stripe_api, invoice) -> str:
    """Start a card payment of ``invoice``; return the id of its Checkout Session."""
    response = checkout(client, invoice)
    assert response.status_code == 303
    return response.url.rsplit("/", 1)[-1]


def card_return(client, invoice, session_id):
    url = reverse("members:card_return", args=[invoice.pk])
    return client.get(url, {"session_id": session_id}, follow=True)


def webhook_deliver(payload: str, signature: str):
    """Post ``payload`` as Stripe does: no session cookie, no CSRF token."""
    return Client(enforce_csrf_checks=True).post(
        WEBHOOK_URL,
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )


def webhook_post(event_type, session, *, secret=WEBHOOK_SECRET):
    return webhook_deliver(*webhook_request(event_type, session, secret=secret))


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def assert_paid_once(invoice, session_id):
    payment = Payment.objects.get(invoice=invoice)
    assert payment.provider_reference == session_id
    invoice.refresh_from_db()
    assert invoice.is_paid
    recorded = CheckoutSession.objects.get(provider_reference=session_id)
    assert recorded.status == CheckoutStatus.COMPLETE
    return payment


def sessions_recorded(invoice) -> dict[str, str]:
    """The Checkout Sessions recorded for ``invoice``: their status by their id."""
    return dict(invoice.checkout_sessions.values_list("provider_reference", "status"))


def page_text(response) -> str:
    """The page's HTML, no-break spaces read as spaces."""
    return response.content.decode().replace("\xa0", " ")


# --- The provider interface ------------------------------------------------------------------


def test_iban_is_shown_in_groups_of_four():
    assert iban_format("fr76 3000 6000 0112 3456 7890 189") == "FR76 3000 6000 0112 3456 7890 189"


def test_providers_offered_for_an_unpaid_invoice(member, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert [type(p) for p in providers_for(member)] == [BankTransfer]
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    assert [type(p) for p in providers_for(member)] == [BankTransfer, StripeCheckout]
    invoice_payment_record(invoice=member, amount=member.amount, received_on=timezone.localdate())
    member.refresh_from_db()
    assert providers_for(member) == []


# --- Checkout ---------------------------------------------------------------------------------


def test_checkout_creates_a_session_for_the_invoice_and_redirects_to_it(client, member, stripe_api):
    invoice = member
    response = checkout(client, invoice)

    session = next(iter(stripe_api.sessions.values()))
    assert response.status_code == 303
    assert response.url == session["url"]
    created = stripe_api.last
    assert created.api_key == "sk_test_fake"
    params = created.params
    assert params["mode"] == "payment"
    assert params["line_items[0][quantity]"] == "1"
    assert params["line_items[0][price_data][currency]"] == "eur"
    assert params["line_items[0][price_data][unit_amount]"] == "30000"
    assert params["line_items[0][price_data][product_data][name]"] == invoice.description
    assert params["client_reference_id"] == invoice.number
    assert params["metadata[invoice_id]"] == str(invoice.pk)
    assert params["metadata[invoice_number]"] == invoice.number
    assert params["customer_email"] == "camille@acme.example"
    assert params["success_url"] == (
        f"http://testserver/espace/factures/{invoice.pk}/carte/retour/"
        "?session_id={CHECKOUT_SESSION_ID}"
    )
    assert params["cancel_url"] == (
        f"http://testserver/espace/factures/{invoice.pk}/?paiement=annule"
    )
    assert not Payment.objects.exists()


def test_checkout_asks_for_what_is_left_after_a_partial_transfer(client, member, stripe_api):
    invoice_payment_record(
        invoice=member, amount=Decimal("120.50"), received_on=timezone.localdate()
    )
    checkout(client, member)
    assert stripe_api.last.params["line_items[0][price_data][unit_amount]"] == "17950"


def test_checkout_of_a_paid_invoice_goes_back_to_it(client, member, stripe_api):
    invoice_payment_record(invoice=member, amount=member.amount, received_on=timezone.localdate())
    response = client.post(reverse("members:card_checkout", args=[member.pk]), follow=True)
    assert response.redirect_chain == [(reverse("members:invoice_detail", args=[member.pk]), 302)]
    assert messages_of(response) == ["Cette facture est déjà réglée."]
    assert stripe_api.created == []


def test_checkout_refused_by_stripe_says_so_and_records_nothing(client, member, stripe_api):
    stripe_api.refuse_next(status=400, message="Invalid currency")
    response = client.post(reverse("members:card_checkout", args=[member.pk]), follow=True)
    assert response.redirect_chain == [(reverse("members:invoice_detail", args=[member.pk]), 302)]
    assert "Le paiement par carte est momentanément indisponible" in messages_of(response)[0]
    assert not Payment.objects.exists()


def test_checkout_answers_post_only(client, member, stripe_api):
    assert client.get(reverse("members:card_checkout", args=[member.pk])).status_code == 405
    assert stripe_api.created == []


# --- One open Checkout Session per invoice -----------------------------------------------------


def test_checkout_posted_twice_sends_to_the_same_session(client, member, stripe_api):
    """A double click on "Payer par carte", or a second tab: one Checkout Session, not two that
    could both be paid."""
    first = checkout(client, member)
    second = checkout(client, member)

    assert first.status_code == second.status_code == 303
    assert second.url == first.url
    assert len(stripe_api.created) == 1
    assert stripe_api.expire_calls == []
    session_id = first.url.rsplit("/", 1)[-1]
    recorded = CheckoutSession.objects.get()
    assert recorded.invoice == member
    assert recorded.provider_reference == session_id
    assert recorded.status == CheckoutStatus.OPEN
    assert recorded.amount == Decimal("300.00")
    assert recorded.url == first.url
    assert recorded.account == ""
    assert recorded.expires_at.timestamp() == stripe_api.sessions[session_id]["expires_at"]


def test_checkout_by_another_contact_sends_to_the_same_session(client, member, stripe_api):
    colleague = contact_login_ensure(
        contact=ContactFactory(
            organisation=member.term.membership.organisation, email="dominique@acme.example"
        )
    )[0]
    other_browser = Client()
    other_browser.force_login(colleague)

    first = checkout(client, member)
    second = checkout(other_browser, member)

    assert second.url == first.url
    assert len(stripe_api.created) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_of_an_invoice_open_one_session(postgresql, stripe_api):
    """Four tabs post "Payer par carte" at the same moment, each request in its own thread and
    database connection: the invoice's row lock makes them open one session, where all four are
    sent."""
    user, invoice = member_invoice()
    tabs = []
    for _tab in range(4):
        tab = Client()
        tab.force_login(user)
        tabs.append(tab)
    start = threading.Barrier(len(tabs))

    def post(tab):
        start.wait()
        try:
            return checkout(tab, invoice)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        responses = list(pool.map(post, tabs))

    assert [response.status_code for response in responses] == [303] * len(tabs)
    assert len({response.url for response in responses}) == 1
    assert len(stripe_api.created) == 1
    assert list(sessions_recorded(invoice).values()) == [CheckoutStatus.OPEN]


def test_checkout_after_a_transfer_expires_the_session_and_opens_one_for_what_is_left(
    client, member, stripe_api
):
    first = session_started(client, stripe_api, member)
    invoice_payment_record(
        invoice=member, amount=Decimal("100.00"), received_on=timezone.localdate()
    )

    second = session_started(client, stripe_api, member)

    assert second != first
    assert stripe_api.expire_calls == [first]
    assert stripe_api.sessions[first]["status"] == "expired", "no longer payable at Stripe"
    assert stripe_api.last.params["line_items[0][price_data][unit_amount]"] == "20000"
    assert sessions_recorded(member) == {
        first: CheckoutStatus.EXPIRED,
        second: CheckoutStatus.OPEN,
    }
    assert CheckoutSession.objects.get(provider_reference=second).amount == Decimal("200.00")


def test_checkout_after_the_session_expired_at_stripe_opens_another(client, member, stripe_api):
    first = session_started(client, stripe_api, member)
    stripe_api.expire(first)  # its 24 hours are over, or someone expired it in Stripe's dashboard

    second = session_started(client, stripe_api, member)

    assert second != first
    assert stripe_api.expire_calls == []
    assert sessions_recorded(member) == {
        first: CheckoutStatus.EXPIRED,
        second: CheckoutStatus.OPEN,
    }


def test_checkout_close_to_the_session_s_end_replaces_it(client, member, stripe_api):
    first = session_started(client, stripe_api, member)
    # Ten minutes left: too little to type a card's details.
    stripe_api.sessions[first]["expires_at"] = int(time.time()) + 10 * 60

    second = session_started(client, stripe_api, member)

    assert second != first
    assert stripe_api.expire_calls == [first]
    assert sessions_recorded(member)[first] == CheckoutStatus.EXPIRED


def test_checkout_of_a_session_paid_meanwhile_records_its_payment(client, member, stripe_api):
    """The member paid in one tab and posts "Payer par carte" in another before Stripe's
    notification arrives: the payment is recorded, and no second session is opened."""
    first = session_started(client, stripe_api, member)
    stripe_api.pay(first)

    response = client.post(reverse("members:card_checkout", args=[member.pk]), follow=True)

    assert response.redirect_chain == [(reverse("members:invoice_detail", args=[member.pk]), 302)]
    assert messages_of(response) == ["Cette facture est déjà réglée."]
    assert len(stripe_api.created) == 1
    assert_paid_once(member, first)


def test_checkout_of_a_session_paid_as_it_is_expired_records_its_payment(
    client, member, stripe_api
):
    """A transfer made the open session out of date, and the member pays it at the moment it is
    expired: Stripe refuses to expire a complete session, its payment is recorded, and no other
    session is opened."""
    first = session_started(client, stripe_api, member)
    invoice_payment_record(
        invoice=member, amount=Decimal("100.00"), received_on=timezone.localdate()
    )
    stripe_api.pay_at_next_expiry()

    response = client.post(reverse("members:card_checkout", args=[member.pk]), follow=True)

    assert stripe_api.expire_calls == [first]
    assert stripe_api.sessions[first]["status"] == "complete"
    assert messages_of(response) == ["Cette facture est déjà réglée."]
    assert len(stripe_api.created) == 1
    assert Payment.objects.get(provider_reference=first).amount == Decimal("300.00")
    assert sessions_recorded(member) == {first: CheckoutStatus.COMPLETE}


def test_checkout_when_stripe_cannot_expire_the_session_opens_no_other(client, member, stripe_api):
    first = session_started(client, stripe_api, member)
    invoice_payment_record(
        invoice=member, amount=Decimal("100.00"), received_on=timezone.localdate()
    )
    stripe_api.refuse_next_expiry()

    response = client.post(reverse("members:card_checkout", args=[member.pk]), follow=True)

    assert "Le paiement par carte est momentanément indisponible" in messages_of(response)[0]
    assert len(stripe_api.created) == 1
    assert sessions_recorded(member) == {first: CheckoutStatus.OPEN}


def test_webhook_expired_closes_the_session_and_the_next_checkout_opens_another(
    client, member, stripe_api
):
    first = session_started(client, stripe_api, member)
    assert webhook_post("checkout.session.expired", stripe_api.expire(first)).status_code == 200
    assert sessions_recorded(member) == {first: CheckoutStatus.EXPIRED}

    second = session_started(client, stripe_api, member)

    assert second != first
    assert stripe_api.retrieved == [], "closed here: no need to ask Stripe"


# --- An invoice paid beyond its amount ----------------------------------------------------------


def _paid_twice_by_card(client, stripe_api, invoice) -> None:
    # The first session was opened before sessions were recorded here (two could be open then).
    earlier = session_started(client, stripe_api, invoice)
    CheckoutSession.objects.all().delete()
    later = session_started(client, stripe_api, invoice)
    for session_id in (earlier, later):
        webhook_post("checkout.session.completed", stripe_api.pay(session_id))


def _paid_by_transfer_and_by_card(client, stripe_api, invoice) -> None:
    # The member opened the card payment page, then paid by transfer, which staff recorded; the
    # page was still open in a tab, and the member paid there too.
    session_id = session_started(client, stripe_api, invoice)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    webhook_post("checkout.session.completed", stripe_api.pay(session_id))


@pytest.mark.parametrize("paid_twice", [_paid_twice_by_card, _paid_by_transfer_and_by_card])
def test_an_invoice_paid_twice_shows_as_over_paid_to_the_member(
    client, member, stripe_api, paid_twice
):
    paid_twice(client, stripe_api, member)

    response = client.get(reverse("members:invoice_detail", args=[member.pk]))

    assert response.status_code == 200
    assert response.context["overpaid"] == Decimal("300.00")
    page = page_text(response)
    assert "Trop-perçu : vous avez réglé 600,00 € pour une facture de 300,00 €." in page
    assert "Montant à vous rembourser :" in page
    assert '<strong class="amount">300,00 €</strong>' in page
    assert f"Pour ce remboursement, contactez {member.issuer_details['name']}" in page
    assert Payment.objects.filter(invoice=member).count() == 2, "the money received is recorded"


def test_an_invoice_paid_once_is_not_over_paid(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    webhook_post("checkout.session.completed", stripe_api.pay(session_id))

    response = client.get(reverse("members:invoice_detail", args=[member.pk]))

    assert response.context["overpaid"] == 0
    assert "Trop-perçu" not in page_text(response)


# --- Return page ------------------------------------------------------------------------------


def test_return_after_payment_records_it_and_the_membership_becomes_current(
    client, member, stripe_api
):
    session_id = session_started(client, stripe_api, member)
    stripe_api.pay(session_id, payment_intent="pi_test_123")

    response = card_return(client, member, session_id)

    assert response.redirect_chain == [(reverse("members:invoice_detail", args=[member.pk]), 302)]
    assert messages_of(response) == ["Paiement reçu, merci ! Votre facture est réglée."]
    assert stripe_api.retrieved == [session_id]
    payment = assert_paid_once(member, session_id)
    assert payment.amount == Decimal("300.00")
    assert payment.method == PaymentMethod.CARD
    assert payment.reference == "pi_test_123"
    assert payment.received_on == timezone.localdate()
    term = member.term
    term.refresh_from_db()
    assert term.is_paid
    status = memberships_with_status().get(pk=term.membership_id).status
    assert status == MembershipStatus.CURRENT
    assert "Payée le" in response.content.decode()


def test_return_before_payment_records_nothing(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    response = card_return(client, member, session_id)
    assert messages_of(response)[0].startswith("Paiement en cours de confirmation")
    assert not Payment.objects.exists()
    member.refresh_from_db()
    assert not member.is_paid


def test_return_with_another_organisations_session_records_nothing(client, member, stripe_api):
    other_user, other_invoice = member_invoice(email="dominique@other.example", name="Other")
    other_client = Client()
    other_client.force_login(other_user)
    other_session = session_started(other_client, stripe_api, other_invoice)
    stripe_api.pay(other_session)

    # Another organisation's paid session on the return URL of one's own invoice…
    response = client.get(
        reverse("members:card_return", args=[member.pk]), {"session_id": other_session}
    )
    assert response.status_code == 404
    # … and one's own session on the return URL of another organisation's invoice.
    own_session = session_started(client, stripe_api, member)
    stripe_api.pay(own_session)
    response = client.get(
        reverse("members:card_return", args=[other_invoice.pk]), {"session_id": own_session}
    )
    assert response.status_code == 404
    assert not Payment.objects.exists()


def test_return_with_an_unknown_session_is_404(client, member, stripe_api):
    response = client.get(
        reverse("members:card_return", args=[member.pk]), {"session_id": "cs_test_unknown"}
    )
    assert response.status_code == 404


# --- Webhook ----------------------------------------------------------------------------------


def test_webhook_completed_pays_once_even_when_replayed(
    client, member, stripe_api, django_capture_on_commit_callbacks
):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    delivery = webhook_request("checkout.session.completed", session, secret=WEBHOOK_SECRET)

    with django_capture_on_commit_callbacks() as callbacks:
        for _attempt in range(2):  # Stripe delivers an event again until it gets a 2xx
            assert webhook_deliver(*delivery).status_code == 200

    payment = assert_paid_once(member, session_id)
    assert payment.reference == session["payment_intent"]
    assert payment.method == PaymentMethod.CARD
    assert len(callbacks) == 1  # the confirmation e-mail, once


def test_webhook_completed_then_expired_changes_nothing(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    assert webhook_post("checkout.session.completed", session).status_code == 200
    expired = {**session, "status": "expired", "payment_status": "unpaid"}
    assert webhook_post("checkout.session.expired", expired).status_code == 200
    assert webhook_post("checkout.session.completed", session).status_code == 200
    assert_paid_once(member, session_id)


def test_webhook_expired_or_failed_records_nothing(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    assert (
        webhook_post("checkout.session.expired", stripe_api.expire(session_id)).status_code == 200
    )
    session = {**stripe_api.sessions[session_id], "status": "complete"}
    assert webhook_post("checkout.session.async_payment_failed", session).status_code == 200
    # Completed but not yet paid (a delayed payment method): nothing until it succeeds.
    assert webhook_post("checkout.session.completed", session).status_code == 200
    assert not Payment.objects.exists()


def test_webhook_async_payment_succeeded_pays(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    response = webhook_post("checkout.session.async_payment_succeeded", session)
    assert response.status_code == 200
    assert_paid_once(member, session_id)


def test_return_after_webhook_keeps_one_payment(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    webhook_post("checkout.session.completed", session)
    response = card_return(client, member, session_id)
    assert messages_of(response) == ["Paiement reçu, merci ! Votre facture est réglée."]
    assert_paid_once(member, session_id)


def test_webhook_dates_the_payment_in_paris_time(client, member, stripe_api):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    # 23:30 UTC on 1 March is 00:30 on 2 March in Paris.
    with time_machine.travel(dt.datetime(2031, 3, 1, 23, 30, tzinfo=dt.UTC)):
        assert webhook_post("checkout.session.completed", session).status_code == 200
    assert Payment.objects.get().received_on == dt.date(2031, 3, 2)


def _forged(payload: str, signature: str, forgery: str) -> tuple[str, str]:
    if forgery == "no signature":
        return payload, ""
    if forgery == "tampered amount":
        return payload.replace('"amount_total": 30000', '"amount_total": 3000000'), signature
    return payload, signature


@pytest.mark.parametrize(
    ("forgery", "secret", "age"),
    [
        ("wrong secret", "whsec_someone_else", 0),
        ("no signature", WEBHOOK_SECRET, 0),
        ("tampered amount", WEBHOOK_SECRET, 0),
        ("replayed an hour later", WEBHOOK_SECRET, 3600),
    ],
)
def test_webhook_refuses_what_stripe_did_not_sign(client, member, stripe_api, forgery, secret, age):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    payload, signature = webhook_request(
        "checkout.session.completed", session, secret=secret, timestamp=int(time.time()) - age
    )
    assert webhook_deliver(*_forged(payload, signature, forgery)).status_code == 400
    assert not Payment.objects.exists()


def test_webhook_refuses_a_signed_body_that_is_not_an_event(stripe_api):
    timestamp, payload = int(time.time()), "not json"
    signature = WebhookSignature._compute_signature(f"{timestamp}.{payload}", WEBHOOK_SECRET)
    assert webhook_deliver(payload, f"t={timestamp},v1={signature}").status_code == 400


def test_webhook_about_an_unknown_invoice_is_acknowledged(client, member, stripe_api, caplog):
    session_id = session_started(client, stripe_api, member)
    session = stripe_api.pay(session_id)
    session = {**session, "metadata": {"invoice_id": "999999", "invoice_number": "XX-1"}}
    assert webhook_post("checkout.session.completed", session).status_code == 200
    assert not Payment.objects.exists()
    assert f"Stripe Checkout session {session_id} names no known invoice." in caplog.text


def test_webhook_answers_post_only(stripe_api):
    assert Client().get(WEBHOOK_URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_return_page_and_webhook_at_the_same_time_record_one_payment(
    postgresql, redis_broker, stripe_api
):
    """The member's browser comes back while Stripe's webhook arrives: each request in its own
    thread and database connection, started together, several times over. The paid invoices'
    confirmation tasks really go to the test's Redis broker; they are discarded at the end."""
    rounds = []
    for n in range(6):
        user, invoice = member_invoice(email=f"contact{n}@race.example", name=f"Race {n}")
        browser = Client()
        browser.force_login(user)
        session = stripe_api.pay(session_started(browser, stripe_api, invoice))
        rounds.append((browser, invoice, session))

    def race(browser, invoice, session) -> list[int]:
        start = threading.Barrier(2)

        def return_page():
            start.wait()
            try:
                return card_return(browser, invoice, session["id"]).status_code
            finally:
                connection.close()

        def webhook():
            start.wait()
            try:
                return webhook_post("checkout.session.completed", session).status_code
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=2) as pool:
            return [future.result() for future in [pool.submit(return_page), pool.submit(webhook)]]

    try:
        for browser, invoice, session in rounds:
            assert race(browser, invoice, session) == [200, 200]
            assert_paid_once(invoice, session["id"])
    finally:
        celery_app.control.purge()


# --- Card payment off -------------------------------------------------------------------------


def test_without_stripe_settings_card_payment_is_off(client, member, settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = []
    assert checkout(client, member).status_code == 404
    return_url = reverse("members:card_return", args=[member.pk])
    assert client.get(return_url, {"session_id": "cs_test_x"}).status_code == 404
    delivery = webhook_request("checkout.session.completed", {}, secret="whsec_x")
    assert webhook_deliver(*delivery).status_code == 404


def test_anonymous_visitor_is_sent_to_sign_in(client, stripe_api):
    _user, invoice = member_invoice()
    for url in (
        reverse("members:card_checkout", args=[invoice.pk]),
        reverse("members:card_return", args=[invoice.pk]),
    ):
        response = client.post(url) if url.endswith("/carte/") else client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    assert stripe_api.created == []


# --- Each cluster collects on its own Stripe account (Connect) ---------------------------------

CONNECT_SECRET = "whsec_test_connect"


@pytest.fixture
def own_account(member, stripe_api, settings):
    """The invoice's issuer has its own Stripe account, connected to the platform's, whose
    webhook endpoint signs with its own secret."""
    member.cluster.stripe_account = "acct_digitalplace"
    member.cluster.save(update_fields=["stripe_account"])
    settings.STRIPE_WEBHOOK_SECRET = [WEBHOOK_SECRET, CONNECT_SECRET]
    return member


def test_a_cluster_with_its_own_account_collects_its_invoices_on_it(
    client, own_account, stripe_api
):
    session_id = session_started(client, stripe_api, own_account)
    assert stripe_api.last.account == "acct_digitalplace"
    assert stripe_api.last.api_key == "sk_test_fake", "the platform's key, acting on the account"
    stripe_api.pay(session_id)

    response = card_return(client, own_account, session_id)

    assert "Paiement reçu, merci ! Votre facture est réglée." in messages_of(response)
    assert_paid_once(own_account, session_id)


def test_the_webhook_of_connected_accounts_settles_their_sessions(client, own_account, stripe_api):
    session_id = session_started(client, stripe_api, own_account)
    session = stripe_api.pay(session_id)

    delivery = webhook_request(
        "checkout.session.completed", session, secret=CONNECT_SECRET, account="acct_digitalplace"
    )
    assert webhook_deliver(*delivery).status_code == 200

    assert_paid_once(own_account, session_id)


def test_money_received_on_another_account_than_the_issuer_s_pays_nothing(
    client, own_account, stripe_api
):
    session_id = session_started(client, stripe_api, own_account)
    session = stripe_api.pay(session_id)

    for account in ("", "acct_frenchsouth"):  # the platform's own account, another cluster's
        delivery = webhook_request(
            "checkout.session.completed", session, secret=CONNECT_SECRET, account=account
        )
        assert webhook_deliver(*delivery).status_code == 200

    assert not Payment.objects.exists()
    own_account.refresh_from_db()
    assert not own_account.is_paid


def test_deploy_check_warns_when_card_payment_has_no_webhook(settings):
    def warnings() -> list[str]:
        return [
            message.id
            for message in run_checks(include_deployment_checks=True)
            if message.id == "members.W002"
        ]

    settings.STRIPE_SECRET_KEY = "sk_live_x"
    settings.STRIPE_WEBHOOK_SECRET = []
    assert warnings() == ["members.W002"]
    settings.STRIPE_WEBHOOK_SECRET = ["whsec_x"]
    assert warnings() == []
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = []
    assert warnings() == []
