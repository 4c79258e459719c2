"""Celery tasks of the merger: sending the members' information notices."""

from celery import shared_task

from members.tasks import MAIL_RETRY, mail_batch_send
from merger.services import notices


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAIL_RETRY["max_retries"],
    ignore_result=True,
)
def notices_send(self, notice_ids: list[int]) -> int:
    """Send a batch of merger notices (:func:`merger.services.notices.notices_send`).

    Redelivered after a lost worker (``acks_late``), it sends only those still pending; when the
    SMTP server fails, the rest of the batch is retried with the backoff of the other e-mails.
    """
    return mail_batch_send(self, notices.notices_send, notice_ids=notice_ids)
