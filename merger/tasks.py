"""Celery tasks of the merger: sending the members' information notices."""

from celery import shared_task

from members.mailing import MAIL_BATCH_TASK, mail_task_run
from merger.services import notices


@shared_task(**MAIL_BATCH_TASK)
def notices_send(self, notice_ids: list[int]) -> int:
    """Send a batch of merger notices (:func:`merger.services.notices.notices_send`).

    Redelivered after a lost worker (``acks_late``), it sends only those still pending; when the
    SMTP server fails, the rest of the batch is retried with the backoff of the other e-mails
    (:func:`members.mailing.mail_task_run`).
    """
    return mail_task_run(self, ledger=notices.NOTICES, entry_ids=notice_ids)
