"""Celery tasks of the domain core."""

from celery import shared_task

from members.imports.services import ImportFailed, ImportUnusable, run_import
from members.models import ImportRecord


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


@shared_task(acks_late=True, reject_on_worker_lost=True)
def invoice_confirmation_send(invoice_id: int) -> None:
    """Send the payment confirmation of a paid invoice, with the membership certificate, once."""
    raise NotImplementedError
