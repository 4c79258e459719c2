"""Refunds of what was over-paid: by card through Stripe's Refund API (confirmed by the webhook,
a replay recording nothing twice), by transfer recorded by staff, carried over to another invoice,
and a cancelled membership re-opened with a new invoice. Only Stripe's HTTP API is replaced, by a
real local server (tests/stripe_fake.py) that the official stripe library talks to; the webhook
events are signed as Stripe signs them."""

# The fixture stripe_api is imported from the card payment's tests, and asked for by name.
# ruff: noqa: F811

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

from members.models import (
    InvoiceStatus,
    MembershipStatus,
    Payment,
    PaymentMethod,
    Refund,
    RefundState,
    Term,
)
from members.selectors import (
    invoice_with_refunds,
    invoices_to_carry_over_to,
    memberships_with_status,
)
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from members.services.refunds import (
    invoice_payment_carry_over,
    invoice_refund_card,
    invoice_refund_record,
    membership_reopen,
    refund_version,
)
from tests.members.billing_helpers import member_invoice, signed_in_invoice, unpaid_term
from tests.members.test_payments import (  # noqa: F401
    CONNECT_SECRET,
    session_started,
    stripe_api,
    webhook_deliver,
    webhook_post,
)
from tests.stripe_fake import webhook_request

pytestmark = pytest.mark.django_db

REASON = "Payé deux fois : par virement et par carte"


def paid_by_transfer_and_card(client, stripe_api, invoice) -> Payment:
    """``invoice`` paid by transfer, then by card on a page still open: over-paid by its
    amount; return the card payment."""
    session_id = session_started(client, stripe_api, invoice)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    webhook_post("checkout.session.completed", stripe_api.pay(session_id))
    return Payment.objects.get(invoice=invoice, method=PaymentMethod.CARD)


@pytest.fixture
def overpaid(client, stripe_api):
    """A member's invoice of 300 € paid twice (transfer and card): 300 € to refund."""
    invoice = signed_in_invoice(client)
    paid_by_transfer_and_card(client, stripe_api, invoice)
    return invoice


def balance(invoice):
    return invoice_with_refunds(invoice=invoice)


def refund_by_card(invoice, amount="300.00", **kwargs):
    return invoice_refund_card(
        invoice=invoice,
        amount=Decimal(amount),
        reason=REASON,
        version=refund_version(invoice=invoice),
        **kwargs,
    )


# --- By card ------------------------------------------------------------------------------------


def test_a_card_refund_is_asked_of_stripe_pending_until_the_webhook_confirms_it(
    overpaid, stripe_api
):
    card = Payment.objects.get(invoice=overpaid, method=PaymentMethod.CARD)
    assert balance(overpaid).refund_left == Decimal("300.00")

    refund = refund_by_card(overpaid)

    assert refund.state == RefundState.PENDING
    assert refund.provider_reference.startswith("re_")
    assert refund.payment == card
    [(params, key, account)] = stripe_api.refund_requests
    assert params["payment_intent"] == card.reference
    assert params["amount"] == "30000"
    assert params["metadata[invoice_number]"] == overpaid.number
    assert key == f"refund-{refund.pk}", "the idempotency key names our refund"
    assert account == ""
    # Still over-paid (the money is not back yet), but nothing is left to refund.
    now = balance(overpaid)
    assert (now.status, now.overpaid_amount, now.refund_left) == (
        InvoiceStatus.OVERPAID,
        Decimal("300.00"),
        Decimal("0.00"),
    )

    answer = webhook_post("refund.updated", stripe_api.refund_succeed(refund.provider_reference))

    assert answer.status_code == 200
    refund.refresh_from_db()
    assert refund.state == RefundState.SUCCEEDED
    now = balance(overpaid)
    assert (now.status, now.overpaid_amount) == (InvoiceStatus.PAID, Decimal("0.00"))


def test_replayed_and_out_of_order_webhooks_record_nothing_more(overpaid, stripe_api):
    refund = refund_by_card(overpaid)
    created = dict(stripe_api.refunds[refund.provider_reference])  # as it was: pending
    stripe_api.refund_succeed(refund.provider_reference)
    pi = refund.payment.reference

    for event, obj in [
        ("refund.updated", stripe_api.refunds[refund.provider_reference]),
        ("refund.updated", stripe_api.refunds[refund.provider_reference]),
        ("refund.created", created),  # late, and says "pending": Stripe's API says otherwise
        ("charge.refunded", stripe_api.charge(pi)),
        ("charge.refunded", stripe_api.charge(pi)),
    ]:
        assert webhook_post(event, obj).status_code == 200

    assert list(Refund.objects.values_list("state", "amount")) == [
        (RefundState.SUCCEEDED, Decimal("300.00"))
    ]
    assert balance(overpaid).overpaid_amount == 0


