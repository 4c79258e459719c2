"""Invoices and payments: issuing an invoice with a gapless number, recording what was paid and
the card payment pages opened for it, and the e-mails that go with them (the invoice, the
confirmation of payment)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members import documents, formatting, mailing
from members.models import (
    CheckoutSession,
    CheckoutStatus,
    CreditNote,
    CreditNoteOrigin,
    CreditNoteSequence,
    Invoice,
    InvoiceSequence,
    Mail,
    MailPurpose,
    Payment,
    PaymentChange,
    PaymentChangeKind,
    PaymentMethod,
    Term,
)
from members.selectors import contacts_to_notify, invoice_language, invoice_with_balance
from members.services.terms import term_save


def invoice_number(*, prefix: str, year: int, sequence: int) -> str:
    """``DP-2027-00042``: the issuer's prefix, the year of issue and the rank in that year."""
    return f"{prefix}-{year}-{sequence:05d}"


def _next_sequence(
    *, cluster_id: int, year: int, series: type[InvoiceSequence | CreditNoteSequence]
) -> int:
    """Take the next rank of ``cluster_id`` in ``year`` in ``series`` (its invoices' or its
    credit notes'), locking the counter until the transaction ends (the caller's, which creates
    the document): a rolled-back document gives its number back, two at once wait for each
    other."""
    # Create the counter if it is missing without failing when a concurrent transaction does too.
    series.objects.bulk_create([series(cluster_id=cluster_id, year=year)], ignore_conflicts=True)
    counter = series.objects.select_for_update().get(cluster_id=cluster_id, year=year)
    counter.last_sequence += 1
    counter.save(update_fields=["last_sequence"])
    return counter.last_sequence


def invoice_issue_check(*, term: Term) -> Invoice | None:
    """The invoice ``term`` has already, or ``None`` when one may be issued for it.

    Raise :class:`ValidationError` for a paid term without an invoice: paid before invoices were
    issued here (an import), an invoice dated today would ask for money already received.
    """
    existing = Invoice.objects.filter(term=term).first()
    if existing is None and term.is_paid:
        raise ValidationError(_("Cette période est déjà payée : elle n’a pas besoin de facture."))
    return existing


