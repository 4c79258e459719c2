"""Refunds: what was paid beyond what is due on an invoice, or paid on an invoice since
cancelled, given back to the member (by card through the payment provider, or by transfer
recorded by staff) or carried over to another invoice of the same organisation; and the
membership re-opened with a new invoice when a payment arrived after its renewal was cancelled.

What is left to refund on an invoice is its over-paid amount less the card refunds still pending
(:func:`members.selectors.invoices_with_refunds`). Every refund is decided under the invoice's row
lock and against the invoice's refunds as the page showed them (:func:`refund_version`): a double
click, a second tab or a colleague records it once.
"""

import datetime as dt
import logging
from datetime import date
from decimal import Decimal

import stripe
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members import formatting
from members.models import Invoice, Payment, PaymentMethod, Refund, RefundState, Term
from members.payments import StripeCheckout
from members.selectors import card_payments_refundable, invoice_with_refunds
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.terms import term_save

logger = logging.getLogger(__name__)

#: A Stripe refund's status, as our refund's state: ``requires_action`` waits for the customer.
STRIPE_REFUND_STATES = {
    "pending": RefundState.PENDING,
    "requires_action": RefundState.PENDING,
    "succeeded": RefundState.SUCCEEDED,
    "failed": RefundState.FAILED,
    "canceled": RefundState.FAILED,
}


def refund_version(*, invoice: Invoice) -> int:
    """How many refunds ``invoice`` has (whatever their state): what a refund's page is opened
    on, so that a refund submitted twice is recorded once."""
    return Refund.objects.filter(invoice=invoice).count()


def _invoice_lock(invoice: Invoice) -> Invoice:
    """``invoice`` locked until the transaction ends, with what a refund reads. The lock is the
    one payments take (:func:`members.services.billing.invoice_payment_record`)."""
    return (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("cluster", "term__membership")
        .get(pk=invoice.pk)
    )