def test_a_failed_card_refund_leaves_the_amount_to_refund(overpaid, stripe_api):
    refund = refund_by_card(overpaid)

    webhook_post("refund.failed", stripe_api.refund_fail(refund.provider_reference))

    refund.refresh_from_db()
    assert refund.state == RefundState.FAILED
    now = balance(overpaid)
    assert (now.status, now.refund_left) == (InvoiceStatus.OVERPAID, Decimal("300.00"))
    # Asked again, it is a new refund of the same payment, with a key of its own.
    again = refund_by_card(overpaid)
    assert again.pk != refund.pk
    assert [key for _params, key, _account in stripe_api.refund_requests] == [
        f"refund-{refund.pk}",
        f"refund-{again.pk}",
    ]


def test_a_refusal_of_stripe_records_nothing(overpaid, stripe_api):
    stripe_api.refuse_next_refund(message="Charge has been disputed")

    with pytest.raises(stripe.InvalidRequestError):
        refund_by_card(overpaid)

    assert not Refund.objects.exists()
    assert balance(overpaid).refund_left == Decimal("300.00")


def test_a_card_refund_takes_no_more_than_is_left(overpaid, stripe_api):
    refund_by_card(overpaid, "100.00")
    with pytest.raises(ValidationError) as refused:
        refund_by_card(overpaid, "200.01")
    [message] = refused.value.message_dict["amount"]
    assert "ce qui reste à rembourser (200,00 €)" in message.replace("\xa0", " ")
    with pytest.raises(ValidationError):
        refund_by_card(overpaid, "-5")
    with pytest.raises(ValidationError):
        invoice_refund_card(invoice=overpaid, amount=Decimal("10"), reason="  ")
    assert len(stripe_api.refund_requests) == 1


def test_a_refund_asked_twice_with_the_same_page_is_asked_once(overpaid, stripe_api):
    version = refund_version(invoice=overpaid)
    invoice_refund_card(invoice=overpaid, amount=Decimal("100"), reason=REASON, version=version)

    with pytest.raises(ValidationError) as refused:
        invoice_refund_card(invoice=overpaid, amount=Decimal("100"), reason=REASON, version=version)

    assert refused.value.code == "refund_changed"
    assert len(stripe_api.refund_requests) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_on_refund_ask_stripe_once(postgresql, stripe_api):
    """Two requests at once, each in its own thread and database connection: the invoice's row
    lock makes the second wait for the first, then find nothing left to refund."""
    browser = Client()
    user, invoice = member_invoice()
    browser.force_login(user)
    paid_by_transfer_and_card(browser, stripe_api, invoice)
    start = threading.Barrier(2)

    def click():
        start.wait()
        try:
            return refund_by_card(invoice).provider_reference
        except ValidationError as refusal:
            return refusal.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda _n: click(), range(2)))

    assert sorted(outcome.startswith("re_") for outcome in outcomes) == [False, True]
    assert len(stripe_api.refund_requests) == 1
    assert Refund.objects.count() == 1


def test_a_refund_made_in_stripe_s_dashboard_is_recorded_once(overpaid, stripe_api):
    card = Payment.objects.get(invoice=overpaid, method=PaymentMethod.CARD)
    made = stripe_api.refund_in_dashboard(card.reference, amount=12000)

    for _replay in range(2):
        assert webhook_post("refund.created", made).status_code == 200
    stripe_api.refund_succeed(made["id"])
    assert webhook_post("charge.refunded", stripe_api.charge(card.reference)).status_code == 200

    refund = Refund.objects.get()
    assert (refund.invoice, refund.payment, refund.amount, refund.state) == (
        overpaid,
        card,
        Decimal("120.00"),
        RefundState.SUCCEEDED,
    )
    assert refund.provider_reference == made["id"]
    assert refund.recorded_by is None
    assert refund.reason.startswith("Remboursement fait chez Stripe")
    assert balance(overpaid).overpaid_amount == Decimal("180.00")


def test_a_refund_of_a_payment_of_another_account_records_nothing(overpaid, stripe_api, settings):
    settings.STRIPE_WEBHOOK_SECRET = ["whsec_test_secret", CONNECT_SECRET]
    card = Payment.objects.get(invoice=overpaid, method=PaymentMethod.CARD)
    made = stripe_api.refund_in_dashboard(card.reference)

    # Signed by the connected accounts' endpoint, naming another account than the payment's.
    delivery = webhook_request(
        "refund.created", made, secret=CONNECT_SECRET, account="acct_frenchsouth"
    )
    assert webhook_deliver(*delivery).status_code == 200
    unknown = {**made, "id": "re_test_unknown", "payment_intent": "pi_test_unknown"}
    assert webhook_post("refund.created", unknown).status_code == 200

    assert not Refund.objects.exists()


