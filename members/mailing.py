"""Sending the e-mails of a ledger, each once: the machinery that reminders and merger notices
share (and that dunning and convocations will use).

A ledger is a table with one entry per e-mail to send (a recipient and a purpose), with at least
a ``state``, a ``queued_at`` and a ``sent_at``; a :class:`MailLedger` says how this machinery
reads and records it. :func:`mail_queue` queues entries for the workers, :data:`BATCH_SIZE` per
task, once the transaction that recorded them commits; :func:`mail_requeue` picks the pending
entries whose task was lost, for the next queuing; :func:`mail_batch_send` sends a batch on one
SMTP connection, each entry in a transaction of its own that locks its row first and sends it
only if it is still pending, so that a batch delivered twice sends nothing twice and a worker
killed midway loses nothing (what it had not committed is still pending for the redelivered
task); :func:`mail_task_run` is what a ledger's Celery task runs: the batch, then the retry with
backoff of what the SMTP server refused for a while.
"""

import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import OperationalError

from members.models import Contact, Mail, MailState

# How many entries one task sends, on one SMTP connection.
BATCH_SIZE = 100
# A pending entry queued longer ago than this was lost with its task (a broker emptied, a task
# dropped): the next pass queues it again, as it does an entry that could not be queued (the
# broker was unreachable: no queued_at). Longer than the longest retry backoff (30 minutes) and
# than Redis's visibility timeout (one hour), after which Redis redelivers a task by itself.
REQUEUE_AFTER = timedelta(hours=2)

# An SMTP server down or refusing for a while: eight retries with exponential backoff (up to 1, 2,
# 4 … minutes, jittered), at most half an hour apart: a retry waits with the worker, unacknowledged,
# and Redis would deliver it a second time past its one-hour visibility timeout.
MAIL_RETRY = {
    "autoretry_for": (smtplib.SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": settings.MAIL_RETRY_BACKOFF,
    "retry_backoff_max": 1800,
    "retry_jitter": True,
    "max_retries": 8,
}
# The options of a ledger's batch task: redelivered after a lost worker (it sends only what is
# still pending), retried by :func:`mail_task_run`; the ledger records the outcome, so queuing
# needs the broker only, not the result store.
MAIL_BATCH_TASK = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": MAIL_RETRY["max_retries"],
    "ignore_result": True,
}


class MailLedger:
    """How the machinery reads and records the entries of one ledger: subclass it, set
    :attr:`model`, :attr:`pending` and :attr:`task`, and write the methods that raise
    ``NotImplementedError``."""

    #: The ledger's model: one row per e-mail to send.
    model: type[models.Model]
    #: The value of ``state`` of an entry still to send.
    pending: str
    #: The value of ``state`` of an entry sent.
    sent: str
    #: The dotted path of the Celery task that sends a batch (its one argument: the ids).
    task: str

    def entry_lock(self, entry_id: int) -> models.Model | None:
        """The entry ``entry_id``, locked until the end of the transaction, with what its
        e-mail reads; ``None`` if it is gone."""
        return self.model.objects.select_for_update(of=("self",)).filter(pk=entry_id).first()

    def entry_messages(self, entry) -> list[EmailMessage] | None:
        """The e-mails of the pending ``entry`` still to send, or ``None`` when it is not to be
        sent any more (no longer needed, nobody to send it to): the entry is then closed, with
        why."""
        raise NotImplementedError

    def entry_delivered(self, entry, message: EmailMessage) -> None:
        """``message`` of ``entry`` was accepted by the SMTP server (a partial try that stops
        later records it with the entry, so that the next try skips it)."""

    def entry_sent(self, entry, messages: list[EmailMessage]) -> None:
        """Record that all the e-mails of ``entry`` were sent (``sent_at`` and ``state`` are
        set already)."""
        raise NotImplementedError

    def entry_retry(self, entry, *, error: str) -> None:
        """Record that sending ``entry`` failed for a while, with ``error``, to try again
        (``queued_at`` is set already)."""
        raise NotImplementedError

    def entry_failed(self, entry, *, error: str) -> None:
        """Record that sending ``entry`` failed for good, with ``error``."""
        raise NotImplementedError


