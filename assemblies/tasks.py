"""Celery tasks of the assemblies: the sending of the convocations and reminders, and the daily
pass of the reminders."""

from celery import shared_task

from assemblies import mails
from members.mailing import MAIL_BATCH_TASK, mail_task_run


@shared_task(**MAIL_BATCH_TASK)
def assembly_mails_send(self, mail_ids: list[int]) -> int:
    """Send a batch of recorded convocations and reminders, as the batches of renewal reminders
    are sent (:func:`members.mailing.mail_task_run`): redelivered after a lost worker, it sends
    only what is still pending."""
    return mail_task_run(self, ledger=mails.ASSEMBLY_MAILS, entry_ids=mail_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def assembly_reminders_pass() -> dict:
    """The daily pass of the assemblies' reminders, which Celery beat runs at 08:20 Europe/Paris
    (``CELERY_BEAT_SCHEDULE``): see :func:`assemblies.mails.assembly_reminders_schedule`. Run
    twice, at the same time as another, or after days without one, it records nothing twice and
    sends only the latest step due; hence ``acks_late``."""
    return mails.assembly_reminders_schedule().as_json()