def test_a_webhook_when_stripe_cannot_be_read_asks_to_be_sent_again(overpaid, stripe_api, settings):
    card = Payment.objects.get(invoice=overpaid, method=PaymentMethod.CARD)
    made = stripe_api.refund_in_dashboard(card.reference)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nobody listens there

    answer = webhook_post("refund.created", made)

    assert answer.status_code == 503, "Stripe sends an event again until it is acknowledged"
    assert not Refund.objects.exists()


def test_a_card_refund_on_a_cluster_s_own_account(client, stripe_api, settings):
    invoice = signed_in_invoice(client)
    invoice.cluster.stripe_account = "acct_digitalplace"
    invoice.cluster.save(update_fields=["stripe_account"])
    settings.STRIPE_WEBHOOK_SECRET = ["whsec_test_secret", CONNECT_SECRET]
    session_id = session_started(client, stripe_api, invoice)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    session = stripe_api.pay(session_id)
    webhook_deliver(
        *webhook_request(
            "checkout.session.completed",
            session,
            secret=CONNECT_SECRET,
            account="acct_digitalplace",
        )
    )
    # The payment's reference lost (recorded before it was kept): read from its session.
    Payment.objects.filter(method=PaymentMethod.CARD).update(reference="")

    refund = refund_by_card(invoice)

    [(params, _key, account)] = stripe_api.refund_requests
    assert account == "acct_digitalplace"
    assert params["payment_intent"] == session["payment_intent"]
    stripe_api.refund_succeed(refund.provider_reference)
    delivery = webhook_request(
        "refund.updated",
        stripe_api.refunds[refund.provider_reference],
        secret=CONNECT_SECRET,
        account="acct_digitalplace",
    )
    Payment.objects.filter(method=PaymentMethod.CARD).update(reference=session["payment_intent"])
    assert webhook_deliver(*delivery).status_code == 200
    refund.refresh_from_db()
    assert refund.state == RefundState.SUCCEEDED


# --- By transfer --------------------------------------------------------------------------------


def test_a_transfer_refund_counts_at_once_and_the_rest_stays_to_refund(overpaid, dp_staff):
    today = timezone.localdate()
    refund = invoice_refund_record(
        invoice=overpaid,
        amount=Decimal("100.00"),
        refunded_on=today,
        reason=REASON,
        reference="VIR-REMB-1",
        version=0,
        recorded_by=dp_staff,
    )

    assert (refund.method, refund.state, refund.recorded_by) == (
        PaymentMethod.TRANSFER,
        RefundState.SUCCEEDED,
        dp_staff,
    )
    now = balance(overpaid)
    assert (now.status, now.overpaid_amount) == (InvoiceStatus.OVERPAID, Decimal("200.00"))

    invoice_refund_record(
        invoice=overpaid, amount=Decimal("200.00"), refunded_on=today, reason=REASON, version=1
    )
    now = balance(overpaid)
    assert (now.status, now.overpaid_amount) == (InvoiceStatus.PAID, Decimal("0.00"))


@pytest.mark.parametrize(
    ("amount", "days", "reason", "field"),
    [
        ("300.01", 0, REASON, "amount"),
        ("0", 0, REASON, "amount"),
        ("10", -1, REASON, "refunded_on"),
        ("10", 0, " ", "reason"),
    ],
)
def test_a_transfer_refund_refused(overpaid, amount, days, reason, field):
    with pytest.raises(ValidationError) as refused:
        invoice_refund_record(
            invoice=overpaid,
            amount=Decimal(amount),
            refunded_on=timezone.localdate() - timedelta(days=days),
            reason=reason,
        )
    assert field in refused.value.message_dict
    assert not Refund.objects.exists()


def test_a_transfer_refund_submitted_twice_is_recorded_once(overpaid):
    def submit():
        return invoice_refund_record(
            invoice=overpaid,
            amount=Decimal("50"),
            refunded_on=timezone.localdate(),
            reason=REASON,
            version=0,
        )

    submit()
    with pytest.raises(ValidationError):
        submit()
    assert Refund.objects.count() == 1


def test_a_pending_card_refund_is_not_refunded_again_by_transfer(overpaid, stripe_api):
    refund_by_card(overpaid, "250.00")
    with pytest.raises(ValidationError):
        invoice_refund_record(
            invoice=overpaid,
            amount=Decimal("100"),
            refunded_on=timezone.localdate(),
            reason=REASON,
        )
    invoice_refund_record(
        invoice=overpaid, amount=Decimal("50"), refunded_on=timezone.localdate(), reason=REASON
    )


