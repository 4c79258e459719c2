"""Celery tasks of the merger: sending the members' information notices, and executing the
transfers asked from the admin."""

from celery import shared_task

from members.mailing import MAIL_BATCH_TASK, mail_task_run
from merger.services import execution, notices


@shared_task(**MAIL_BATCH_TASK)
def notices_send(self, notice_ids: list[int]) -> int:
    """Send a batch of merger notices (:func:`merger.services.notices.notices_send`).

    Redelivered after a lost worker (``acks_late``), it sends only those still pending; when the
    SMTP server fails, the rest of the batch is retried with the backoff of the other e-mails
    (:func:`members.mailing.mail_task_run`).
    """
    return mail_task_run(self, ledger=notices.NOTICES, entry_ids=notice_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def merger_execution_run(execution_id: int) -> None:
    """Execute the transfers of a :class:`merger.models.MergerExecution`
    (:func:`merger.services.execution.merger_execution_run`), its progress and outcome recorded
    on it for the admin's page.

    Redelivered after a lost worker (``acks_late``), it runs again: the proposals executed
    already are skipped, each one is executed once (the execution locks them).
    """
    execution.merger_execution_run(execution_id=execution_id)
