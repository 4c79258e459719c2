"""Payment follow-ups: the daily pass that records the follow-ups due about unpaid invoices in
their ledger, and the sending of the recorded ones, each once.

The pass (:func:`payment_follow_ups_schedule`) is what Celery beat runs every morning: it records
in the ledger (:class:`PaymentFollowUp`, unique per invoice, step and recipient) the follow-up
that :func:`members.selectors.payment_follow_ups_due` finds due for each unpaid invoice, one
entry per contact to notify of its organisation, and queues the new entries in batches after
its commit. The tasks send them through :mod:`members.mailing`, which locks each entry and sends
it only if it is still pending: a task run twice, or redelivered after its worker died, sends
nothing twice, except the one e-mail a worker killed between the SMTP server's answer and the
commit was sending. An entry whose invoice was paid or cancelled (a credit note) by the time its
turn comes is cancelled instead, with why.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members import follow_up_defaults, formatting, mailing
from members.models import (
    Cluster,
    Contact,
    Invoice,
    Membership,
    Organisation,
    PaymentFollowUp,
    PaymentFollowUpPolicy,
    PaymentFollowUpReason,
    PaymentFollowUpState,
    PaymentFollowUpStep,
    Term,
)
from members.models.reminders import PLACEHOLDER
from members.selectors import (
    contacts_to_notify_in,
    invoice_with_balance,
    payment_follow_up_sample_invoice,
    payment_follow_ups_due,
)


@dataclass(frozen=True)
class FollowUpPass:
    """What a pass found: ``due`` invoices with a follow-up due on ``today``, of which
    ``scheduled`` were newly recorded (``emails`` e-mails) and ``already_sent`` recorded by an
    earlier pass; and ``requeued`` entries of earlier passes queued again because their task was
    lost."""

    today: date
    due: int
    scheduled: int
    already_sent: int
    emails: int = 0
    requeued: int = 0

    def as_json(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "due": self.due,
            "scheduled": self.scheduled,
            "already_sent": self.already_sent,
            "emails": self.emails,
        }


@transaction.atomic
def payment_follow_ups_schedule(
    *, today: date | None = None, dry_run: bool = False, cluster_ids: list[int] | None = None
) -> FollowUpPass:
    """Record in the ledger the follow-ups due on ``today`` (default: today in Europe/Paris)
    that no earlier pass recorded, one entry per contact to notify of the invoice's
    organisation (one failed entry, without address, when it has none), and queue them, with
    the pending entries whose task was lost, once committed. ``dry_run`` counts and writes
    nothing. With ``cluster_ids``, the pass of those clusters only; without, every cluster's.

    Two passes at once run one after the other: each locks the active policies it covers first,
    so that the second sees what the first recorded. The unique constraint on (invoice, days,
    address) backs this. A constant number of queries, whatever the number of invoices.
    """
    today = today or timezone.localdate()
    policies = PaymentFollowUpPolicy.objects.filter(is_active=True)
    entries = PaymentFollowUp.objects.all()
    if cluster_ids is not None:
        policies = policies.filter(cluster_id__in=cluster_ids)
        entries = entries.filter(invoice__cluster_id__in=cluster_ids)
    list(policies.select_for_update().order_by("pk").values_list("pk"))
    due = list(
        payment_follow_ups_due(on=today, cluster_ids=cluster_ids).values_list(
            "pk",
            "due_on",
            "term__membership__organisation_id",
            "follow_up_step",
            "follow_up_days",
            "follow_up_recorded",
        )
    )
    new = [row[:5] for row in due if not row[5]]
    if dry_run:
        return FollowUpPass(today, len(due), len(new), len(due) - len(new))
    now = timezone.now()
    contacts: dict[int, dict[str, Contact]] = {}
    for contact in contacts_to_notify_in(organisation_ids=[row[2] for row in new]):
        contacts.setdefault(contact.organisation_id, {}).setdefault(contact.email, contact)
    recorded = []
    for invoice_id, due_on, organisation_id, step_id, days in new:
        entry = {
            "invoice_id": invoice_id,
            "step_id": step_id,
            "days_after_due": days,
            "due_on": due_on + timedelta(days=days),
            "scheduled_on": today,
        }
        recipients = contacts.get(organisation_id, {})
        if not recipients:
            recorded.append(
                PaymentFollowUp(
                    **entry,
                    state=PaymentFollowUpState.FAILED,
                    reason=PaymentFollowUpReason.NO_CONTACT,
                )
            )
        recorded.extend(
            PaymentFollowUp(
                **entry,
                email=contact.email,
                contact=contact,
                language=contact.language or settings.LANGUAGE_CODE,
                queued_at=now,
            )
            for contact in recipients.values()
        )
    created = PaymentFollowUp.objects.bulk_create(recorded)
    to_send = [entry.pk for entry in created if entry.state == PaymentFollowUpState.PENDING]
    lost = mailing.mail_requeue(ledger=FOLLOW_UPS, entries=entries, now=now)
    payment_follow_ups_queue(follow_up_ids=to_send + lost)
    return FollowUpPass(
        today, len(due), len(new), len(due) - len(new), emails=len(to_send), requeued=len(lost)
    )


def payment_follow_ups_queue(*, follow_up_ids: list[int]) -> None:
    """Queue ``follow_up_ids`` for sending, :data:`members.mailing.BATCH_SIZE` per task, after
    the commit."""
    mailing.mail_queue(ledger=FOLLOW_UPS, entry_ids=follow_up_ids)


def payment_follow_up_policy_ensure(*, cluster: Cluster) -> PaymentFollowUpPolicy:
    """``cluster``'s payment follow-up policy, created with the default steps if it has none."""
    policy, created = PaymentFollowUpPolicy.objects.get_or_create(
        cluster=cluster,
        defaults={"max_lateness_days": follow_up_defaults.DEFAULT_MAX_LATENESS_DAYS},
    )
    if created:
        PaymentFollowUpStep.objects.bulk_create(
            PaymentFollowUpStep(policy=policy, **step) for step in follow_up_defaults.DEFAULT_STEPS
        )
    return policy