def smtp_error_is_transient(error: Exception) -> bool:
    """A connection problem or a 4xx answer is worth retrying; a 5xx answer is not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _message in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return True


def mail_requeue(*, ledger: MailLedger, entries: models.QuerySet, now: datetime) -> list[int]:
    """The pending ``entries`` (a query set of the ledger) whose task was lost, or which could
    not be queued, marked as queued at ``now``: the caller queues them again."""
    lost = list(
        entries.filter(
            Q(queued_at__isnull=True) | Q(queued_at__lt=now - REQUEUE_AFTER),
            state=ledger.pending,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if lost:
        ledger.model.objects.filter(pk__in=lost).update(queued_at=now)
    return lost


def mail_queue(*, ledger: MailLedger, entry_ids: list[int]) -> None:
    """Queue ``entry_ids`` for sending, :data:`BATCH_SIZE` per task of the ledger, after the
    commit. Those the broker does not take lose their ``queued_at``: the next pass queues them
    again."""
    if not entry_ids:
        return
    # Imported when needed: the task modules import the services (tasks wrap services).
    task = import_string(ledger.task)
    batches = [
        entry_ids[start : start + BATCH_SIZE] for start in range(0, len(entry_ids), BATCH_SIZE)
    ]

    def send() -> None:
        for position, batch in enumerate(batches):
            try:
                task.delay(batch)
            except OperationalError:
                # The broker is unreachable: whatever pass runs next queues these again.
                unsent = [entry_id for rest in batches[position:] for entry_id in rest]
                ledger.model.objects.filter(pk__in=unsent).update(queued_at=None)
                raise

    transaction.on_commit(send)


def mail_batch_send(
    *,
    ledger: MailLedger,
    entry_ids: Iterable[int],
    last_try: bool = False,
    raise_transient: bool = False,
) -> list[int]:
    """Send the pending entries of ``ledger`` among ``entry_ids``, one SMTP connection for all,
    and return those to try again later.

    Each entry is sent in a transaction of its own that locks it, so that a batch run twice
    sends it once. At the first transient SMTP error (a connection problem, a 4xx answer) the
    batch stops and that entry and the rest are returned, to retry with backoff (or, if
    ``raise_transient``, the error is raised once recorded, for a task that retries itself); on
    the ``last_try`` each such entry fails, with the error, for staff to see. A permanent SMTP
    error (5xx) fails the entry at once.
    """
    entry_ids = list(entry_ids)
    connection = get_connection()
    try:
        for position, entry_id in enumerate(entry_ids):
            error = _entry_send(ledger, entry_id, connection=connection, last_try=last_try)
            if error is not None:
                if raise_transient:
                    raise error
                return entry_ids[position:]
    finally:
        connection.close()
    return []


@transaction.atomic
def _entry_send(
    ledger: MailLedger, entry_id: int, *, connection, last_try: bool
) -> Exception | None:
    """Send one entry if it is pending (and still needed); return the SMTP error when the server
    failed in a way worth retrying (the error is recorded), else ``None``."""
    entry = ledger.entry_lock(entry_id)
    if entry is None or entry.state != ledger.pending:
        return None
    messages = ledger.entry_messages(entry)
    if messages is None:
        return None
    try:
        connection.open()  # Once for the batch; send_messages() would open one per call.
        for message in messages:
            connection.send_messages([message])
            ledger.entry_delivered(entry, message)
    except (smtplib.SMTPException, OSError) as exception:
        connection.close()  # Opened afresh for the next entry, if any.
        error = f"{type(exception).__name__}: {exception}"
        if smtp_error_is_transient(exception) and not last_try:
            entry.queued_at = timezone.now()
            ledger.entry_retry(entry, error=error)
            return exception
        ledger.entry_failed(entry, error=error)
        return None
    entry.state = ledger.sent
    entry.sent_at = timezone.now()
    ledger.entry_sent(entry, messages)
    return None


def mail_task_run(task, *, ledger: MailLedger, entry_ids: list[int]) -> int:
    """What the batch task of ``ledger``, bound as ``task`` (:data:`MAIL_BATCH_TASK`), runs:
    send ``entry_ids`` and retry those the SMTP server failed for a while with the backoff of
    :data:`MAIL_RETRY`, as the same task on those ids only (the last try records their error);
    return how many ids the batch had."""
    retry_ids = mail_batch_send(
        ledger=ledger, entry_ids=entry_ids, last_try=task.request.retries >= task.max_retries
    )
    if retry_ids:
        raise task.retry(
            args=(retry_ids,),
            countdown=get_exponential_backoff_interval(
                factor=settings.MAIL_RETRY_BACKOFF,
                retries=task.request.retries,
                maximum=MAIL_RETRY["retry_backoff_max"],
                full_jitter=MAIL_RETRY["retry_jitter"],
            ),
        )
    return len(entry_ids)


# --- The ledger of e-mails without one of their own ---------------------------------------------


class MailPurposeWriter(Protocol):
    """How the e-mails of one purpose of :class:`Mails` are written and recorded."""

    def message(self, entry: Mail) -> EmailMessage:
        """The e-mail of ``entry``, to ``entry.email``, in ``entry.language``."""

    def sent(self, entry: Mail) -> None:
        """``entry`` was sent (and recorded as such): what else records it, if anything."""


class Mails(MailLedger):
    """The ledger of :class:`members.models.Mail`: one entry per recipient, purpose and object,
    for the e-mails that have no ledger of their own (the invoice e-mails; dunning and
    convocations next). Each purpose registers its writer with :meth:`purpose_register`."""

    model = Mail
    pending = MailState.PENDING
    sent = MailState.SENT
    task = "members.tasks.mails_send"

    def __init__(self) -> None:
        self.writers: dict[str, MailPurposeWriter] = {}

    def purpose_register(self, purpose: str, writer: MailPurposeWriter) -> None:
        self.writers[purpose] = writer

    def entry_messages(self, entry: Mail) -> list[EmailMessage]:
        entry.attempts += 1
        return [self.writers[entry.purpose].message(entry)]

    def entry_sent(self, entry: Mail, messages: list[EmailMessage]) -> None:
        entry.error = ""
        entry.save(update_fields=["state", "sent_at", "attempts", "error"])
        self.writers[entry.purpose].sent(entry)

    def entry_retry(self, entry: Mail, *, error: str) -> None:
        entry.error = error
        entry.save(update_fields=["attempts", "error", "queued_at"])

    def entry_failed(self, entry: Mail, *, error: str) -> None:
        entry.error = error
        entry.state = MailState.FAILED
        entry.save(update_fields=["attempts", "error", "state"])


MAILS = Mails()


@transaction.atomic
def mails_record(
    *, purpose: str, about: models.Model, recipients: Iterable[Contact], now: datetime
) -> list[int]:
    """The pending entries of :data:`MAILS` for ``purpose`` about ``about``, recorded first, one
    per contact of ``recipients`` (in its language), when there is none yet: an e-mail goes out
    once to those it was first meant for, a contact added later does not make it go again.
    Nothing is recorded when ``recipients`` is empty. The caller holds a lock on ``about``."""
    content_type = ContentType.objects.get_for_model(about)
    entries = Mail.objects.filter(purpose=purpose, content_type=content_type, object_id=about.pk)
    if not entries.exists():
        Mail.objects.bulk_create(
            (
                Mail(
                    purpose=purpose,
                    content_type=content_type,
                    object_id=about.pk,
                    email=contact.email,
                    contact=contact,
                    language=contact.language or settings.LANGUAGE_CODE,
                    queued_at=now,
                )
                for contact in {contact.email: contact for contact in recipients}.values()
            ),
        )
    return list(entries.filter(state=MailState.PENDING).order_by("pk").values_list("pk", flat=True))


@transaction.atomic
def mails_requeue(*, now: datetime | None = None) -> list[int]:
    """Queue again the pending entries of :data:`MAILS` whose task was lost, or ran out of
    retries, :data:`REQUEUE_AFTER` ago (or which the broker never took); return their ids. Run
    every hour by Celery beat (``CELERY_BEAT_SCHEDULE``): the reminders and the merger's notices
    are queued again by their own passes, the ledger of e-mails has no other."""
    lost = mail_requeue(ledger=MAILS, entries=Mail.objects.all(), now=now or timezone.now())
    mail_queue(ledger=MAILS, entry_ids=lost)
    return lost