@transaction.atomic
def invoice_issue(*, term: Term, on: date | None = None) -> Invoice:
    """The invoice of ``term``, issued by its cluster on ``on`` (default: today) if it has none.

    The next number of the cluster's year is taken under a row lock in this transaction, so
    numbers have no gap and no repeat even under concurrent renewals. The issuer's legal
    mentions (late-payment ones included) and the customer's details are copied into the
    invoice: it never changes after. It is written in the member's language
    (:func:`members.selectors.invoice_language`), kept as ``language``.
    A paid term without an invoice gets none (:class:`ValidationError`).

    The term is read afresh under its row lock: the invoice is issued for its stored plan, period
    and fee (not for a copy changed in memory), and a change of the term saved at the same moment
    (:func:`members.services.terms.term_save` locks it too) waits; once it has its invoice, they
    never change.
    """
    term = (
        Term.objects.select_for_update(of=("self",))
        .select_related("plan", "membership__cluster", "membership__organisation")
        .get(pk=term.pk)
    )
    existing = invoice_issue_check(term=term)
    if existing:
        return existing
    on = on or timezone.localdate()
    membership = term.membership
    cluster = membership.cluster
    organisation = membership.organisation
    sequence = _next_sequence(cluster_id=cluster.pk, year=on.year, series=InvoiceSequence)
    prefix = cluster.invoice_prefix or cluster.slug[:2].upper()
    # Written in the member's language, once: the description stays as it was issued, and the
    # PDF prints its labels in the same language (documents.invoice_pdf).
    language = invoice_language(organisation)
    with translation.override(language):
        description = _("Cotisation %(cluster)s, formule %(plan)s, du %(start)s au %(end)s") % {
            "cluster": cluster.name,
            "plan": term.plan.name,
            "start": formatting.short_date(term.start_date),
            "end": formatting.short_date(term.end_date),
        }
    return Invoice.objects.create(
        cluster=cluster,
        term=term,
        number=invoice_number(prefix=prefix, year=on.year, sequence=sequence),
        year=on.year,
        sequence=sequence,
        issued_on=on,
        due_on=on + timedelta(days=settings.INVOICE_PAYMENT_DAYS),
        amount=term.fee,
        description=description,
        language=language,
        issuer_details=cluster.issuer_details(),
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
    certificate is sent after commit. A payment on a cancelled invoice is recorded and leaves it
    cancelled, over-paid (``overpaid_amount``): staff refund it or re-open the membership. A
    payment with a ``provider_reference`` already recorded is returned as it is: a provider's
    notification replayed, or received after the return page recorded it, changes nothing. The
    card payment page of that reference, if open, is complete.
    """
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("Le montant d’un paiement doit être positif.")})
    # The lock serialises payments of one invoice: two notifications at once record one payment.
    invoice = Invoice.objects.select_for_update().select_related("term").get(pk=invoice.pk)
    if provider_reference:
        already = Payment.objects.filter(provider_reference=provider_reference).first()
        if already:
            return already
    payment = Payment(
        invoice=invoice,
        amount=amount,
        received_on=received_on,
        method=method,
        reference=reference,
        provider_reference=provider_reference,
        recorded_by=recorded_by,
    )
    payment.full_clean(validate_unique=False, validate_constraints=False)
    payment.save()
    if provider_reference:
        checkout_session_close(
            provider_reference=provider_reference, status=CheckoutStatus.COMPLETE
        )
    # A cancelled invoice owes nothing any more: a payment on it is over-paid, to refund (or
    # the membership re-opened with a new invoice), and never pays its cancelled term.
    if (
        invoice.paid_on is None
        and invoice.cancelled_on is None
        and invoice_with_balance(invoice=invoice).amount_left == 0
    ):
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


def payment_version(*, payment_key: int) -> int:
    """How many times the payment ``payment_key`` was corrected: what a correction page is
    opened on, so that a change submitted twice (a double click, a second tab, a colleague)
    is made once."""
    return PaymentChange.objects.filter(payment_key=payment_key).count()


def payment_correction_refusal(payment: Payment) -> str:
    """Why ``payment`` cannot be corrected or removed by hand, or ``""`` when it can."""
    if payment.provider_reference:
        return _(
            "Ce paiement par carte a été enregistré d’après le prestataire de paiement "
            "(%(reference)s) : il ne se corrige ni ne se supprime à la main, sinon nos comptes "
            "ne diraient plus ce que le prestataire a encaissé. Un remboursement se fait chez "
            "le prestataire."
        ) % {"reference": payment.provider_reference}
    return ""


def _payment_to_change(*, invoice: Invoice, payment_key: int, version: int, reason: str) -> Payment:
    """The payment ``payment_key`` of ``invoice`` (locked by the caller), locked, if it may be
    changed by hand and is still at ``version``; otherwise :class:`ValidationError`, naming
    who changed it meanwhile."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Indiquez le motif de la modification.")})
    payment = Payment.objects.select_for_update().filter(invoice=invoice, pk=payment_key).first()
    last = (
        PaymentChange.objects.filter(payment_key=payment_key, invoice=invoice)
        .select_related("changed_by")
        .order_by("-changed_at", "-pk")
        .first()
    )
    if payment is None:
        if last is None:
            raise Payment.DoesNotExist
        raise ValidationError(
            _("Ce paiement a déjà été supprimé le %(when)s par %(who)s : rien n’a été modifié.")
            % {"when": formatting.short_datetime(last.changed_at), "who": last.changed_by},
            code="payment_removed",
        )
    refusal = payment_correction_refusal(payment)
    if refusal:
        raise ValidationError(refusal)
    if payment_version(payment_key=payment_key) != version:
        raise ValidationError(
            _(
                "Ce paiement a été modifié entre-temps, le %(when)s par %(who)s : rien n’a été "
                "modifié. Voici ses valeurs actuelles."
            )
            % {"when": formatting.short_datetime(last.changed_at), "who": last.changed_by},
            code="payment_changed",
        )
    return payment


def _payment_change_record(
    *, payment: Payment, kind: str, reason: str, changed_by: AbstractBaseUser, **new
) -> PaymentChange:
    return PaymentChange.objects.create(
        invoice_id=payment.invoice_id,
        payment_key=payment.pk,
        kind=kind,
        old_amount=payment.amount,
        old_received_on=payment.received_on,
        old_method=payment.method,
        old_reference=payment.reference,
        old_recorded_by_id=payment.recorded_by_id,
        old_recorded_at=payment.created_at,
        reason=reason.strip(),
        changed_by=changed_by,
        **new,
    )


