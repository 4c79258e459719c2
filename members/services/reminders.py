"""Renewal reminders: the daily pass that records what is due in the ledger, and the sending of
the recorded reminders, each once.

The pass (:func:`reminders_schedule`) is what Celery beat runs every morning and what
``manage.py send_reminders`` runs: it records in the ledger (:class:`Reminder`, unique per term
and offset) the reminder that :func:`members.selectors.reminders_due` finds due for each
membership, and queues the new entries in batches after its commit. The tasks send them with
:func:`reminders_send`, which locks each entry, sends it if it is still pending and still
needed, and records the outcome: a task run twice, or redelivered after its worker died, sends
nothing twice, except the one e-mail a worker killed between the SMTP server's answer and the
commit was sending.
"""

from collections.abc import Iterable
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

from members import mailing, reminder_defaults
from members.formatting import long_date
from members.models import (
    Cluster,
    Contact,
    Membership,
    Organisation,
    Reminder,
    ReminderPolicy,
    ReminderReason,
    ReminderState,
    ReminderStep,
    Term,
)
from members.models.reminders import PLACEHOLDER
from members.selectors import contacts_to_notify, reminders_due
from members.services.renewals import renewal_url
from members.texts import Text

# How many reminders one task sends, on one SMTP connection; when a pending one lost its task.
BATCH_SIZE = mailing.BATCH_SIZE
REQUEUE_AFTER = mailing.REQUEUE_AFTER


@dataclass(frozen=True)
class ReminderPass:
    """What a pass found: ``due`` memberships with a reminder due on ``today``, of which
    ``scheduled`` were newly recorded and ``already_sent`` recorded by an earlier pass; and
    ``requeued`` entries of earlier passes queued again because their task was lost."""

    today: date
    due: int
    scheduled: int
    already_sent: int
    requeued: int = 0

    def as_json(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "due": self.due,
            "scheduled": self.scheduled,
            "already_sent": self.already_sent,
        }


@transaction.atomic
def reminders_schedule(
    *, today: date | None = None, dry_run: bool = False, cluster_ids: list[int] | None = None
) -> ReminderPass:
    """Record in the ledger the reminders due on ``today`` (default: today in Europe/Paris)
    that no earlier pass recorded, and queue them, with the pending entries whose task was lost,
    once committed. ``dry_run`` counts and writes nothing. With ``cluster_ids``, the pass of
    those clusters only (what their staff start from the admin); without, every cluster's (what
    beat runs).

    Two passes at once (beat's and a command's, or a cluster's started twice) run one after the
    other: each locks the active policies it covers first, so that the second sees what the first
    recorded. The unique constraint on (term, offset) backs this. A constant number of queries,
    whatever the number of memberships.
    """
    today = today or timezone.localdate()
    policies = ReminderPolicy.objects.filter(is_active=True)
    entries = Reminder.objects.all()
    if cluster_ids is not None:
        policies = policies.filter(cluster_id__in=cluster_ids)
        entries = entries.filter(term__membership__cluster_id__in=cluster_ids)
    list(policies.select_for_update().order_by("pk").values_list("pk"))
    due = list(
        reminders_due(on=today, cluster_ids=cluster_ids).values_list(
            "pk", "end_date", "reminder_step", "reminder_offset", "reminder_recorded"
        )
    )
    new = [
        (term_id, end_date, step_id, offset)
        for term_id, end_date, step_id, offset, recorded in due
        if not recorded
    ]
    if dry_run:
        return ReminderPass(today, len(due), len(new), len(due) - len(new))
    now = timezone.now()
    created = Reminder.objects.bulk_create(
        Reminder(
            term_id=term_id,
            step_id=step_id,
            offset_days=offset,
            due_on=end_date + timedelta(days=offset),
            scheduled_on=today,
            queued_at=now,
        )
        for term_id, end_date, step_id, offset in new
    )
    lost = mailing.mail_requeue(ledger=REMINDERS, entries=entries, now=now)
    reminders_queue(reminder_ids=[reminder.pk for reminder in created] + lost)
    return ReminderPass(today, len(due), len(new), len(due) - len(new), requeued=len(lost))


def reminders_queue(*, reminder_ids: list[int]) -> None:
    """Queue ``reminder_ids`` for sending, :data:`BATCH_SIZE` per task, after the commit."""
    mailing.mail_queue(ledger=REMINDERS, entry_ids=reminder_ids)


