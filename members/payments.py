"""Ways to pay an invoice, behind one small interface.

Each provider says whether it can pay an invoice and what the invoice page shows for it (a
template and its context). :class:`BankTransfer`, the default, shows the issuer's bank details
and the reference to give; staff record the transfers in the admin. :class:`StripeCheckout`
sends the member to a Stripe Checkout page and records the payment when Stripe says it is paid
(on the return page or through the webhook, whichever comes first: the session's id is the
payment's ``provider_reference``, so the second changes nothing).
"""

import datetime as dt
import logging
from decimal import Decimal
from typing import Any, ClassVar, Protocol

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Invoice, Payment, PaymentMethod
from members.selectors import invoices_with_balance
from members.services.billing import invoice_payment_record

logger = logging.getLogger(__name__)


def invoice_amount_left(*, invoice: Invoice) -> Decimal:
    """What is still to be paid on ``invoice`` (never negative)."""
    return invoices_with_balance(Invoice.objects.filter(pk=invoice.pk)).get().amount_left


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


def iban_format(iban: str) -> str:
    """``FR76 3000 6000 0112 3456 7890 189``: upper case, in groups of four, as printed on
    French bank details."""
    compact = "".join(iban.split()).upper()
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


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
            "iban": iban_format(issuer["iban"]),
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
        """Create a Checkout Session for what is left to pay on ``invoice``; return its URL.

        The session is created on the issuing cluster's own Stripe account when it has one
        (``Cluster.stripe_account``, a Connect account): each association collects its fees.

        Raises ``ValidationError`` when nothing is left to pay, and ``stripe.StripeError`` when
        Stripe refuses or cannot be reached (nothing is recorded either way).
        """
        amount_left = invoice_amount_left(invoice=invoice)
        if invoice.is_paid or amount_left <= 0:
            raise ValidationError(_("Cette facture est déjà réglée."))
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
            options=self._on_account(invoice.cluster.stripe_account),
        )
        return session.url

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


def _is_payable(invoice: Invoice) -> bool:
    return not invoice.is_paid and invoice.amount > 0


PROVIDERS: tuple[PaymentProvider, ...] = (BankTransfer(), StripeCheckout())


def providers_for(invoice: Invoice) -> list[PaymentProvider]:
    """The ways to pay ``invoice`` offered now, the default (bank transfer) first."""
    return [provider for provider in PROVIDERS if provider.is_available(invoice)]
