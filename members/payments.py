"""Ways to pay an invoice, behind one small interface.

Each provider says whether it can pay an invoice and what the invoice page shows for it (a
template and its context). :class:`BankTransfer`, the default, shows the issuer's bank details
and the reference to give; staff record the transfers in the admin. :class:`StripeCheckout`
sends the member to a Stripe Checkout page, the invoice's one while it is open (never two open
at once), and records the payment when Stripe says it is paid (on the return page or through the
webhook, whichever comes first: the session's id is the payment's ``provider_reference``, so the
second changes nothing).
"""

import datetime as dt
import logging
from decimal import Decimal
from typing import Any, ClassVar, Protocol

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members import formatting
from members.models import CheckoutSession, CheckoutStatus, Invoice, Payment, PaymentMethod
from members.selectors import invoice_with_balance
from members.services.billing import (
    checkout_session_close,
    checkout_session_record,
    invoice_payment_record,
)

logger = logging.getLogger(__name__)


#: An open Checkout Session is sent to again only if it stays open at least this long: time for
#: the member to type a card's details. Closer to its end, it is expired and replaced.
CHECKOUT_REUSE_MARGIN = dt.timedelta(minutes=15)


def _amount_left(invoice: Invoice) -> Decimal:
    """What is still to be paid on ``invoice`` as it stands now, nothing once it is paid."""
    now = invoice_with_balance(invoice=invoice)
    return Decimal("0.00") if now.is_paid else now.amount_left


class PaymentProvider(Protocol):
    """A way to pay an invoice, as the invoice page offers it."""

    code: ClassVar[str]
    label: ClassVar[str | Promise]
    #: Template of the block the invoice page shows, rendered with :meth:`page_context`.
    template_name: ClassVar[str]

    def is_available(self, invoice: Invoice) -> bool:
        """Whether the invoice page offers this way to pay ``invoice``."""
        ...

    def page_context(self, invoice: Invoice, *, amount_left: Decimal) -> dict[str, Any]:
        """What :attr:`template_name` needs, besides ``invoice`` and ``amount_left``."""
        ...


class BankTransfer:
    """Payment by bank transfer to the issuing cluster, the invoice number as reference.

    Offered for every unpaid invoice whose issuer had an IBAN when it was issued (the invoice's
    snapshot of its issuer's details, which never changes). Staff record the transfers received.
    """

    code: ClassVar[str] = "transfer"
    label: ClassVar[str | Promise] = gettext_lazy("Virement bancaire")
    template_name: ClassVar[str] = "members/payments/bank_transfer.html"

    def is_available(self, invoice: Invoice) -> bool:
        return _is_payable(invoice) and bool(invoice.issuer_details.get("iban"))

    def page_context(self, invoice: Invoice, *, amount_left: Decimal) -> dict[str, Any]:
        issuer = invoice.issuer_details
        return {
            "beneficiary": issuer.get("name", ""),
            "iban": formatting.iban(issuer["iban"]),
            "bic": "".join(issuer.get("bic", "").split()).upper(),
            "reference": invoice.number,
        }