@transaction.atomic
def reminders_resend(*, reminders: Iterable[Reminder]) -> int:
    """Put failed ``reminders`` back in the queue (staff's "resend", once the cause is fixed:
    a contact added, the SMTP server back); return how many. Others are left as they are."""
    ids = [reminder.pk for reminder in reminders]
    failed = list(
        Reminder.objects.select_for_update()
        .filter(pk__in=ids, state=ReminderState.FAILED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    Reminder.objects.filter(pk__in=failed).update(
        state=ReminderState.PENDING,
        reason="",
        detail="",
        attempts=0,
        queued_at=timezone.now(),
    )
    reminders_queue(reminder_ids=failed)
    return len(failed)


def reminder_policy_ensure(*, cluster: Cluster) -> ReminderPolicy:
    """``cluster``'s reminder policy, created with the default steps if it has none."""
    policy, created = ReminderPolicy.objects.get_or_create(
        cluster=cluster,
        defaults={"max_lateness_days": reminder_defaults.DEFAULT_MAX_LATENESS_DAYS},
    )
    if created:
        ReminderStep.objects.bulk_create(
            ReminderStep(policy=policy, **step) for step in reminder_defaults.DEFAULT_STEPS
        )
    return policy


# --- Sending ------------------------------------------------------------------------------------


class ReminderLedger(mailing.MailLedger):
    """The reminders' ledger for :mod:`members.mailing`: an entry is cancelled when it is no
    longer needed, fails when its organisation has nobody to notify, and goes to each contact to
    notify (``recipients``: those written to already, whom a try after a partial one skips)."""

    model = Reminder
    pending = ReminderState.PENDING
    sent = ReminderState.SENT
    task = "members.tasks.reminders_send"

    def entry_lock(self, entry_id: int) -> Reminder | None:
        return (
            Reminder.objects.select_for_update(of=("self",))
            .select_related(
                "term__membership__organisation", "term__membership__cluster", "step__policy"
            )
            .filter(pk=entry_id)
            .first()
        )

    def entry_messages(self, entry: Reminder) -> list[EmailMultiAlternatives] | None:
        reason = _reminder_obsolete(entry)
        if reason:
            _reminder_close(entry, state=ReminderState.CANCELLED, reason=reason)
            return None
        contacts = list(contacts_to_notify(entry.term.membership.organisation))
        if not contacts:
            _reminder_close(entry, state=ReminderState.FAILED, reason=ReminderReason.NO_CONTACT)
            return None
        entry.attempts += 1
        return [
            _reminder_message(entry, contact)
            for contact in contacts
            if contact.email not in entry.recipients  # Not again after a partial try.
        ]

    def entry_delivered(self, entry: Reminder, message: EmailMultiAlternatives) -> None:
        entry.recipients.extend(message.to)

    def entry_sent(self, entry: Reminder, messages: list[EmailMultiAlternatives]) -> None:
        entry.detail = ""
        entry.save(update_fields=["state", "sent_at", "recipients", "attempts", "detail"])

    def entry_retry(self, entry: Reminder, *, error: str) -> None:
        entry.detail = Text("reminder.send_error", error=error).stored()
        entry.save(update_fields=["attempts", "detail", "queued_at", "recipients"])

    def entry_failed(self, entry: Reminder, *, error: str) -> None:
        entry.detail = Text("reminder.send_error", error=error).stored()
        _reminder_close(entry, state=ReminderState.FAILED, reason=ReminderReason.SMTP_ERROR)


REMINDERS = ReminderLedger()


def reminders_send(*, reminder_ids: list[int], last_try: bool = False) -> list[int]:
    """Send the pending reminders among ``reminder_ids``, one SMTP connection for all, and
    return those to try again later (:func:`members.mailing.mail_batch_send`).

    A task run twice sends each once, and a worker killed midway loses nothing. An entry no
    longer needed (the membership was renewed, cancelled or transferred meanwhile, its step
    withdrawn) is cancelled instead. At the first transient SMTP error the batch stops and that
    entry and the rest are returned, to retry with backoff; on the ``last_try`` each such entry
    fails, with the error, for staff to see and resend. A permanent SMTP error (5xx) fails the
    entry at once.
    """
    return mailing.mail_batch_send(ledger=REMINDERS, entry_ids=reminder_ids, last_try=last_try)


def _reminder_obsolete(reminder: Reminder) -> ReminderReason | None:
    """Why ``reminder`` should no longer go out, if it should not."""
    term = reminder.term
    membership = term.membership
    if membership.transferred_on:
        return ReminderReason.TRANSFERRED
    if membership.cancelled_on:
        return ReminderReason.MEMBERSHIP_CANCELLED
    if Term.objects.filter(
        membership=membership, end_date__gt=term.end_date, cancelled_on__isnull=True
    ).exists():
        return ReminderReason.RENEWED
    if reminder.step is None or not reminder.step.policy.is_active:
        return ReminderReason.WITHDRAWN
    return None


def _reminder_close(reminder: Reminder, *, state: ReminderState, reason: ReminderReason) -> None:
    reminder.state = state
    reminder.reason = reason
    reminder.save(update_fields=["state", "reason", "attempts", "detail", "recipients"])


def _placeholders_fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), text)


