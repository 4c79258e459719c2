"""Invoices and payments: issuing an invoice with a gapless number, recording what was paid."""

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Invoice, InvoiceSequence, Payment, PaymentMethod, Term


def invoice_number(*, prefix: str, year: int, sequence: int) -> str:
    """``DP-2027-00042``: the issuer's prefix, the year of issue and the rank in that year."""
    return f"{prefix}-{year}-{sequence:05d}"


def _next_sequence(*, cluster_id: int, year: int) -> int:
    """Take the next invoice rank of ``cluster_id`` in ``year``, locking its counter until the
    transaction ends (the caller's, which creates the invoice)."""
    # Create the counter if it is missing without failing when a concurrent transaction does too.
    InvoiceSequence.objects.bulk_create(
        [InvoiceSequence(cluster_id=cluster_id, year=year)], ignore_conflicts=True
    )
    counter = InvoiceSequence.objects.select_for_update().get(cluster_id=cluster_id, year=year)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return counter.last_sequence


@transaction.atomic
def invoice_issue(*, term: Term, on: date | None = None) -> Invoice:
    """The invoice of ``term``, issued by its cluster on ``on`` (default: today) if it has none.

    The next number of the cluster's year is taken under a row lock in this transaction, so
    numbers have no gap and no repeat even under concurrent renewals. The issuer's legal
    mentions and the customer's details are copied into the invoice: it never changes after.
    """
    existing = Invoice.objects.filter(term=term).first()
    if existing:
        return existing
    on = on or timezone.localdate()
    membership = term.membership
    cluster = membership.cluster
    organisation = membership.organisation
    sequence = _next_sequence(cluster_id=cluster.pk, year=on.year)
    prefix = cluster.invoice_prefix or cluster.slug[:2].upper()
    return Invoice.objects.create(
        cluster=cluster,
        term=term,
        number=invoice_number(prefix=prefix, year=on.year, sequence=sequence),
        year=on.year,
        sequence=sequence,
        issued_on=on,
        due_on=on + timedelta(days=settings.INVOICE_PAYMENT_DAYS),
        amount=term.fee,
        description=_("Cotisation %(cluster)s, formule %(plan)s, du %(start)s au %(end)s")
        % {
            "cluster": cluster.name,
            "plan": term.plan.name,
            "start": f"{term.start_date:%d/%m/%Y}",
            "end": f"{term.end_date:%d/%m/%Y}",
        },
        issuer_details={
            "name": cluster.legal_name or cluster.name,
            "siren": cluster.siren,
            "address": cluster.address,
            "email": cluster.email,
            "website": cluster.website,
            "vat_mention": cluster.vat_mention,
            "iban": cluster.iban,
            "bic": cluster.bic,
        },
        customer_details={
            "name": organisation.name,
            "siret": organisation.siret,
            "siren": organisation.siren,
            "address_line1": organisation.address_line1,
            "address_line2": organisation.address_line2,
            "postcode": organisation.postcode,
            "city": organisation.city,
            "member_number": membership.member_number,
        },
    )


def invoice_paid_amount(*, invoice: Invoice) -> Decimal:
    """What the payments of ``invoice`` add up to."""
    return invoice.payments.aggregate(total=Sum("amount"))["total"] or Decimal("0")


@transaction.atomic
def invoice_payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    received_on: date,
    method: str = PaymentMethod.TRANSFER,
    reference: str = "",
    provider_reference: str = "",
    recorded_by: AbstractBaseUser | None = None,
) -> Payment:
    """Record ``amount`` received for ``invoice``; return the payment.

    Partial payments add up. When they reach the invoice's amount the invoice is paid, and so is
    its term (the membership becomes current), and the confirmation e-mail with the membership
    certificate is sent after commit. A payment with a ``provider_reference`` already recorded is
    returned as it is: a provider's notification replayed, or received after the return page
    recorded it, changes nothing.
    """
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("Le montant d’un paiement doit être positif.")})
    # The lock serialises payments of one invoice: two notifications at once record one payment.
    invoice = Invoice.objects.select_for_update().select_related("term").get(pk=invoice.pk)
    if provider_reference:
        already = Payment.objects.filter(provider_reference=provider_reference).first()
        if already:
            return already
    payment = Payment.objects.create(
        invoice=invoice,
        amount=amount,
        received_on=received_on,
        method=method,
        reference=reference,
        provider_reference=provider_reference,
        recorded_by=recorded_by,
    )
    if invoice.paid_on is None and invoice_paid_amount(invoice=invoice) >= invoice.amount:
        invoice.paid_on = received_on
        invoice.save(update_fields=["paid_on"])
        term = invoice.term
        if not term.is_paid:
            term.is_paid = True
            term.paid_on = received_on
            term.save(update_fields=["is_paid", "paid_on", "updated_at"])
        # Imported here: the task module imports this one (tasks wrap services).
        from members.tasks import invoice_confirmation_send

        invoice_confirmation_send.delay_on_commit(invoice.pk)
    return payment