def test_nothing_to_refund_on_an_invoice_paid_once(client):
    invoice = signed_in_invoice(client)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    with pytest.raises(ValidationError) as refused:
        invoice_refund_record(
            invoice=invoice, amount=Decimal("1"), refunded_on=timezone.localdate(), reason=REASON
        )
    assert refused.value.code == "nothing_to_refund"


# --- Carried over to another invoice, the membership re-opened ----------------------------------


def _next_year_invoice(invoice):
    """An unpaid invoice of the next year for the organisation of ``invoice``."""
    term = Term.objects.create(
        membership=invoice.term.membership,
        plan=invoice.term.plan,
        start_date=invoice.term.end_date + timedelta(days=1),
        end_date=invoice.term.end_date.replace(year=invoice.term.end_date.year + 1),
        fee=Decimal("250.00"),
    )
    return invoice_issue(term=term)


def test_an_over_payment_carried_over_pays_the_next_invoice(overpaid, dp_staff):
    later = _next_year_invoice(overpaid)
    assert list(invoices_to_carry_over_to(invoice=overpaid)) == [later]

    refund, payment = invoice_payment_carry_over(
        from_invoice=overpaid,
        to_invoice=later,
        amount=Decimal("250.00"),
        reason="Report sur la cotisation suivante",
        by=dp_staff,
    )

    assert (refund.method, refund.reference, refund.state) == (
        PaymentMethod.CARRYOVER,
        later.number,
        RefundState.SUCCEEDED,
    )
    assert (payment.invoice, payment.method, payment.reference, payment.amount) == (
        later,
        PaymentMethod.CARRYOVER,
        overpaid.number,
        Decimal("250.00"),
    )
    later.refresh_from_db()
    assert later.is_paid and later.term.is_paid
    assert balance(overpaid).overpaid_amount == Decimal("50.00")


def test_a_carry_over_is_refused_beyond_what_is_due_or_to_another_organisation(overpaid):
    later = _next_year_invoice(overpaid)
    with pytest.raises(ValidationError) as refused:
        invoice_payment_carry_over(
            from_invoice=overpaid, to_invoice=later, amount=Decimal("250.01"), reason=REASON
        )
    assert "amount" in refused.value.message_dict
    other = invoice_issue(term=unpaid_term(organisation__name="Autre SA"))
    with pytest.raises(ValidationError) as refused:
        invoice_payment_carry_over(
            from_invoice=overpaid, to_invoice=other, amount=Decimal("10"), reason=REASON
        )
    assert "to_invoice" in refused.value.message_dict
    assert not Refund.objects.exists()
    assert not Payment.objects.filter(method=PaymentMethod.CARRYOVER).exists()


def test_a_payment_after_the_renewal_was_cancelled_re_opens_the_membership(client, dp_staff):
    invoice = signed_in_invoice(client)
    membership = invoice.term.membership
    credit_note_issue(invoice=invoice, reason="Renouvellement impayé", issued_by=dp_staff)
    # The member pays after all.
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=timezone.localdate())
    assert balance(invoice).status == InvoiceStatus.OVERPAID

    new_invoice = membership_reopen(
        invoice=invoice, reason="Paiement reçu après l’annulation", by=dp_staff, version=0
    )

    term = new_invoice.term
    old_term = Term.objects.get(pk=invoice.term_id)
    assert (term.plan, term.start_date, term.end_date, term.fee) == (
        old_term.plan,
        old_term.start_date,
        old_term.end_date,
        old_term.fee,
    )
    assert new_invoice.number != invoice.number
    assert new_invoice.is_paid is False  # the instance returned before its payment
    new_invoice.refresh_from_db()
    assert new_invoice.is_paid
    assert new_invoice.payments.get().reference == invoice.number
    assert balance(invoice).status == InvoiceStatus.CANCELLED
    status = memberships_with_status(on=timezone.localdate()).get(pk=membership.pk).status
    assert status == MembershipStatus.CURRENT
    # Done once: a second click finds nothing left.
    with pytest.raises(ValidationError):
        membership_reopen(invoice=invoice, reason="encore", by=dp_staff, version=0)
    assert Term.objects.filter(membership=membership).count() == 2


def test_only_a_cancelled_invoice_re_opens_a_membership(overpaid):
    with pytest.raises(ValidationError) as refused:
        membership_reopen(invoice=overpaid, reason=REASON)
    assert refused.value.code == "not_cancelled"