class StripeCheckout:
    """Payment by card on a Stripe Checkout page, offered when ``STRIPE_SECRET_KEY`` is set.

    Stripe's API is reached at ``STRIPE_API_BASE`` (a local fake server in tests).
    """

    code: ClassVar[str] = "stripe"
    label: ClassVar[str | Promise] = gettext_lazy("Carte bancaire")
    template_name: ClassVar[str] = "members/payments/stripe_checkout.html"

    @staticmethod
    def is_configured() -> bool:
        return bool(settings.STRIPE_SECRET_KEY)

    def is_available(self, invoice: Invoice) -> bool:
        return self.is_configured() and _is_payable(invoice)

    def page_context(self, invoice: Invoice, *, amount_left: Decimal) -> dict[str, Any]:
        return {}

    def _client(self) -> stripe.StripeClient:
        return stripe.StripeClient(
            settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE}
        )

    @staticmethod
    def _on_account(account: str) -> dict[str, str]:
        """Request options to act on the connected account ``account`` (none: the platform's)."""
        return {"stripe_account": account} if account else {}

    def checkout_start(
        self, invoice: Invoice, *, success_url: str, cancel_url: str, customer_email: str
    ) -> str:
        """The URL of a Checkout Session where the member pays what is left to pay on
        ``invoice``: the invoice's open session, or a new one.

        The open session recorded for the invoice is reused while Stripe still has it open, for
        what is left to pay, and for at least :data:`CHECKOUT_REUSE_MARGIN`: two tabs, a double
        click or a member coming back pay through one page, never two. Otherwise it is expired
        through Stripe's API first (a session paid meanwhile is settled instead), and a new one
        is created and recorded (:class:`members.models.CheckoutSession`). Expiring rather than
        forgetting it matters: a session asking for another amount than what is left (a
        transfer was received since) would still take the member's money if paid. All of it
        happens under the invoice's row lock: of two requests at once, the second waits for the
        first to commit, then finds the session it opened.

        A new session is created on the issuing cluster's own Stripe account when it has one
        (``Cluster.stripe_account``, a Connect account): each association collects its fees.

        Raises ``ValidationError`` when nothing is left to pay, and ``stripe.StripeError`` when
        Stripe refuses or cannot be reached (no new session is recorded; what was learnt of the
        previous one, e.g. its payment, is kept).
        """
        refusal: stripe.StripeError | None = None
        with transaction.atomic():
            try:
                url = self._checkout_open(
                    invoice,
                    success_url=success_url,
                    cancel_url=cancel_url,
                    customer_email=customer_email,
                )
            except stripe.StripeError as exc:
                refusal = exc
        if refusal is not None:
            raise refusal
        if url is None and invoice.is_cancelled:
            raise ValidationError(_("Cette facture est annulée : il n’y a plus rien à régler."))
        if url is None:
            raise ValidationError(_("Cette facture est déjà réglée."))
        return url

    def _checkout_open(
        self, invoice: Invoice, *, success_url: str, cancel_url: str, customer_email: str
    ) -> str | None:
        """:meth:`checkout_start` in its transaction: the URL, or ``None`` if nothing is left."""
        # The lock serialises the checkouts of one invoice, and its payments
        # (invoice_payment_record takes it too).
        invoice = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("cluster")
            .get(pk=invoice.pk)
        )
        # Nothing is left on a cancelled invoice: its open page, if any, is expired below.
        amount_left = Decimal("0.00") if invoice.is_cancelled else _amount_left(invoice)
        opened = CheckoutSession.objects.filter(invoice=invoice, status=CheckoutStatus.OPEN).first()
        if opened is not None:
            url = self._checkout_reuse(opened, amount_left=amount_left)
            if url:
                return url
            amount_left = _amount_left(invoice)  # its payment may just have been recorded
        if amount_left <= 0:
            return None
        account = invoice.cluster.stripe_account
        reference = {"invoice_id": str(invoice.pk), "invoice_number": invoice.number}
        session = self._client().v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "payment_method_types": ["card"],
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "eur",
                            "unit_amount": int(amount_left * 100),
                            "product_data": {"name": invoice.description},
                        },
                    }
                ],
                "client_reference_id": invoice.number,
                "metadata": reference,
                # Shown with the payment in Stripe's dashboard, where staff look for it.
                "payment_intent_data": {
                    "description": _("Facture %(number)s") % {"number": invoice.number},
                    "metadata": reference,
                },
                "customer_email": customer_email,
                "locale": "en" if translation.get_language() == "en" else "fr",
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            options=self._on_account(account),
        )
        checkout_session_record(
            invoice=invoice,
            provider_reference=session.id,
            account=account,
            amount=amount_left,
            url=session.url,
            expires_at=dt.datetime.fromtimestamp(session.expires_at, tz=dt.UTC),
        )
        return session.url

    def _checkout_reuse(self, opened: CheckoutSession, *, amount_left: Decimal) -> str | None:
        """The URL of the invoice's open session ``opened`` if it may be reused; else close it
        (expired through Stripe's API if it was still open, settled if it was paid) and return
        ``None``. The caller holds the invoice's lock."""
        account = opened.account
        try:
            session = self.session_retrieve(opened.provider_reference, account=account)
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing":
                raise
            # Unknown to Stripe's account (made with other keys, e.g. test ones): nobody can
            # pay it through this site's account any more.
            logger.warning("Stripe no longer knows Checkout session %s.", opened.provider_reference)
            checkout_session_close(
                provider_reference=opened.provider_reference, status=CheckoutStatus.EXPIRED
            )
            return None
        if session.status == "open":
            lasts_until = timezone.now() + CHECKOUT_REUSE_MARGIN
            if opened.amount == amount_left and session.expires_at > lasts_until.timestamp():
                return session.url
            try:
                session = self._client().v1.checkout.sessions.expire(
                    session.id, options=self._on_account(account)
                )
            except stripe.InvalidRequestError:
                # No longer open: paid (or expired) since it was read. See what it became; if it
                # is still open, Stripe refuses to expire it and no second session is opened.
                session = self.session_retrieve(session.id, account=account)
                if session.status == "open":
                    raise
        if session.status == "complete":
            self.checkout_settle(session, account=account)
        checkout_session_close(
            provider_reference=opened.provider_reference,
            status=(
                CheckoutStatus.COMPLETE if session.status == "complete" else CheckoutStatus.EXPIRED
            ),
        )
        return None

    def session_retrieve(self, session_id: str, *, account: str = "") -> stripe.checkout.Session:
        """The Checkout Session ``session_id`` of the Stripe account ``account`` (a cluster's
        connected account, or the platform's) as Stripe knows it now (``stripe.StripeError`` if
        it is unknown or Stripe cannot be reached)."""
        return self._client().v1.checkout.sessions.retrieve(
            session_id, options=self._on_account(account)
        )

    @staticmethod
    def session_invoice(session: stripe.checkout.Session) -> Invoice | None:
        """The invoice a session of ours was created for (its metadata name it), or ``None``."""
        metadata = session.metadata.to_dict() if session.metadata else {}
        invoice_id = str(metadata.get("invoice_id", ""))
        if not invoice_id.isdigit():
            return None
        return (
            Invoice.objects.select_related("cluster")
            .filter(
                pk=int(invoice_id),
                number=metadata.get("invoice_number", ""),
            )
            .first()
        )

    def checkout_settle(
        self,
        session: stripe.checkout.Session,
        *,
        account: str = "",
        completed_at: int | None = None,
    ) -> Payment | None:
        """Record the payment of ``session``, paid on the Stripe account ``account`` (a
        connected account, or the platform's), if it is paid, for a known invoice, and the money
        reached the account of the invoice's issuer; return it.

        ``completed_at`` (a Unix time, the webhook event's) dates the payment; by default, today
        in Europe/Paris. Safe to call any number of times, in any order: the session's id is the
        payment's ``provider_reference``, recorded once. Anything else (unpaid, expired, not in
        euros, unknown invoice) records nothing.
        """
        if session.payment_status != "paid" or not session.amount_total:
            return None
        invoice = self.session_invoice(session)
        if invoice is None:
            logger.warning("Stripe Checkout session %s names no known invoice.", session.id)
            return None
        if account != invoice.cluster.stripe_account:
            logger.warning(
                "Stripe Checkout session %s was paid to account %r, not to %s's.",
                session.id,
                account,
                invoice.cluster,
            )
            return None
        if (session.currency or "").lower() != "eur":
            logger.warning("Stripe Checkout session %s is not in euros.", session.id)
            return None
        received_on = (
            timezone.localdate(dt.datetime.fromtimestamp(completed_at, tz=dt.UTC))
            if completed_at
            else timezone.localdate()
        )
        intent = session.payment_intent  # its id, or the object when expanded
        return invoice_payment_record(
            invoice=invoice,
            amount=(Decimal(session.amount_total) / 100).quantize(Decimal("0.01")),
            received_on=received_on,
            method=PaymentMethod.CARD,
            reference=(intent if isinstance(intent, str) else intent.id) if intent else "",
            provider_reference=session.id,
        )

    # --- Refunds ---

    @staticmethod
    def payment_account(payment: Payment) -> str:
        """The Stripe account the card payment ``payment`` was made on: its Checkout Session's
        (the cluster's account at the time), else the issuing cluster's, which it was settled
        on (:meth:`checkout_settle` records nothing paid to another account)."""
        account = (
            CheckoutSession.objects.filter(provider_reference=payment.provider_reference)
            .values_list("account", flat=True)
            .first()
        )
        return payment.invoice.cluster.stripe_account if account is None else account

    def payment_intent_of(self, payment: Payment, *, account: str) -> str:
        """The id of the PaymentIntent that took the card payment ``payment`` (``pi_…``): its
        reference, or else read from its Checkout Session at Stripe."""
        if payment.reference.startswith("pi_"):
            return payment.reference
        intent = self.session_retrieve(payment.provider_reference, account=account).payment_intent
        intent = (intent if isinstance(intent, str) else intent.id) if intent else ""
        if not intent:
            raise ValidationError(_("Stripe ne connaît pas de paiement pour cette session."))
        return intent

    def refund_create(
        self,
        *,
        payment_intent: str,
        amount: Decimal,
        account: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> stripe.Refund:
        """Ask Stripe to refund ``amount`` (euros) of the PaymentIntent ``payment_intent`` of the
        Stripe account ``account``. ``idempotency_key`` names our refund: a request sent again
        with it (the library retries a request that got no answer) refunds once."""
        return self._client().v1.refunds.create(
            params={
                "payment_intent": payment_intent,
                "amount": int(amount * 100),
                "reason": "requested_by_customer",
                "metadata": metadata,
            },
            options={**self._on_account(account), "idempotency_key": idempotency_key},
        )

    def refund_retrieve(self, refund_id: str, *, account: str = "") -> stripe.Refund:
        """The refund ``refund_id`` of the Stripe account ``account`` as Stripe knows it now."""
        return self._client().v1.refunds.retrieve(refund_id, options=self._on_account(account))

    def refunds_of(self, payment_intent: str, *, account: str = "") -> list[stripe.Refund]:
        """The refunds of the PaymentIntent ``payment_intent`` of the Stripe account
        ``account``, as Stripe knows them now."""
        return list(
            self._client()
            .v1.refunds.list(
                params={"payment_intent": payment_intent, "limit": 100},
                options=self._on_account(account),
            )
            .auto_paging_iter()
        )


def _is_payable(invoice: Invoice) -> bool:
    """Whether ``invoice`` is still to pay: neither paid nor cancelled (a credit note, or an
    unpaid renewal expired), with an amount."""
    return not invoice.is_paid and not invoice.is_cancelled and invoice.amount > 0


PROVIDERS: tuple[PaymentProvider, ...] = (BankTransfer(), StripeCheckout())


def providers_for(invoice: Invoice) -> list[PaymentProvider]:
    """The ways to pay ``invoice`` offered now, the default (bank transfer) first."""
    return [provider for provider in PROVIDERS if provider.is_available(invoice)]
