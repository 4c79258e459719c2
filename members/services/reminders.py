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

import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from kombu.exceptions import OperationalError

from members import reminder_defaults
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

# How many reminders one task sends, on one SMTP connection.
BATCH_SIZE = 100
# A pending entry queued longer ago than this was lost with its task (a broker emptied, a task
# dropped): the next pass queues it again, as it does an entry that could not be queued (the
# broker was unreachable: no queued_at). Longer than the longest retry backoff (30 minutes) and
# than Redis's visibility timeout (one hour), after which Redis redelivers a task by itself.
REQUEUE_AFTER = timedelta(hours=2)


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
def reminders_schedule(*, today: date | None = None, dry_run: bool = False) -> ReminderPass:
    """Record in the ledger the reminders due on ``today`` (default: today in Europe/Paris)
    that no earlier pass recorded, and queue them, with the pending entries whose task was lost,
    once committed. ``dry_run`` counts and writes nothing.

    Two passes at once (beat's and a command's) run one after the other: each locks the active
    policies first, so that the second sees what the first recorded. The unique constraint on
    (term, offset) backs this. A constant number of queries, whatever the number of memberships.
    """
    today = today or timezone.localdate()
    list(ReminderPolicy.objects.select_for_update().filter(is_active=True).values_list("pk"))
    due = list(
        reminders_due(on=today).values_list(
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
    lost = list(
        Reminder.objects.filter(
            Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER),
            state=ReminderState.PENDING,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if lost:
        Reminder.objects.filter(pk__in=lost).update(queued_at=now)
    reminders_queue(reminder_ids=[reminder.pk for reminder in created] + lost)
    return ReminderPass(today, len(due), len(new), len(due) - len(new), requeued=len(lost))


def reminders_queue(*, reminder_ids: list[int]) -> None:
    """Queue ``reminder_ids`` for sending, :data:`BATCH_SIZE` per task, after the commit."""
    # Imported here: the task module imports the services (tasks wrap services).
    from members.tasks import reminders_send as send_task

    if not reminder_ids:
        return
    batches = [
        reminder_ids[start : start + BATCH_SIZE]
        for start in range(0, len(reminder_ids), BATCH_SIZE)
    ]

    def send() -> None:
        for position, batch in enumerate(batches):
            try:
                send_task.delay(batch)
            except OperationalError:
                # The broker is unreachable: whatever pass runs next queues these again.
                unsent = [reminder_id for rest in batches[position:] for reminder_id in rest]
                Reminder.objects.filter(pk__in=unsent).update(queued_at=None)
                raise

    transaction.on_commit(send)


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


def smtp_error_is_transient(error: Exception) -> bool:
    """A connection problem or a 4xx answer is worth retrying; a 5xx answer is not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return True


def reminders_send(*, reminder_ids: list[int], last_try: bool = False) -> list[int]:
    """Send the pending reminders among ``reminder_ids``, one SMTP connection for all, and
    return those to try again later.

    Each entry is sent in a transaction of its own that locks it, so that a task run twice
    sends it once, and a worker killed midway loses nothing: what it had not committed is still
    pending for the redelivered task. An entry no longer needed (the membership was renewed,
    cancelled or transferred meanwhile, its step withdrawn) is cancelled instead. At the first
    transient SMTP error the batch stops and that entry and the rest are returned, to retry with
    backoff; on the ``last_try`` each such entry fails, with the error, for staff to see and
    resend. A permanent SMTP error (5xx) fails the entry at once.
    """
    connection = get_connection()
    try:
        for position, reminder_id in enumerate(reminder_ids):
            if not _reminder_send(reminder_id, connection=connection, last_try=last_try):
                return reminder_ids[position:]
    finally:
        connection.close()
    return []


@transaction.atomic
def _reminder_send(reminder_id: int, *, connection, last_try: bool) -> bool:
    """Send one reminder if it is pending and still needed; return ``False`` when the SMTP
    server failed in a way worth retrying (the attempt, its error and the contacts already
    written to, whom the next try skips, are recorded)."""
    reminder = (
        Reminder.objects.select_for_update(of=("self",))
        .select_related(
            "term__membership__organisation", "term__membership__cluster", "step__policy"
        )
        .filter(pk=reminder_id)
        .first()
    )
    if reminder is None or reminder.state != ReminderState.PENDING:
        return True
    reason = _reminder_obsolete(reminder)
    if reason:
        _reminder_close(reminder, state=ReminderState.CANCELLED, reason=reason)
        return True
    contacts = list(contacts_to_notify(reminder.term.membership.organisation))
    if not contacts:
        _reminder_close(reminder, state=ReminderState.FAILED, reason=ReminderReason.NO_CONTACT)
        return True
    reminder.attempts += 1
    try:
        connection.open()  # Once for the batch; send_messages() would open one per call.
        for contact in contacts:
            if contact.email not in reminder.recipients:  # Not again after a partial try.
                connection.send_messages([_reminder_message(reminder, contact)])
                reminder.recipients.append(contact.email)
    except (smtplib.SMTPException, OSError) as error:
        connection.close()  # Opened afresh for the next entry, if any.
        reminder.detail = f"{type(error).__name__}: {error}"
        if smtp_error_is_transient(error) and not last_try:
            reminder.queued_at = timezone.now()
            reminder.save(update_fields=["attempts", "detail", "queued_at", "recipients"])
            return False
        _reminder_close(reminder, state=ReminderState.FAILED, reason=ReminderReason.SMTP_ERROR)
        return True
    reminder.state = ReminderState.SENT
    reminder.sent_at = timezone.now()
    reminder.detail = ""
    reminder.save(update_fields=["state", "sent_at", "recipients", "attempts", "detail"])
    return True


def _reminder_obsolete(reminder: Reminder) -> ReminderReason | None:
    """Why ``reminder`` should no longer go out, if it should not."""
    term = reminder.term
    membership = term.membership
    if membership.transferred_on:
        return ReminderReason.TRANSFERRED
    if membership.cancelled_on:
        return ReminderReason.MEMBERSHIP_CANCELLED
    if Term.objects.filter(membership=membership, end_date__gt=term.end_date).exists():
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


def reminder_previews(
    *, policy: ReminderPolicy, languages: tuple[str, ...] = ("fr", "en")
) -> list[ReminderPreview]:
    """Each step of ``policy`` in each of ``languages``, rendered by the sending code itself for
    the latest term of the cluster and a contact of it (an invented member and contact while the
    cluster has none). Writes nothing; three queries, whatever the number of steps."""
    cluster = policy.cluster
    term = (
        Term.objects.filter(membership__cluster=cluster)
        .select_related("membership__organisation", "membership__cluster")
        .order_by("-end_date", "-pk")
        .first()
    )
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
                )
            )
    return previews
