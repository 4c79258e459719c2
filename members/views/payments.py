"""An invoice and the ways to pay it: bank transfer instructions, card payment through Stripe
Checkout (the checkout, the page Stripe sends the member back to, and Stripe's webhook)."""

import logging

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from members.models import CheckoutStatus, Invoice
from members.payments import StripeCheckout, providers_for
from members.selectors import invoices_of, invoices_with_refunds
from members.services.billing import checkout_session_close
from members.services.refunds import refund_card_sync, refunds_card_sync

logger = logging.getLogger(__name__)

#: Events after which a Checkout Session may be paid; besides them, the expiry of a session
#: closes it here, and every other event is only acknowledged.
SETTLING_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded"}
)
EXPIRY_EVENT = "checkout.session.expired"
#: Events about a refund (the event's object is the refund), and about a charge refunded (its
#: object is the charge: its PaymentIntent's refunds are read from Stripe).
REFUND_EVENTS = frozenset(
    {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
)
CHARGE_REFUNDED_EVENT = "charge.refunded"


def _invoice_of(request: HttpRequest, invoice_id: int) -> Invoice:
    """The invoice ``invoice_id`` if the user is a contact of its organisation, else 404; with
    what was paid, what is left, what was over-paid and what is being refunded
    (:func:`invoices_with_refunds`)."""
    return get_object_or_404(
        invoices_with_refunds(invoices_of(request.user)).select_related("term__plan"),
        pk=invoice_id,
    )


def _card_payment() -> StripeCheckout:
    """The card payment provider; 404 when it is not configured (card payment is off)."""
    provider = StripeCheckout()
    if not provider.is_configured():
        raise Http404
    return provider


@login_required
@require_safe
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """The invoice, its credit notes, what was paid and what is left (or over-paid, to refund),
    the refunds (those in progress too), and while unpaid and not cancelled the ways to pay it."""
    invoice = _invoice_of(request, invoice_id)
    payments = list(invoice.payments.all())
    credit_notes = list(invoice.credit_notes.order_by("issued_on", "pk"))
    refunds = list(invoice.refunds.order_by("refunded_on", "pk"))
    amount_left = invoice.amount_left
    if request.GET.get("paiement") == "annule" and not invoice.is_paid and not invoice.is_cancelled:
        messages.info(
            request, _("Paiement par carte annulé : rien n’a été débité. Vous pouvez réessayer.")
        )
    payment_options = [
        {
            "provider": provider,
            "template_name": provider.template_name,
            "details": provider.page_context(invoice, amount_left=amount_left),
        }
        for provider in providers_for(invoice)
    ]
    return render(
        request,
        "members/invoice_detail.html",
        {
            "invoice": invoice,
            "term": invoice.term,
            "payments": payments,
            "credit_notes": credit_notes,
            "cancelling": credit_notes[-1] if invoice.is_cancelled and credit_notes else None,
            "paid": invoice.paid_amount,
            "amount_left": amount_left,
            "overpaid": invoice.overpaid_amount,
            "refunds": refunds,
            "refund_pending": invoice.refund_pending_amount,
            "payment_options": payment_options,
        },
    )


@login_required
@require_POST
def card_checkout(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Send the member to a Stripe Checkout page for what is left to pay on the invoice."""
    provider = _card_payment()
    invoice = _invoice_of(request, invoice_id)
    invoice_url = reverse("members:invoice_detail", args=[invoice.pk])
    return_url = request.build_absolute_uri(reverse("members:card_return", args=[invoice.pk]))
    try:
        checkout_url = provider.checkout_start(
            invoice,
            # Stripe puts the session's id in place of {CHECKOUT_SESSION_ID}: keep it unquoted.
            success_url=return_url + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=request.build_absolute_uri(invoice_url) + "?paiement=annule",
            customer_email=request.user.email,
        )
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
        return redirect(invoice_url)
    except stripe.StripeError:
        logger.exception("Stripe refused a Checkout Session for invoice %s.", invoice.number)
        messages.error(
            request,
            _(
                "Le paiement par carte est momentanément indisponible et rien n’a été débité. "
                "Réessayez dans quelques minutes, ou réglez par virement."
            ),
        )
        return redirect(invoice_url)
    # 303: the browser follows with a GET to Stripe's page.
    return HttpResponseRedirect(checkout_url, status=303)


@login_required
@require_safe
def card_return(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Where Stripe sends the member back after paying: the session is read from Stripe's API
    (never from the URL alone) and settled if paid; else the webhook will settle it."""
    provider = _card_payment()
    invoice = _invoice_of(request, invoice_id)
    invoice_url = reverse("members:invoice_detail", args=[invoice.pk])
    session_id = request.GET.get("session_id", "")
    if not session_id.startswith("cs_"):
        return redirect(invoice_url)
    pending = _(
        "Paiement en cours de confirmation : votre facture sera marquée payée dès que Stripe "
        "nous l’aura confirmé, et vous recevrez alors votre attestation par e-mail."
    )
    try:
        account = invoice.cluster.stripe_account
        session = provider.session_retrieve(session_id, account=account)
    except stripe.InvalidRequestError as exc:
        raise Http404 from exc
    except stripe.StripeError:
        logger.exception("Stripe Checkout session %s could not be read.", session_id)
        messages.info(request, pending)
        return redirect(invoice_url)
    if provider.session_invoice(session) != invoice:
        # A session of another invoice, perhaps another organisation's: not this page's.
        raise Http404
    if provider.checkout_settle(session, account=account):
        messages.success(request, _("Paiement reçu, merci ! Votre facture est réglée."))
    else:
        messages.info(request, pending)
    return redirect(invoice_url)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's notifications, verified by their signature. A paid Checkout Session is settled
    (once, however often and in whatever order the events arrive), an expired one is closed; a
    refund's state is read from Stripe and recorded (a refund made in Stripe's dashboard on one
    of our payments, once); the rest is acknowledged."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise Http404
    event = _webhook_event(request)
    if event is None:
        return HttpResponse(status=400)
    # Events of a connected account (a cluster's own) name it; the platform's do not.
    account = getattr(event, "account", None) or ""
    if event.type in SETTLING_EVENTS:
        StripeCheckout().checkout_settle(
            event.data.object, account=account, completed_at=event.created
        )
    elif event.type in REFUND_EVENTS or event.type == CHARGE_REFUNDED_EVENT:
        try:
            if event.type == CHARGE_REFUNDED_EVENT:
                intent = event.data.object.payment_intent
                if intent:
                    refunds_card_sync(
                        payment_intent=intent if isinstance(intent, str) else intent.id,
                        account=account,
                    )
            else:
                refund_card_sync(refund_id=event.data.object.id, account=account)
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_missing":
                raise
            # Not of the account the event names: nothing of ours.
            logger.warning("Stripe refund of event %s is unknown to its account.", event.id)
        except stripe.StripeError:
            # Stripe sends the event again later, until it is acknowledged.
            logger.exception("Stripe refund of event %s could not be read.", event.id)
            return HttpResponse(status=503)
    elif event.type == EXPIRY_EVENT:
        # The invoice's next card payment opens a new session without asking Stripe first.
        checkout_session_close(
            provider_reference=event.data.object.id, status=CheckoutStatus.EXPIRED
        )
    return HttpResponse(status=200)


def _webhook_event(request: HttpRequest) -> stripe.Event | None:
    """The event posted, if signed with the secret of one of our endpoints (the platform's, or
    the one listening to the clusters' connected accounts); else ``None``, logged."""
    for secret in settings.STRIPE_WEBHOOK_SECRET:
        try:
            return stripe.Webhook.construct_event(
                request.body, request.headers.get("Stripe-Signature"), secret
            )
        except stripe.SignatureVerificationError as exc:
            refusal = exc
        except ValueError as exc:
            logger.warning("Stripe webhook refused: %s", exc)
            return None
    logger.warning("Stripe webhook refused: %s", refusal)
    return None
