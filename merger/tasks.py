"""Celery tasks of the merger: sending the members' information notices."""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from members.tasks import MAIL_RETRY
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
    last_try = self.request.retries >= self.max_retries
    retry_ids = notices.notices_send(notice_ids=notice_ids, last_try=last_try)
    if retry_ids:
        raise self.retry(
            args=(retry_ids,),
            countdown=get_exponential_backoff_interval(
                factor=settings.MAIL_RETRY_BACKOFF,
                retries=self.request.retries,
                maximum=MAIL_RETRY["retry_backoff_max"],
                full_jitter=MAIL_RETRY["retry_jitter"],
            ),
        )
    return len(notice_ids)