# --- Sending ------------------------------------------------------------------------------------


class FollowUpLedger(mailing.MailLedger):
    """The follow-ups' ledger for :mod:`members.mailing`: an entry is one e-mail to one address;
    it is cancelled when its invoice was paid or cancelled meanwhile, or its step withdrawn."""

    model = PaymentFollowUp
    pending = PaymentFollowUpState.PENDING
    sent = PaymentFollowUpState.SENT
    task = "members.tasks.payment_follow_ups_send"

    def entry_lock(self, entry_id: int) -> PaymentFollowUp | None:
        return (
            PaymentFollowUp.objects.select_for_update(of=("self",))
            .select_related(
                "invoice__cluster", "invoice__term__membership__organisation", "step__policy"
            )
            .filter(pk=entry_id)
            .first()
        )

    def entry_messages(self, entry: PaymentFollowUp) -> list[EmailMultiAlternatives] | None:
        # Read now, under the entry's lock: a payment or a credit note committed since the pass
        # stops the e-mail. One committed while it is being sent does not: it crossed it.
        invoice = invoice_with_balance(invoice=entry.invoice)
        reason = _follow_up_obsolete(entry, invoice)
        if reason:
            entry.state = PaymentFollowUpState.CANCELLED
            entry.reason = reason
            entry.save(update_fields=["state", "reason"])
            return None
        entry.attempts += 1
        return [_follow_up_message(entry, invoice=invoice)]

    def entry_sent(self, entry: PaymentFollowUp, messages: list[EmailMultiAlternatives]) -> None:
        entry.error = ""
        entry.save(update_fields=["state", "sent_at", "attempts", "error"])

    def entry_retry(self, entry: PaymentFollowUp, *, error: str) -> None:
        entry.error = error
        entry.save(update_fields=["attempts", "error", "queued_at"])

    def entry_failed(self, entry: PaymentFollowUp, *, error: str) -> None:
        entry.error = error
        entry.state = PaymentFollowUpState.FAILED
        entry.reason = PaymentFollowUpReason.SMTP_ERROR
        entry.save(update_fields=["attempts", "error", "state", "reason"])


FOLLOW_UPS = FollowUpLedger()


def payment_follow_ups_send(*, follow_up_ids: list[int], last_try: bool = False) -> list[int]:
    """Send the pending follow-ups among ``follow_up_ids``, one SMTP connection for all, and
    return those to try again later (:func:`members.mailing.mail_batch_send`): each once, a
    follow-up no longer needed cancelled instead."""
    return mailing.mail_batch_send(ledger=FOLLOW_UPS, entry_ids=follow_up_ids, last_try=last_try)


@transaction.atomic
def payment_follow_ups_resend(*, follow_ups: QuerySet[PaymentFollowUp]) -> int:
    """Put the failed ``follow_ups`` that have an address back in the queue (once the cause is
    fixed: the SMTP server back); return how many."""
    failed = list(
        follow_ups.select_for_update()
        .filter(state=PaymentFollowUpState.FAILED)
        .exclude(email="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    PaymentFollowUp.objects.filter(pk__in=failed).update(
        state=PaymentFollowUpState.PENDING,
        reason="",
        error="",
        attempts=0,
        queued_at=timezone.now(),
    )
    payment_follow_ups_queue(follow_up_ids=failed)
    return len(failed)


def _follow_up_obsolete(entry: PaymentFollowUp, invoice: Invoice) -> str | None:
    """Why ``entry`` should no longer go out, if it should not: ``invoice`` is its invoice as
    :func:`members.selectors.invoice_with_balance` reads it."""
    if invoice.cancelled_on is not None:
        return PaymentFollowUpReason.INVOICE_CANCELLED
    if invoice.amount_left <= 0:
        return PaymentFollowUpReason.PAID
    if entry.step is None or not entry.step.policy.is_active:
        return PaymentFollowUpReason.WITHDRAWN
    return None


def _placeholders_fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), text)