def _invoice_settle(invoice: Invoice) -> None:
    """Make ``invoice`` (locked by the caller) and its term paid or unpaid as its payments now
    add up against what is due (its amount less its credit notes): paid on the day the
    payments, in the order received, reached it. A term that the invoice pays no longer is
    unpaid again (the membership's status follows); one it pays becomes paid, and the payment
    confirmation goes, once (the ledger of e-mails keeps one already sent from going again).
    A cancelled invoice stays as it was: nothing is due on it any more."""
    if invoice.cancelled_on is not None:
        return
    due = invoice.amount - sum(invoice.credit_notes.values_list("amount", flat=True), Decimal(0))
    paid_on = None
    received = Decimal("0.00")
    for amount, received_on in invoice.payments.order_by("received_on", "pk").values_list(
        "amount", "received_on"
    ):
        received += amount
        if received >= due:
            paid_on = received_on
            break
    if paid_on == invoice.paid_on:
        return
    was_paid = invoice.paid_on is not None
    invoice.paid_on = paid_on
    invoice.save(update_fields=["paid_on"])
    term = invoice.term
    term.is_paid = paid_on is not None
    term.paid_on = paid_on
    term.save(update_fields=["is_paid", "paid_on", "updated_at"])
    if paid_on is not None and not was_paid:
        from members.tasks import invoice_confirmation_send

        invoice_confirmation_send.delay_on_commit(invoice.pk)


@transaction.atomic
def invoice_payment_correct(
    *,
    invoice: Invoice,
    payment_key: int,
    version: int,
    amount: Decimal,
    received_on: date,
    method: str,
    reference: str,
    reason: str,
    changed_by: AbstractBaseUser,
) -> PaymentChange:
    """Correct the payment ``payment_key`` of ``invoice``, as seen at ``version``
    (:func:`payment_version`), to ``amount`` received on ``received_on`` by ``method`` with
    ``reference``, because of ``reason`` (required); return the change, kept in the invoice's
    history with what the payment was.

    The invoice and its term become paid or unpaid as the payments now add up. Refused
    (:class:`ValidationError`): a card payment known to the payment provider, a payment changed
    meanwhile (the second of two submissions changes nothing), a payment received in the future
    or not positive, a correction that changes nothing. :class:`Payment.DoesNotExist` when the
    invoice has no such payment, and never had.
    """
    invoice = Invoice.objects.select_for_update().select_related("term").get(pk=invoice.pk)
    payment = _payment_to_change(
        invoice=invoice, payment_key=payment_key, version=version, reason=reason
    )
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("Le montant d’un paiement doit être positif.")})
    reference = (reference or "").strip()
    if (payment.amount, payment.received_on, payment.method, payment.reference) == (
        amount,
        received_on,
        method,
        reference,
    ):
        raise ValidationError(_("Ces valeurs sont celles du paiement : rien à corriger."))
    change = _payment_change_record(
        payment=payment,
        kind=PaymentChangeKind.CORRECTED,
        reason=reason,
        changed_by=changed_by,
        new_amount=amount,
        new_received_on=received_on,
        new_method=method,
        new_reference=reference,
    )
    payment.amount, payment.received_on, payment.method, payment.reference = (
        amount,
        received_on,
        method,
        reference,
    )
    payment.full_clean(validate_unique=False, validate_constraints=False)
    payment.save(update_fields=["amount", "received_on", "method", "reference"])
    _invoice_settle(invoice)
    return change


@transaction.atomic
def invoice_payment_remove(
    *,
    invoice: Invoice,
    payment_key: int,
    version: int,
    reason: str,
    changed_by: AbstractBaseUser,
) -> PaymentChange:
    """Remove the payment ``payment_key`` of ``invoice``, recorded by mistake, as seen at
    ``version``, because of ``reason`` (required); return the change, which keeps in the
    invoice's history what the payment was, who removed it, when and why.

    If the payments left no longer cover the invoice, the invoice and its term are unpaid again
    (the membership's status follows); the confirmation already sent is not sent again when the
    invoice is paid anew. Refused as :func:`invoice_payment_correct` is (a card payment known to
    the provider, a payment changed or removed meanwhile)."""
    invoice = Invoice.objects.select_for_update().select_related("term").get(pk=invoice.pk)
    payment = _payment_to_change(
        invoice=invoice, payment_key=payment_key, version=version, reason=reason
    )
    change = _payment_change_record(
        payment=payment,
        kind=PaymentChangeKind.REMOVED,
        reason=reason,
        changed_by=changed_by,
    )
    payment.delete()
    _invoice_settle(invoice)
    return change


