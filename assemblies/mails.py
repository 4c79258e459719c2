"""An assembly's e-mails, each sent once: the convocation of every voice with a voter, and the
reminders to those who have neither voted nor given a proxy.

Both go through one ledger (:class:`~assemblies.models.AssemblyMail`) on the machinery of
:mod:`members.mailing`. :func:`convocations_record` records the convocations in the transaction
that convenes the assembly and queues them once it commits; the daily pass
(:func:`assembly_reminders_schedule`, which Celery beat runs at 08:20) records the reminder step
due for each voice still silent, and queues again the entries whose task was lost. The tasks
lock each entry and send it only if it is still pending: a task run twice, or redelivered after
its worker died, sends nothing twice, except the one e-mail a worker killed between the SMTP
server's answer and the commit was sending. A reminder whose voice voted, gave a proxy or was
struck off by the time its turn comes is cancelled instead, with why.

The reminder steps are a field of the assembly (:attr:`~assemblies.models.Assembly.reminder_days`,
"7,1" by default: J-7 and J-1), frozen with its other rules: a change of the steps of the next
assembly does not touch this one.
"""

import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import time_format

from assemblies.models import (
    Assembly,
    AssemblyMail,
    AssemblyMailKind,
    AssemblyMailReason,
    AssemblyMailState,
    AssemblyState,
    Ballot,
    Voice,
)
from assemblies.selectors import proxies_active, reminder_step_due, voices_to_remind
from members import mailing
from members.formatting import long_date


def convocations_record(*, voices: Iterable[Voice], now: datetime, notify: bool = True) -> int:
    """Record the convocation of each of ``voices`` that has a voter, to the voter's address in
    the voice's language, and queue them once the caller's transaction commits; return how many.
    Without ``notify`` (the demo data), they are recorded as sent at ``now`` and nothing goes."""
    entries = AssemblyMail.objects.bulk_create(
        AssemblyMail(
            voice=voice,
            kind=AssemblyMailKind.CONVOCATION,
            email=voice.voter.email,
            language=voice.language or settings.LANGUAGE_CODE,
            **({"queued_at": now} if notify else {"state": AssemblyMailState.SENT, "sent_at": now}),
        )
        for voice in voices
        if voice.voter is not None
    )
    if notify:
        assembly_mails_queue(mail_ids=[entry.pk for entry in entries])
    return len(entries)


@dataclass(frozen=True)
class AssemblyReminderPass:
    """What a pass found on ``today``: ``assemblies`` convened or voting with a reminder step
    due, ``scheduled`` reminders newly recorded for them, and ``requeued`` entries of earlier
    days queued again because their task was lost."""

    today: date
    assemblies: int
    scheduled: int
    requeued: int = 0

    def as_json(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "assemblies": self.assemblies,
            "scheduled": self.scheduled,
            "requeued": self.requeued,
        }


@transaction.atomic
def assembly_reminders_schedule(*, today: date | None = None) -> AssemblyReminderPass:
    """Record the reminder step due on ``today`` (default: today in Europe/Paris) of each
    assembly convened or voting (:func:`assemblies.selectors.reminder_step_due`) for each of its
    voices that has neither voted nor given a proxy and had no reminder at that step or a later
    one, and queue them, with the pending entries whose task was lost, once committed.

    Two passes at once run one after the other: each locks the assemblies it covers first, so
    that the second sees what the first recorded; the unique constraint on (voice, kind, step)
    backs this. One query per assembly with a step due, whatever the number of voices."""
    today = today or timezone.localdate()
    now = timezone.now()
    assemblies = list(
        Assembly.objects.select_for_update()
        .filter(state__in=[AssemblyState.CONVENED, AssemblyState.VOTING])
        .order_by("pk")
    )
    recorded: list[AssemblyMail] = []
    due = 0
    for assembly in assemblies:
        days_before = reminder_step_due(assembly=assembly, on=today)
        if days_before is None:
            continue
        due += 1
        recorded.extend(
            AssemblyMail(
                voice=voice,
                kind=AssemblyMailKind.REMINDER,
                days_before=days_before,
                email=voice.voter.email,
                language=voice.language or settings.LANGUAGE_CODE,
                queued_at=now,
            )
            for voice in voices_to_remind(assembly=assembly, days_before=days_before)
            .select_related("voter")
            .order_by("pk")
        )
    created = AssemblyMail.objects.bulk_create(recorded)
    lost = mailing.mail_requeue(ledger=ASSEMBLY_MAILS, entries=AssemblyMail.objects.all(), now=now)
    assembly_mails_queue(mail_ids=[entry.pk for entry in created] + lost)
    return AssemblyReminderPass(today, due, len(created), requeued=len(lost))