def _reminder_message(reminder: Reminder, contact: Contact) -> EmailMultiAlternatives:
    """The e-mail of ``reminder`` to ``contact``, in its language (French when the step has no
    text in it), as text and HTML, with its own signed renewal link."""
    term = reminder.term
    membership = term.membership
    cluster = membership.cluster
    organisation = membership.organisation
    language, subject, body = reminder.step.text(contact.language or settings.LANGUAGE_CODE)
    link = renewal_url(term=term, email=contact.email)
    with translation.override(language):
        values = {
            "organisation": organisation.name,
            "cluster": cluster.name,
            "member_number": membership.member_number,
            "contact_name": contact.full_name or organisation.name,
            "end_date": long_date(term.end_date),
            "days": str(abs(reminder.offset_days)),
            "renewal_url": link,
        }
        context = {
            "subject": " ".join(_placeholders_fill(subject, values).split()),
            "body": _placeholders_fill(body, values).strip(),
            "renewal_url": link,
            "cluster_name": cluster.name,
            "issuer": cluster.issuer_details(),
            "member_area_url": settings.SITE_URL.rstrip("/") + reverse("members:area"),
        }
        message = EmailMultiAlternatives(
            subject=context["subject"],
            body=render_to_string("members/email/reminder_message.txt", context),
            from_email=reminder.step.policy.from_email,
            to=[contact.email],
            reply_to=[cluster.email] if cluster.email else None,
            headers={"Content-Language": language, "Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string("members/email/reminder_message.html", context), "text/html"
        )
    return message


# --- Preview ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderPreview:
    """``step`` as a contact whose language is ``language`` would read it: in ``sent_in`` (French
    when the step has no text in that language), its ``subject`` and plain ``text``."""

    step: ReminderStep
    language: str
    sent_in: str
    subject: str
    text: str
    html: str = ""


def reminder_previews(
    *,
    policy: ReminderPolicy,
    languages: tuple[str, ...] = ("fr", "en"),
    terms: QuerySet[Term] | None = None,
) -> list[ReminderPreview]:
    """Each step of ``policy`` in each of ``languages``, rendered by the sending code itself for
    the first of ``terms`` (default: the cluster's terms, latest first) and a contact of it (an
    invented member and contact while there is none). Writes nothing; three queries, whatever
    the number of steps."""
    cluster = policy.cluster
    if terms is None:
        terms = Term.objects.filter(membership__cluster=cluster).order_by("-end_date", "-pk")
    term = terms.select_related("membership__organisation", "membership__cluster").first()
    steps = list(policy.steps.all())
    if term is None:
        organisation = Organisation(name="Exemple SAS")
        membership = Membership(
            cluster=cluster,
            organisation=organisation,
            member_number=f"{cluster.member_number_prefix}0001",
        )
        term = Term(membership=membership, end_date=timezone.localdate())
        known = None
    else:
        known = contacts_to_notify(term.membership.organisation).first()
    previews = []
    for step in steps:
        reminder = Reminder(
            term=term,
            step=step,
            offset_days=step.offset_days,
            due_on=term.end_date + timedelta(days=step.offset_days),
        )
        for language in languages:
            contact = Contact(
                first_name=known.first_name if known else "Camille",
                last_name=known.last_name if known else "Martin",
                email=known.email if known else "camille.martin@example.org",
                language=language,
            )
            message = _reminder_message(reminder, contact)
            previews.append(
                ReminderPreview(
                    step=step,
                    language=language,
                    sent_in=message.extra_headers["Content-Language"],
                    subject=message.subject,
                    text=message.body,
                    html=message.alternatives[0][0] if message.alternatives else "",
                )
            )
    return previews


def reminder_test_send(
    *, step: ReminderStep, language: str, email: str, terms: QuerySet[Term] | None = None
) -> ReminderPreview:
    """E-mail ``step`` in ``language`` to ``email`` (a member of staff trying it on itself), as
    :func:`reminder_previews` renders it, its subject marked as a test; return what was sent.

    Not a reminder: nothing is recorded in the ledger, and each test goes (a member of staff may
    try a text again once changed). An SMTP error propagates, for the caller to say."""
    preview = next(
        preview
        for preview in reminder_previews(policy=step.policy, languages=(language,), terms=terms)
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