def checkout_session_record(
    *,
    invoice: Invoice,
    provider_reference: str,
    account: str,
    amount: Decimal,
    url: str,
    expires_at: datetime,
) -> CheckoutSession:
    """Record the card payment page ``provider_reference`` (a Stripe Checkout Session of the
    Stripe ``account``, the platform's if empty) just opened for ``amount`` of ``invoice``: the
    invoice's open one, until it is complete or expired.

    The caller holds the invoice's row lock and has closed the invoice's previous open page
    (see :meth:`members.payments.StripeCheckout.checkout_start`); the database refuses a second
    open one (``checkoutsession_one_open_per_invoice``).
    """
    return CheckoutSession.objects.create(
        invoice=invoice,
        provider_reference=provider_reference,
        account=account,
        amount=amount,
        url=url,
        expires_at=expires_at,
    )


def checkout_session_close(*, provider_reference: str, status: str) -> bool:
    """Record that the card payment page ``provider_reference`` is no longer open: ``status``
    is ``complete`` (paid) or ``expired``. Return whether it was open; a page already closed, or
    unknown here (opened before pages were recorded), is left as it is."""
    if status not in (CheckoutStatus.COMPLETE, CheckoutStatus.EXPIRED):
        raise ValueError(f"A closed checkout session is complete or expired, not {status!r}.")
    return bool(
        CheckoutSession.objects.filter(
            provider_reference=provider_reference, status=CheckoutStatus.OPEN
        ).update(status=status)
    )


# --- Credit notes -------------------------------------------------------------------------------


def credit_note_number(*, prefix: str, year: int, sequence: int) -> str:
    """``DP-AV-2027-00003``: the issuer's prefix, ``AV`` (avoir), the year of issue and the rank
    in that year, in a series apart from the invoices'."""
    return f"{prefix}-AV-{year}-{sequence:05d}"


def credit_note_version(*, invoice: Invoice) -> int:
    """How many credit notes ``invoice`` has: what a page issuing one is opened on, so that a
    submission made twice (a double click, a second tab, a colleague) issues one."""
    return invoice.credit_notes.count()


