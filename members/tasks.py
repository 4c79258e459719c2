"""Celery tasks of the domain core."""

from celery import shared_task

from members.imports.services import ImportFailed, ImportUnusable, import_record_run
from members.mailing import MAIL_BATCH_TASK, MAIL_RETRY, MAILS, mail_task_run, mails_requeue
from members.models import CreditNote, ImportRecord, Invoice
from members.services import billing, follow_ups, reminders, renewals


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def import_run(self, record_id: int, *, dry_run: bool) -> dict:
    """Analyse (``dry_run``) or import the file of an :class:`ImportRecord`, for files too large
    for the admin's request. Progress goes to the result backend as ``PROGRESS`` states
    (``{"done": rows, "total": rows}``), which the record's admin page shows.

    Safe to run again: a killed worker's transaction is rolled back, and the import of a file
    already imported changes nothing; hence ``acks_late`` with ``reject_on_worker_lost``, so that
    a worker lost in the middle does not lose the import.
    """
    record = ImportRecord.objects.select_related("cluster").get(pk=record_id)

    def progress(done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    try:
        report = import_record_run(record=record, dry_run=dry_run, progress=progress)
    except (ImportUnusable, ImportFailed) as exc:
        # Recorded in the record, with its reason; nothing to retry.
        return {"status": record.status, "message": str(exc)}
    return {"status": record.status, "rows": report.rows, "refused": report.refused_rows}


@shared_task(acks_late=True, reject_on_worker_lost=True, **MAIL_RETRY)
def invoice_confirmation_send(invoice_id: int) -> bool:
    """Send the payment confirmation of a paid invoice, with the membership certificate, once
    to each contact (:func:`members.services.billing.invoice_confirmation_send` records it in
    the ledger of e-mails and sends each entry under its lock, so a redelivered task sends
    nothing twice)."""
    return billing.invoice_confirmation_send(invoice=Invoice.objects.get(pk=invoice_id))


@shared_task(acks_late=True, reject_on_worker_lost=True, **MAIL_RETRY)
def invoice_notice_send(invoice_id: int) -> bool:
    """Send a new invoice, as a PDF, to its organisation's contacts to notify, once (see
    :func:`members.services.billing.invoice_notice_send`)."""
    return billing.invoice_notice_send(invoice=Invoice.objects.get(pk=invoice_id))


@shared_task(acks_late=True, reject_on_worker_lost=True, **MAIL_RETRY)
def credit_note_notice_send(credit_note_id: int) -> bool:
    """Send a new credit note, as a PDF, to its organisation's contacts to notify, once (see
    :func:`members.services.billing.credit_note_notice_send`)."""
    return billing.credit_note_notice_send(credit_note=CreditNote.objects.get(pk=credit_note_id))


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reminders_pass(cluster_ids: list[int] | None = None) -> dict:
    """The daily reminder pass, which Celery beat runs at 08:00 Europe/Paris
    (``CELERY_BEAT_SCHEDULE``), or the pass of ``cluster_ids`` that their staff start from the
    admin: see :func:`members.services.reminders.reminders_schedule`. A pass run twice, or at the
    same time as another, or after days without one, records nothing twice and forgets nothing;
    hence ``acks_late``: a pass whose worker died is run again rather than lost for the day."""
    return reminders.reminders_schedule(cluster_ids=cluster_ids).as_json()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def renewals_expire_pass() -> dict:
    """The daily expiry of unpaid renewals, which Celery beat runs at 07:00 Europe/Paris
    (``CELERY_BEAT_SCHEDULE``), before the reminder pass: see
    :func:`members.services.renewals.renewals_expire`. Run twice, or at once with another, it
    cancels each renewal once; hence ``acks_late``: a pass whose worker died runs again."""
    return renewals.renewals_expire().as_json()


@shared_task(**MAIL_BATCH_TASK)
def reminders_send(self, reminder_ids: list[int]) -> int:
    """Send a batch of recorded reminders (:func:`members.services.reminders.reminders_send`).

    Redelivered after a lost worker (``acks_late``), it sends only what is still pending. When the
    SMTP server fails, the rest of the batch is retried with the same backoff as the invoice
    e-mails (:data:`members.mailing.MAIL_RETRY`); after the last try the entries show the error
    in the admin.
    """
    return mail_task_run(self, ledger=reminders.REMINDERS, entry_ids=reminder_ids)


@shared_task(**MAIL_BATCH_TASK)
def mails_send(self, mail_ids: list[int]) -> int:
    """Send a batch of the ledger of e-mails (:data:`members.mailing.MAILS`), as the batches of
    reminders are sent (:func:`members.mailing.mail_task_run`)."""
    return mail_task_run(self, ledger=MAILS, entry_ids=mail_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def mails_pass() -> int:
    """Queue again the e-mails of the ledger (the invoice e-mails) whose task was lost or ran
    out of retries (:func:`members.mailing.mails_requeue`), every hour (``CELERY_BEAT_SCHEDULE``);
    return how many. Run twice, it queues nothing twice: each entry is sent once, under its lock."""
    return len(mails_requeue())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def payment_follow_ups_pass(cluster_ids: list[int] | None = None) -> dict:
    """The daily pass of the payment follow-ups, which Celery beat runs at 08:10 Europe/Paris
    (``CELERY_BEAT_SCHEDULE``): see
    :func:`members.services.follow_ups.payment_follow_ups_schedule`. Run twice, at the same time
    as another, or after days without one, it records nothing twice and forgets nothing; hence
    ``acks_late``."""
    return follow_ups.payment_follow_ups_schedule(cluster_ids=cluster_ids).as_json()


@shared_task(**MAIL_BATCH_TASK)
def payment_follow_ups_send(self, follow_up_ids: list[int]) -> int:
    """Send a batch of recorded payment follow-ups, as the batches of reminders are sent
    (:func:`members.mailing.mail_task_run`): redelivered after a lost worker, it sends only what
    is still pending."""
    return mail_task_run(self, ledger=follow_ups.FOLLOW_UPS, entry_ids=follow_up_ids)