@transaction.atomic
def assembly_mails_resend(*, mails: QuerySet[AssemblyMail]) -> int:
    """Put the failed entries among ``mails`` back in the queue (staff's "resend", once the cause
    is fixed: the SMTP server back, the address corrected upstream); return how many. Others are
    left as they are."""
    failed = list(
        mails.select_for_update()
        .filter(state=AssemblyMailState.FAILED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    AssemblyMail.objects.filter(pk__in=failed).update(
        state=AssemblyMailState.PENDING,
        reason="",
        error="",
        attempts=0,
        queued_at=timezone.now(),
    )
    assembly_mails_queue(mail_ids=failed)
    return len(failed)


def assembly_mails_queue(*, mail_ids: list[int]) -> None:
    """Queue ``mail_ids`` for sending, :data:`members.mailing.BATCH_SIZE` per task, after the
    commit."""
    mailing.mail_queue(ledger=ASSEMBLY_MAILS, entry_ids=mail_ids)


# --- Sending ------------------------------------------------------------------------------------


class AssemblyMailLedger(mailing.MailLedger):
    """The assemblies' ledger for :mod:`members.mailing`: an entry is one e-mail to one voter; it
    is cancelled when no longer needed (:func:`_mail_obsolete`)."""

    model = AssemblyMail
    pending = AssemblyMailState.PENDING
    sent = AssemblyMailState.SENT
    task = "assemblies.tasks.assembly_mails_send"

    def entry_lock(self, entry_id: int) -> AssemblyMail | None:
        return (
            AssemblyMail.objects.select_for_update(of=("self",))
            .select_related("voice__assembly__cluster", "voice__organisation")
            .filter(pk=entry_id)
            .first()
        )

    def entry_messages(self, entry: AssemblyMail) -> list[EmailMultiAlternatives] | None:
        # Read now, under the entry's lock: a ballot or a proxy committed since the pass stops
        # the reminder; one committed while it is being sent crossed it.
        reason = _mail_obsolete(entry)
        if reason:
            entry.state = AssemblyMailState.CANCELLED
            entry.reason = reason
            entry.save(update_fields=["state", "reason"])
            return None
        entry.attempts += 1
        return [assembly_mail_message(entry)]

    def entry_sent(self, entry: AssemblyMail, messages: list[EmailMultiAlternatives]) -> None:
        entry.error = ""
        entry.save(update_fields=["state", "sent_at", "attempts", "error"])

    def entry_retry(self, entry: AssemblyMail, *, error: str) -> None:
        entry.error = error
        entry.save(update_fields=["attempts", "error", "queued_at"])

    def entry_failed(self, entry: AssemblyMail, *, error: str) -> None:
        entry.error = error
        entry.state = AssemblyMailState.FAILED
        entry.reason = AssemblyMailReason.SMTP_ERROR
        entry.save(update_fields=["attempts", "error", "state", "reason"])


ASSEMBLY_MAILS = AssemblyMailLedger()


def assembly_mails_send(*, mail_ids: list[int], last_try: bool = False) -> list[int]:
    """Send the pending entries among ``mail_ids``, one SMTP connection for all, and return
    those to try again later (:func:`members.mailing.mail_batch_send`): each once, a reminder no
    longer needed cancelled instead."""
    return mailing.mail_batch_send(ledger=ASSEMBLY_MAILS, entry_ids=mail_ids, last_try=last_try)


def _mail_obsolete(entry: AssemblyMail) -> AssemblyMailReason | None:
    """Why ``entry`` should no longer go out, if it should not."""
    voice = entry.voice
    assembly = voice.assembly
    if voice.struck_off_at is not None:
        return AssemblyMailReason.STRUCK_OFF
    if assembly.state == AssemblyState.CLOSED:
        return AssemblyMailReason.TOO_LATE
    if entry.kind == AssemblyMailKind.CONVOCATION:
        return None
    if timezone.localdate() > timezone.localdate(assembly.starts_at):
        return AssemblyMailReason.TOO_LATE
    if Ballot.objects.filter(voice=voice).exists():
        return AssemblyMailReason.VOTED
    if proxies_active(assembly=assembly).filter(giver=voice).exists():
        return AssemblyMailReason.PROXY
    return None


def _documents(assembly: Assembly, *, attach: bool) -> tuple[list, list[tuple[str, str, bool]]]:
    """The files of ``assembly``'s documents to attach (name, content, type), within
    ``ASSEMBLY_ATTACHMENTS_MAX_BYTES`` in all, in the agenda's order; and the documents listed
    (title, link or "" for a file, whether the file is attached)."""
    attached, listed = [], []
    room = settings.ASSEMBLY_ATTACHMENTS_MAX_BYTES
    for document in assembly.documents.order_by("position", "pk"):
        if document.url:
            listed.append((document.title, document.url, False))
            continue
        fits = attach and document.file.size <= room
        if fits:
            room -= document.file.size
            with document.file.open("rb") as file:
                content = file.read()
            name = os.path.basename(document.file.name)
            attached.append((name, content, mimetypes.guess_type(name)[0]))
        listed.append((document.title, "", fits))
    return attached, listed


def assembly_mail_message(entry: AssemblyMail) -> EmailMultiAlternatives:
    """The e-mail of ``entry`` to its address, in its language, as text and HTML: the
    convocation with the documents' files attached (as many as the size limit allows), or a
    reminder; both with the agenda and the voice's personal link."""
    # Imported here: the services import this module to record the convocations.
    from assemblies.services import voice_url

    voice = entry.voice
    assembly = voice.assembly
    cluster = assembly.cluster
    convocation = entry.kind == AssemblyMailKind.CONVOCATION
    attached, documents = _documents(assembly, attach=convocation)
    with translation.override(entry.language or settings.LANGUAGE_CODE):
        context = {
            "convocation": convocation,
            "days_before": entry.days_before,
            "assembly": assembly,
            "kind": assembly.get_kind_display(),
            "day": long_date(assembly.starts_at),
            "time": time_format(timezone.localtime(assembly.starts_at), "H:i"),
            "resolutions": [
                (resolution, resolution.get_majority_display())
                for resolution in assembly.resolutions.order_by("position", "pk")
            ],
            "documents": documents,
            "organisation_name": voice.organisation.name,
            "cluster_name": cluster.name,
            "issuer": cluster.issuer_details(),
            "voice_url": voice_url(voice=voice),
        }
        subject = render_to_string("assemblies/email/assembly_mail_subject.txt", context)
        message = EmailMultiAlternatives(
            subject=" ".join(subject.split()),
            body=render_to_string("assemblies/email/assembly_mail_message.txt", context),
            to=[entry.email],
            reply_to=[cluster.email] if cluster.email else None,
            headers={
                "Content-Language": translation.get_language(),
                "Auto-Submitted": "auto-generated",
            },
        )
        message.attach_alternative(
            render_to_string("assemblies/email/assembly_mail_message.html", context), "text/html"
        )
    for name, content, mimetype in attached:
        message.attach(name, content, mimetype)
    return message