@transaction.atomic
def credit_note_issue(
    *,
    invoice: Invoice,
    reason: str,
    amount: Decimal | None = None,
    issued_by: AbstractBaseUser | None = None,
    origin: str = CreditNoteOrigin.STAFF,
    on: date | None = None,
    version: int | None = None,
    notify: bool = True,
) -> CreditNote:
    """Issue a credit note of ``amount`` (default: all that is still due on it) on ``invoice``,
    because of ``reason`` (required), on ``on`` (default: today); return it.

    The next number of the issuing cluster's credit note series is taken under a row lock in
    this transaction: no gap, no repeat. The legal mentions are copied from the invoice, which
    it refers to, and it is written in the invoice's language. When the invoice's credit notes
    reach its amount, the invoice is cancelled and so is the term it billed (``cancelled_on``):
    the membership's status no longer counts it, and another term may cover its dates (the fee
    corrected, invoiced again). A partial credit note reduces what is due: the invoice is paid
    once its payments reach the rest. What was paid beyond what is now due is to refund
    (``overpaid_amount``).

    The credit note is e-mailed, as a PDF, to the organisation's contacts to notify, after the
    commit (:func:`credit_note_notice_send`, once), unless ``notify`` is false: the caller sends
    it with an e-mail of its own (an unpaid renewal expired tells why, the credit note
    attached). Payments already received stay on the
    invoice: what they exceed is over-paid, to refund or carry over.

    Refused (:class:`ValidationError`): no reason, an invoice already cancelled, an amount not
    positive or beyond what is still due; and, given the ``version`` a page was opened on
    (:func:`credit_note_version`), an invoice that had a credit note issued since (a double
    submit, a second tab, a colleague): the second of two submissions issues nothing.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Indiquez le motif de l’avoir.")})
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("cluster", "term")
        .get(pk=invoice.pk)
    )
    if version is not None and credit_note_version(invoice=invoice) != version:
        latest = invoice.credit_notes.select_related("issued_by").order_by("-pk").first()
        raise ValidationError(
            _(
                "L’avoir %(number)s a été émis entre-temps sur cette facture, le %(when)s par "
                "%(who)s : aucun autre avoir n’a été émis. Voici la facture telle qu’elle est."
            )
            % {
                "number": latest.number,
                "when": formatting.short_datetime(latest.created_at),
                "who": latest.issued_by or "–",
            },
            code="credit_note_changed",
        )
    if invoice.cancelled_on is not None:
        raise ValidationError(
            _("La facture %(number)s est déjà annulée (le %(when)s) : aucun avoir n’a été émis.")
            % {"number": invoice.number, "when": formatting.short_date(invoice.cancelled_on)},
            code="invoice_cancelled",
        )
    credited = sum(invoice.credit_notes.values_list("amount", flat=True), Decimal("0.00"))
    remaining = invoice.amount - credited
    amount = remaining if amount is None else amount
    if amount is None or amount <= 0:
        raise ValidationError({"amount": _("Le montant d’un avoir doit être positif.")})
    if amount > remaining:
        raise ValidationError(
            {
                "amount": _(
                    "Le montant de l’avoir dépasse ce qui reste facturé (%(remaining)s) sur la "
                    "facture %(number)s."
                )
                % {"remaining": formatting.money(remaining), "number": invoice.number}
            }
        )
    on = on or timezone.localdate()
    cluster = invoice.cluster
    sequence = _next_sequence(cluster_id=cluster.pk, year=on.year, series=CreditNoteSequence)
    prefix = cluster.invoice_prefix or cluster.slug[:2].upper()
    cancels = amount == remaining
    with translation.override(invoice.language):
        description = _("Avoir sur la facture %(number)s du %(date)s") % {
            "number": invoice.number,
            "date": formatting.short_date(invoice.issued_on),
        }
    credit_note = CreditNote.objects.create(
        cluster=cluster,
        invoice=invoice,
        number=credit_note_number(prefix=prefix, year=on.year, sequence=sequence),
        year=on.year,
        sequence=sequence,
        issued_on=on,
        amount=amount,
        reason=reason,
        description=description,
        origin=origin,
        term_cancelled=cancels,
        language=invoice.language,
        issuer_details=invoice.issuer_details,
        customer_details=invoice.customer_details,
        issued_by=issued_by,
    )
    if cancels:
        invoice.cancelled_on = on
        invoice.save(update_fields=["cancelled_on"])
        term = invoice.term
        term.cancelled_on = on
        term.save(update_fields=["cancelled_on", "updated_at"])
    else:
        _invoice_settle(invoice)
    from members.tasks import credit_note_notice_send

    if notify:
        credit_note_notice_send.delay_on_commit(credit_note.pk)
    return credit_note


@transaction.atomic
def credit_note_issue_and_reinvoice(
    *,
    invoice: Invoice,
    reason: str,
    fee: Decimal,
    issued_by: AbstractBaseUser | None = None,
    on: date | None = None,
    version: int | None = None,
) -> tuple[CreditNote, Invoice]:
    """Correct the fee of ``invoice``'s term to ``fee``: a credit note for all that is still
    invoiced cancels the invoice and its term (:func:`credit_note_issue`), and a new term of the
    same membership, plan and dates at ``fee`` is invoiced (:func:`invoice_issue`), all or
    nothing; return the credit note and the new invoice. Both are e-mailed to the organisation's
    contacts after the commit. An invoiced fee never changes otherwise.

    Refused (:class:`ValidationError`): a fee not positive (cancel the term instead), and what
    :func:`credit_note_issue` refuses.
    """
    if fee is None or fee <= 0:
        raise ValidationError(
            {"fee": _("Le montant corrigé doit être positif ; sinon, annulez la période.")}
        )
    credit_note = credit_note_issue(
        invoice=invoice, reason=reason, issued_by=issued_by, on=on, version=version
    )
    cancelled = credit_note.invoice.term
    term = Term(
        membership_id=cancelled.membership_id,
        plan_id=cancelled.plan_id,
        start_date=cancelled.start_date,
        end_date=cancelled.end_date,
        fee=fee,
    )
    term_save(term=term)
    reissued = invoice_issue(term=term, on=on)
    from members.tasks import invoice_notice_send

    invoice_notice_send.delay_on_commit(reissued.pk)
    return credit_note, reissued


# --- E-mails ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _InvoiceEmail:
    """How an e-mail about an invoice is written (:class:`members.mailing.MailPurposeWriter`):
    ``template`` (``templates/members/email/<template>_subject.txt``, ``_message.txt`` and
    ``_message.html``) with the PDF that ``attachment`` returns (file name, content) for the
    invoice; ``record``, the invoice's field that keeps the date of the first one sent."""

    template: str
    record: str
    attachment: Callable[[Invoice], tuple[str, bytes]]

    def message(self, entry: Mail) -> EmailMultiAlternatives:
        """The e-mail of ``entry`` to its recipient, in its language, with the PDF: the invoice
        in the invoice's language (one document, whoever reads it), the certificate in the
        recipient's."""
        invoice = _invoice_for_email(Invoice(pk=entry.object_id), lock=False)
        term = invoice.term
        organisation = term.membership.organisation
        issuer = invoice.issuer_details
        with translation.override(entry.language):
            context = {
                "invoice": invoice,
                "term": term,
                "organisation_name": invoice.customer_details.get("name") or organisation.name,
                "cluster_name": invoice.cluster.name,
                "issuer": issuer,
                "iban": formatting.iban(issuer.get("iban", "")),
                "amount": formatting.money(invoice.amount),
                "member_area_url": settings.SITE_URL.rstrip("/") + reverse("members:area"),
            }
            return _email_write(
                entry, self.template, context, issuer=issuer, attachment=self.attachment(invoice)
            )

    def sent(self, entry: Mail) -> None:
        Invoice.objects.filter(pk=entry.object_id, **{f"{self.record}__isnull": True}).update(
            **{self.record: entry.sent_at}
        )