def _refund_check(*, invoice: Invoice, amount: Decimal | None, reason: str, version: int | None):
    """The reason, stripped, if a refund of ``amount`` may be taken from ``invoice`` (locked by
    the caller) now; else :class:`ValidationError`."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Indiquez le motif du remboursement.")})
    if version is not None and refund_version(invoice=invoice) != version:
        raise ValidationError(
            _(
                "Un remboursement de la facture %(number)s a été enregistré entre-temps : rien "
                "n’a été fait. Voici ce qui reste à rembourser."
            )
            % {"number": invoice.number},
            code="refund_changed",
        )
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("Le montant d’un remboursement doit être positif.")})
    left = invoice_with_refunds(invoice=invoice).refund_left
    if left <= 0:
        raise ValidationError(
            _("Il ne reste rien à rembourser sur la facture %(number)s.")
            % {"number": invoice.number},
            code="nothing_to_refund",
        )
    if amount > left:
        raise ValidationError(
            {
                "amount": _(
                    "Le montant dépasse ce qui reste à rembourser (%(left)s) sur la facture "
                    "%(number)s."
                )
                % {"left": formatting.money(left), "number": invoice.number}
            }
        )
    return reason


@transaction.atomic
def invoice_refund_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    refunded_on: date,
    reason: str,
    reference: str = "",
    version: int | None = None,
    recorded_by: AbstractBaseUser | None = None,
) -> Refund:
    """Record a refund of ``amount`` by bank transfer on ``invoice``, made on ``refunded_on``,
    because of ``reason`` (required); return it. It counts at once in the invoice's balance.

    Refused (:class:`ValidationError`): no reason, an amount not positive or beyond what is left
    to refund (the over-paid amount less the card refunds pending), a date in the future, and,
    given ``version`` (:func:`refund_version`), a refund recorded since the page was opened.
    """
    invoice = _invoice_lock(invoice)
    reason = _refund_check(invoice=invoice, amount=amount, reason=reason, version=version)
    if refunded_on is None or refunded_on > timezone.localdate():
        raise ValidationError(
            {"refunded_on": _("Un remboursement ne peut pas être daté dans le futur.")}
        )
    return Refund.objects.create(
        invoice=invoice,
        amount=amount,
        refunded_on=refunded_on,
        method=PaymentMethod.TRANSFER,
        state=RefundState.SUCCEEDED,
        reference=(reference or "").strip(),
        reason=reason,
        recorded_by=recorded_by,
    )


def card_refund_payment(*, invoice: Invoice, amount: Decimal | None = None) -> Payment | None:
    """The card payment of ``invoice`` that a card refund (of ``amount``, if given) would go
    to: the oldest with enough left to refund on it; ``None`` if none can take it."""
    for payment in card_payments_refundable(invoice=invoice):
        if payment.refundable > 0 and (amount is None or payment.refundable >= amount):
            return payment
    return None


@transaction.atomic
def invoice_refund_card(
    *,
    invoice: Invoice,
    amount: Decimal,
    reason: str,
    version: int | None = None,
    recorded_by: AbstractBaseUser | None = None,
) -> Refund:
    """Ask the payment provider (Stripe's Refund API) to refund ``amount`` of a card payment of
    ``invoice`` to the card that paid it, because of ``reason``; return the refund, pending
    until Stripe's notification says it succeeded or failed
    (:func:`refund_card_sync`).

    The refund is recorded, then asked on the Stripe account the payment was made on, with an
    idempotency key naming our refund, all under the invoice's row lock: of two clicks, the
    second waits, then finds nothing left to refund and asks nothing. A refusal or silence of
    Stripe (``stripe.StripeError``) records nothing. Refused as :func:`invoice_refund_record`
    is, and when no card payment of the invoice has ``amount`` left to refund.
    """
    invoice = _invoice_lock(invoice)
    reason = _refund_check(invoice=invoice, amount=amount, reason=reason, version=version)
    payment = card_refund_payment(invoice=invoice, amount=amount)
    if payment is None:
        raise ValidationError(
            {
                "amount": _(
                    "Aucun paiement par carte de cette facture ne peut rembourser ce montant."
                )
            }
        )
    provider = StripeCheckout()
    account = provider.payment_account(payment)
    refund = Refund.objects.create(
        invoice=invoice,
        payment=payment,
        amount=amount,
        refunded_on=timezone.localdate(),
        method=PaymentMethod.CARD,
        state=RefundState.PENDING,
        reason=reason,
        recorded_by=recorded_by,
    )
    answer = provider.refund_create(
        payment_intent=provider.payment_intent_of(payment, account=account),
        amount=amount,
        account=account,
        idempotency_key=f"refund-{refund.pk}",
        metadata={"refund_id": str(refund.pk), "invoice_number": invoice.number},
    )
    refund.provider_reference = answer.id
    refund.state = STRIPE_REFUND_STATES.get(answer.status, RefundState.PENDING)
    refund.save(update_fields=["provider_reference", "state"])
    return refund


def refund_card_sync(*, refund_id: str, account: str = "") -> Refund | None:
    """Bring our record of the Stripe refund ``refund_id`` (of the Stripe ``account``) in line
    with what Stripe says of it now; return it. Called on Stripe's notifications, in any number
    and order: the refund is read from Stripe's API, not from the notification.

    A refund asked here becomes succeeded or failed; one made in Stripe's dashboard on a card
    payment of ours (its PaymentIntent) is recorded, once. A refund of another account's
    payment, not in euros, or of a payment unknown here records nothing (``None``).
    """
    refund = StripeCheckout().refund_retrieve(refund_id, account=account)
    return _refund_card_apply(refund, account=account)


def refunds_card_sync(*, payment_intent: str, account: str = "") -> list[Refund]:
    """:func:`refund_card_sync` for every refund Stripe knows of the PaymentIntent
    ``payment_intent`` (a ``charge.refunded`` notification names the charge, not the refund)."""
    refunds = StripeCheckout().refunds_of(payment_intent, account=account)
    return [
        recorded
        for refund in refunds
        if (recorded := _refund_card_apply(refund, account=account)) is not None
    ]


@transaction.atomic
def _refund_card_apply(refund: stripe.Refund, *, account: str) -> Refund | None:
    intent = refund.payment_intent
    intent = (intent if isinstance(intent, str) else intent.id) if intent else ""
    payment = (
        Payment.objects.select_related("invoice__cluster")
        .filter(method=PaymentMethod.CARD, reference=intent)
        .exclude(provider_reference="")
        .first()
        if intent
        else None
    )
    if payment is None:
        logger.warning("Stripe refund %s is of no card payment known here.", refund.id)
        return None
    provider = StripeCheckout()
    if provider.payment_account(payment) != account:
        logger.warning(
            "Stripe refund %s is of account %r, not the one payment %s was made on.",
            refund.id,
            account,
            payment.pk,
        )
        return None
    if (refund.currency or "").lower() != "eur":
        logger.warning("Stripe refund %s is not in euros.", refund.id)
        return None
    # The invoice's lock first: a refund being asked here (invoice_refund_card holds it until
    # its row is committed, re_… id included) is seen, never recorded a second time.
    _invoice_lock(payment.invoice)
    state = STRIPE_REFUND_STATES.get(refund.status, RefundState.PENDING)
    recorded = Refund.objects.select_for_update().filter(provider_reference=refund.id).first()
    if recorded is None:
        with translation.override(settings.LANGUAGE_CODE):
            reason = _("Remboursement fait chez Stripe (%(reason)s).") % {
                "reason": refund.reason or _("sans motif")
            }
        return Refund.objects.create(
            invoice=payment.invoice,
            payment=payment,
            amount=(Decimal(refund.amount) / 100).quantize(Decimal("0.01")),
            refunded_on=timezone.localdate(dt.datetime.fromtimestamp(refund.created, tz=dt.UTC)),
            method=PaymentMethod.CARD,
            state=state,
            provider_reference=refund.id,
            reason=reason,
        )
    if recorded.state != state:
        recorded.state = state
        recorded.save(update_fields=["state"])
    return recorded


@transaction.atomic
def invoice_payment_carry_over(
    *,
    from_invoice: Invoice,
    to_invoice: Invoice,
    amount: Decimal,
    reason: str,
    by: AbstractBaseUser | None = None,
    version: int | None = None,
) -> tuple[Refund, Payment]:
    """Carry ``amount`` paid on ``from_invoice`` over to ``to_invoice``, an unpaid invoice of
    the same organisation and cluster, because of ``reason``; return the refund recorded on the
    first (method "carry-over", its reference the second's number) and the payment recorded on
    the second (its reference the first's number), which may pay it.

    Both invoices are locked (in the order of their ids, so that two carry-overs between them
    wait for each other rather than deadlock). Refused as :func:`invoice_refund_record` is, and
    for an amount beyond what is left to pay on ``to_invoice``, or an invoice of another
    organisation or cluster, cancelled or paid.
    """
    if from_invoice.pk == to_invoice.pk:
        raise ValidationError(
            {"to_invoice": _("Choisissez une autre facture que celle du trop-perçu.")}
        )
    locked = {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update(of=("self",))
        .select_related("cluster", "term__membership")
        .filter(pk__in=[from_invoice.pk, to_invoice.pk])
        .order_by("pk")
    }
    from_invoice, to_invoice = locked[from_invoice.pk], locked[to_invoice.pk]
    reason = _refund_check(invoice=from_invoice, amount=amount, reason=reason, version=version)
    if (
        to_invoice.cluster_id != from_invoice.cluster_id
        or to_invoice.term.membership.organisation_id
        != from_invoice.term.membership.organisation_id
    ):
        raise ValidationError(
            {"to_invoice": _("La facture doit être du même adhérent et du même émetteur.")}
        )
    target = invoice_with_refunds(invoice=to_invoice)
    if target.cancelled_on is not None or target.amount_left <= 0:
        raise ValidationError(
            {
                "to_invoice": _("La facture %(number)s n’a rien à payer.")
                % {"number": to_invoice.number}
            }
        )
    if amount > target.amount_left:
        raise ValidationError(
            {
                "amount": _("Le montant dépasse ce qui reste à payer (%(left)s) sur %(number)s.")
                % {"left": formatting.money(target.amount_left), "number": to_invoice.number}
            }
        )
    today = timezone.localdate()
    refund = Refund.objects.create(
        invoice=from_invoice,
        amount=amount,
        refunded_on=today,
        method=PaymentMethod.CARRYOVER,
        state=RefundState.SUCCEEDED,
        reference=to_invoice.number,
        reason=reason,
        recorded_by=by,
    )
    payment = invoice_payment_record(
        invoice=to_invoice,
        amount=amount,
        received_on=today,
        method=PaymentMethod.CARRYOVER,
        reference=from_invoice.number,
        recorded_by=by,
    )
    return refund, payment


def membership_reopen_refusal(invoice: Invoice) -> str:
    """Why the membership of the over-paid ``invoice`` cannot be re-opened with a new invoice,
    or ``""`` when it can: the invoice and its term must have been cancelled (by a credit note)."""
    if invoice.cancelled_on is None or invoice.term.cancelled_on is None:
        return _(
            "Seule une facture annulée, dont la période d’adhésion a été annulée, peut rouvrir "
            "l’adhésion."
        )
    return ""


@transaction.atomic
def membership_reopen(
    *,
    invoice: Invoice,
    reason: str,
    by: AbstractBaseUser | None = None,
    version: int | None = None,
) -> Invoice:
    """Re-open the membership of ``invoice``, cancelled with its term (an unpaid renewal
    cancelled by a credit note) and paid since: a new term for the same period, plan and fee,
    its invoice issued today, and what was paid on the cancelled invoice carried over to it
    (:func:`invoice_payment_carry_over`; what exceeds the new invoice stays to refund). Return
    the new invoice.

    Refused (:class:`ValidationError`): an invoice not cancelled or whose term was not, nothing
    left to refund, a period now covered by another term of the membership, and what
    :func:`invoice_payment_carry_over` refuses.
    """
    invoice = _invoice_lock(invoice)
    refusal = membership_reopen_refusal(invoice)
    if refusal:
        raise ValidationError(refusal, code="not_cancelled")
    left = invoice_with_refunds(invoice=invoice).refund_left
    _refund_check(
        invoice=invoice, amount=left if left > 0 else Decimal(1), reason=reason, version=version
    )
    cancelled = invoice.term
    term = term_save(
        term=Term(
            membership=cancelled.membership,
            plan_id=cancelled.plan_id,
            start_date=cancelled.start_date,
            end_date=cancelled.end_date,
            fee=cancelled.fee,
        )
    )
    new_invoice = invoice_issue(term=term)
    invoice_payment_carry_over(
        from_invoice=invoice,
        to_invoice=new_invoice,
        amount=min(left, new_invoice.amount),
        reason=reason,
        by=by,
    )
    return new_invoice