def _follow_up_message(entry: PaymentFollowUp, *, invoice: Invoice) -> EmailMultiAlternatives:
    """The e-mail of ``entry`` to its address, in its language (French when the step has no
    text in it), as text and HTML; ``invoice`` is annotated with what is left to pay."""
    membership = invoice.term.membership
    organisation = membership.organisation
    cluster = invoice.cluster
    contact = entry.contact
    language, subject, body = entry.step.text(entry.language or settings.LANGUAGE_CODE)
    payment_url = settings.SITE_URL.rstrip("/") + reverse(
        "members:invoice_detail", args=[invoice.pk]
    )
    with translation.override(language):
        values = {
            "organisation": invoice.customer_details.get("name") or organisation.name,
            "cluster": cluster.name,
            "member_number": membership.member_number,
            "contact_name": (contact.full_name if contact else "") or organisation.name,
            "invoice_number": invoice.number,
            "amount_left": formatting.money(invoice.amount_left),
            "due_date": formatting.long_date(invoice.due_on),
            # After missed days, the latest step goes out late: it says how late it is.
            "days_late": str(
                (entry.scheduled_on - invoice.due_on).days
                if entry.scheduled_on
                else entry.days_after_due
            ),
            "payment_url": payment_url,
        }
        context = {
            "subject": " ".join(_placeholders_fill(subject, values).split()),
            "body": _placeholders_fill(body, values).strip(),
            "payment_url": payment_url,
            "cluster_name": cluster.name,
            "issuer": invoice.issuer_details,
        }
        message = EmailMultiAlternatives(
            subject=context["subject"],
            body=render_to_string("members/email/payment_follow_up_message.txt", context),
            from_email=entry.step.policy.from_email,
            to=[entry.email],
            reply_to=[cluster.email] if cluster.email else None,
            headers={"Content-Language": language, "Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string("members/email/payment_follow_up_message.html", context),
            "text/html",
        )
    return message


# --- Preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowUpPreview:
    """``step`` as a contact whose language is ``language`` would read it: in ``sent_in`` (French
    when the step has no text in that language), its ``subject``, plain ``text`` and ``html``."""

    step: PaymentFollowUpStep
    language: str
    sent_in: str
    subject: str
    text: str
    html: str = ""


def payment_follow_up_previews(
    *, policy: PaymentFollowUpPolicy, languages: tuple[str, ...] = ("fr", "en")
) -> list[FollowUpPreview]:
    """Each step of ``policy`` in each of ``languages``, rendered by the sending code itself for
    the cluster's latest invoice with something left to pay (an invented one while there is
    none) and a contact of it. Writes nothing; a few queries, whatever the number of steps."""
    cluster = policy.cluster
    invoice = payment_follow_up_sample_invoice(cluster_id=cluster.pk)
    known = None
    if invoice is None:
        organisation = Organisation(name="Exemple SAS")
        membership = Membership(
            cluster=cluster,
            organisation=organisation,
            member_number=f"{cluster.member_number_prefix}0001",
        )
        invoice = Invoice(
            pk=0,
            cluster=cluster,
            term=Term(membership=membership),
            number=f"{cluster.invoice_prefix or cluster.slug[:2].upper()}-0000-00001",
            due_on=timezone.localdate(),
            amount=0,
            customer_details={"name": organisation.name},
            issuer_details=cluster.issuer_details(),
        )
        invoice.amount_left = invoice.amount
    else:
        known = contacts_to_notify_in(
            organisation_ids=[invoice.term.membership.organisation_id]
        ).first()
    previews = []
    for step in policy.steps.all():
        for language in languages:
            entry = PaymentFollowUp(
                invoice=invoice,
                step=step,
                days_after_due=step.days_after_due,
                email=known.email if known else "camille.martin@example.org",
                contact=known
                or Contact(first_name="Camille", last_name="Martin", language=language),
                language=language,
            )
            message = _follow_up_message(entry, invoice=invoice)
            previews.append(
                FollowUpPreview(
                    step=step,
                    language=language,
                    sent_in=message.extra_headers["Content-Language"],
                    subject=message.subject,
                    text=message.body,
                    html=message.alternatives[0][0] if message.alternatives else "",
                )
            )
    return previews


def payment_follow_up_test_send(
    *, step: PaymentFollowUpStep, language: str, email: str
) -> FollowUpPreview:
    """E-mail ``step`` in ``language`` to ``email`` (a member of staff trying it on itself), as
    :func:`payment_follow_up_previews` renders it, its subject marked as a test; return what
    was sent. Nothing is recorded in the ledger; an SMTP error propagates, for the caller to
    say."""
    preview = next(
        preview
        for preview in payment_follow_up_previews(policy=step.policy, languages=(language,))
        if preview.step.pk == step.pk
    )
    with translation.override(preview.sent_in):
        subject = _("[Essai] %(subject)s") % {"subject": preview.subject}
    message = EmailMultiAlternatives(
        subject=subject,
        body=preview.text,
        from_email=step.policy.from_email,
        to=[email],
        headers={"Content-Language": preview.sent_in, "Auto-Submitted": "auto-generated"},
    )
    if preview.html:
        message.attach_alternative(preview.html, "text/html")
    message.send()
    return preview