mailing.MAILS.purpose_register(
    MailPurpose.INVOICE_NOTICE,
    _InvoiceEmail(
        template="invoice_notice",
        record="notice_sent_at",
        attachment=lambda issued: (
            documents.invoice_filename(issued),
            documents.invoice_pdf(issued),
        ),
    ),
)
mailing.MAILS.purpose_register(
    MailPurpose.INVOICE_CONFIRMATION,
    _InvoiceEmail(
        template="payment_confirmation",
        record="confirmation_sent_at",
        attachment=lambda paid: (
            documents.certificate_filename(paid.term),
            documents.certificate_pdf(paid.term),
        ),
    ),
)


def _email_write(
    entry: Mail, template: str, context: dict, *, issuer: dict, attachment: tuple[str, bytes]
) -> EmailMultiAlternatives:
    """The e-mail of ``entry`` from ``template`` (``templates/members/email/<template>_…``:
    ``subject.txt``, ``message.txt`` and ``message.html``) with ``context``, in the active
    language, answered to the ``issuer``'s address, with the PDF ``attachment`` (file name,
    content)."""
    subject = render_to_string(f"members/email/{template}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"members/email/{template}_message.txt", context),
        to=[entry.email],
        reply_to=[issuer["email"]] if issuer.get("email") else None,
        headers={"Content-Language": entry.language},
    )
    message.attach_alternative(
        render_to_string(f"members/email/{template}_message.html", context), "text/html"
    )
    filename, content = attachment
    message.attach(filename, content, "application/pdf")
    return message


class _CreditNoteEmail:
    """How the e-mail of a credit note is written (:class:`members.mailing.MailPurposeWriter`):
    the credit note as a PDF, in the recipient's language, with what it does to the invoice;
    ``notice_sent_at`` keeps the date of the first one sent."""

    def message(self, entry: Mail) -> EmailMultiAlternatives:
        credit_note = CreditNote.objects.select_related(
            "cluster", "invoice__term__membership__organisation"
        ).get(pk=entry.object_id)
        invoice = credit_note.invoice
        issuer = credit_note.issuer_details
        with translation.override(entry.language):
            context = {
                "credit_note": credit_note,
                "invoice": invoice,
                "term": invoice.term,
                "organisation_name": credit_note.customer_details.get("name")
                or invoice.term.membership.organisation.name,
                "cluster_name": credit_note.cluster.name,
                "issuer": issuer,
                "amount": formatting.money(credit_note.amount),
                "member_area_url": settings.SITE_URL.rstrip("/")
                + reverse("members:invoice_detail", args=[invoice.pk]),
            }
            return _email_write(
                entry,
                "credit_note_notice",
                context,
                issuer=issuer,
                attachment=(
                    documents.credit_note_filename(credit_note),
                    documents.credit_note_pdf(credit_note),
                ),
            )

    def sent(self, entry: Mail) -> None:
        CreditNote.objects.filter(pk=entry.object_id, notice_sent_at__isnull=True).update(
            notice_sent_at=entry.sent_at
        )


