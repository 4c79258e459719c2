"""Reads of the import workflow: how far a running import has got."""

from celery.result import AsyncResult

from members.models import ImportRecord

Status = ImportRecord.Status

#: The states in which a worker (or the request) is still reading or writing the file.
WORKING = (Status.QUEUED, Status.ANALYSING, Status.IMPORTING)


def import_record_progress(*, record: ImportRecord) -> dict | None:
    """How far the background run of ``record`` has got, as its Celery task reports it:
    ``{"done", "total", "percent", …}``, or None when nothing runs or nothing was reported yet."""
    if record.status not in WORKING or not record.task_id:
        return None
    info = AsyncResult(record.task_id).info
    if not isinstance(info, dict) or not info.get("total"):
        return None
    return {**info, "percent": int(100 * info["done"] / info["total"])}
