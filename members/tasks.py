"""Celery tasks of the domain core."""

import smtplib

from celery import shared_task

from members.imports.services import ImportFailed, ImportUnusable, run_import
from members.models import ImportRecord, Invoice
from members.services import billing


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
        report = run_import(record, dry_run=dry_run, progress=progress)
    except (ImportUnusable, ImportFailed) as exc:
        # Recorded in the record, with its reason; nothing to retry.
        return {"status": record.status, "message": str(exc)}
    return {"status": record.status, "rows": report.rows, "refused": report.refused_rows}


# An SMTP server down or refusing for a while: eight retries with exponential backoff (up to 1, 2,
# 4 … minutes, jittered), at most half an hour apart: a retry waits with the worker, unacknowledged,
# and Redis would deliver it a second time past its one-hour visibility timeout (PITFALLS.md).
MAIL_RETRY = {
    "autoretry_for": (smtplib.SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": 60,
    "retry_backoff_max": 1800,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(acks_late=True, reject_on_worker_lost=True, **MAIL_RETRY)
def invoice_confirmation_send(invoice_id: int) -> bool:
    """Send the payment confirmation of a paid invoice, with the membership certificate, once
    (:func:`members.services.billing.invoice_confirmation_send` records it under a lock, so a
    redelivered task sends nothing)."""
    return billing.invoice_confirmation_send(invoice=Invoice.objects.get(pk=invoice_id))


@shared_task(acks_late=True, reject_on_worker_lost=True, **MAIL_RETRY)
def invoice_notice_send(invoice_id: int) -> bool:
    """Send a new invoice, as a PDF, to its organisation's contacts to notify, once (see
    :func:`members.services.billing.invoice_notice_send`)."""
    return billing.invoice_notice_send(invoice=Invoice.objects.get(pk=invoice_id))