mailing.MAILS.purpose_register(MailPurpose.CREDIT_NOTE_NOTICE, _CreditNoteEmail())


def _invoice_for_email(invoice: Invoice, *, lock: bool) -> Invoice:
    """``invoice`` afresh with what its e-mails read, locked until the end of the transaction if
    ``lock``."""
    invoices = Invoice.objects.select_related(
        "cluster", "term__membership__organisation", "term__membership__cluster"
    )
    if lock:
        invoices = invoices.select_for_update(of=("self",))
    return invoices.get(pk=invoice.pk)


@transaction.atomic
def _invoice_emails_record(invoice: Invoice, *, purpose: MailPurpose, paid_only: bool) -> list[int]:
    """The entries of the e-mail ``purpose`` about ``invoice`` still to send, one per contact to
    notify of its organisation, recorded the first time (if paid, when ``paid_only``), under
    the invoice's lock: two tasks at once record them once. None for an invoice cancelled by a
    credit note before its e-mail went: its credit note's e-mail says so."""
    invoice = _invoice_for_email(invoice, lock=True)
    if (paid_only and invoice.paid_on is None) or invoice.cancelled_on is not None:
        return []
    return mailing.mails_record(
        purpose=purpose,
        about=invoice,
        recipients=contacts_to_notify(invoice.term.membership.organisation),
        now=timezone.now(),
    )


def _invoice_email_once(invoice: Invoice, *, purpose: MailPurpose, paid_only: bool = False) -> bool:
    """Send the e-mail ``purpose`` about ``invoice`` (if paid, when ``paid_only``) to each
    contact to notify once, through the ledger of e-mails (:data:`members.mailing.MAILS`):
    each entry is sent under its row lock, so that a task delivered twice (or two at once)
    sends each e-mail once. Return whether there was any to send. Nothing is recorded when
    there was nobody to send it to; an SMTP error worth retrying propagates, once recorded
    (the task retries, and sends what is still pending)."""
    entry_ids = _invoice_emails_record(invoice, purpose=purpose, paid_only=paid_only)
    if not entry_ids:
        return False
    mailing.mail_batch_send(ledger=mailing.MAILS, entry_ids=entry_ids, raise_transient=True)
    return True


def invoice_confirmation_send(*, invoice: Invoice) -> bool:
    """E-mail the confirmation that ``invoice`` is paid, with the membership certificate of its
    term, to the organisation's contacts to notify, once (``confirmation_sent_at`` keeps the
    date); return whether it was sent. Nothing is sent for an unpaid invoice."""
    return _invoice_email_once(invoice, purpose=MailPurpose.INVOICE_CONFIRMATION, paid_only=True)


def invoice_notice_send(*, invoice: Invoice) -> bool:
    """E-mail ``invoice``, as a PDF, with how to pay it (or that it is paid already), to the
    organisation's contacts to notify, once (``notice_sent_at`` keeps the date); return whether
    it was sent."""
    return _invoice_email_once(invoice, purpose=MailPurpose.INVOICE_NOTICE)


@transaction.atomic
def _credit_note_emails_record(credit_note: CreditNote) -> list[int]:
    """The entries of the e-mail of ``credit_note`` still to send, one per contact to notify of
    its organisation, recorded the first time, under the credit note's lock."""
    credit_note = (
        CreditNote.objects.select_for_update(of=("self",))
        .select_related("invoice__term__membership__organisation")
        .get(pk=credit_note.pk)
    )
    return mailing.mails_record(
        purpose=MailPurpose.CREDIT_NOTE_NOTICE,
        about=credit_note,
        recipients=contacts_to_notify(credit_note.invoice.term.membership.organisation),
        now=timezone.now(),
    )


def credit_note_notice_send(*, credit_note: CreditNote) -> bool:
    """E-mail ``credit_note``, as a PDF, to the organisation's contacts to notify (those its
    invoice went to), each in their language, once (``notice_sent_at`` keeps the date); return
    whether there was any to send. Sent as :func:`invoice_notice_send` is: each entry of the
    ledger of e-mails under its row lock, so that a task delivered twice sends nothing twice."""
    entry_ids = _credit_note_emails_record(credit_note)
    if not entry_ids:
        return False
    mailing.mail_batch_send(ledger=mailing.MAILS, entry_ids=entry_ids, raise_transient=True)
    return True
