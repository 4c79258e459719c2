"""Informing the members before the execution (GDPR): every contact of a transferring
organisation receives, through Celery, an e-mail saying that its data and membership pass to
the successor, with a signed link to object. Each notice is kept as proof (to whom, when, the
text sent); an objection flags the proposal for the committee, as a late objection once the
proposal is executed."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Case, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members import mailing
from members.formatting import long_date
from members.models import ContactRole

from ..models import Decision, Merger, MergerEvent, MergerNotice, NoticeTest, TransferProposal
from ..selectors import FACT_FLAGS, notice_recipients_new
from .mergers import merger_log

OBJECTION_LINK_SALT = "merger.objection-link"


def objection_token(*, notice: MergerNotice) -> str:
    """The signed token of ``notice``'s objection link: it names the notice, nobody can forge
    one, and it does not expire (an objection may come until the execution, and after it as a
    late one)."""
    return signing.dumps(notice.pk, salt=OBJECTION_LINK_SALT)


def objection_notice(*, token: str) -> MergerNotice | None:
    """The notice ``token`` names, or ``None`` if it is not a valid objection link."""
    try:
        notice_id = signing.loads(token, salt=OBJECTION_LINK_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(notice_id, int):
        return None
    return (
        MergerNotice.objects.select_related(
            "proposal__organisation",
            "proposal__merger__successor",
            "proposal__successor_membership",
        )
        .filter(pk=notice_id)
        .first()
    )


def objection_url(*, notice: MergerNotice) -> str:
    path = reverse("merger:objection", kwargs={"token": objection_token(notice=notice)})
    return settings.SITE_URL.rstrip("/") + path


@dataclass(frozen=True)
class NoticeRun:
    """What :func:`notices_queue` did: notices ``created`` for contacts not told yet, of
    ``organisations``; ``requeued`` pending notices whose task was lost."""

    created: int
    organisations: int
    requeued: int

    def as_json(self) -> dict:
        return {
            "created": self.created,
            "organisations": self.organisations,
            "requeued": self.requeued,
        }


@transaction.atomic
def notices_queue(*, merger: Merger, by: AbstractBaseUser | None) -> NoticeRun:
    """Record a notice for every contact of every transferring organisation of ``merger`` that
    has none yet, and queue them for the workers after the commit, in batches
    (:func:`members.mailing.mail_queue`); pending notices whose task was lost are queued again.
    Running it twice tells nobody twice.
    """
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    now = timezone.now()
    new = [
        MergerNotice(
            proposal_id=contact.proposal_id,
            contact=contact,
            email=contact.email,
            language=contact.notice_language,
            queued_at=now,
        )
        for contact in notice_recipients_new(merger=merger).order_by("pk")
    ]
    created = MergerNotice.objects.bulk_create(new)
    lost = mailing.mail_requeue(
        ledger=NOTICES, entries=MergerNotice.objects.filter(proposal__merger=merger), now=now
    )
    run = NoticeRun(
        created=len(created),
        organisations=len({notice.proposal_id for notice in created}),
        requeued=len(lost),
    )
    if created or lost:
        merger_log(merger=merger, kind=MergerEvent.Kind.NOTIFIED, by=by, **run.as_json())
    mailing.mail_queue(ledger=NOTICES, entry_ids=[notice.pk for notice in created] + lost)
    return run


class NoticeLedger(mailing.MailLedger):
    """The notices' ledger for :mod:`members.mailing`: one e-mail per notice, whose subject and
    text are kept once sent, as proof."""

    model = MergerNotice
    pending = MergerNotice.State.PENDING
    sent = MergerNotice.State.SENT
    task = "merger.tasks.notices_send"

    def entry_lock(self, entry_id: int) -> MergerNotice | None:
        return (
            MergerNotice.objects.select_for_update(of=("self",))
            .select_related("proposal__organisation", "proposal__merger__successor", "contact")
            .filter(pk=entry_id)
            .first()
        )

    def entry_messages(self, entry: MergerNotice) -> list[EmailMultiAlternatives]:
        return [notice_message(notice=entry)]

    def entry_sent(self, entry: MergerNotice, messages: list[EmailMultiAlternatives]) -> None:
        [message] = messages
        entry.subject = message.subject
        entry.body = message.body
        entry.error = ""
        entry.save(update_fields=["state", "sent_at", "subject", "body", "error"])

    def entry_retry(self, entry: MergerNotice, *, error: str) -> None:
        entry.error = error
        entry.save(update_fields=["error", "queued_at"])

    def entry_failed(self, entry: MergerNotice, *, error: str) -> None:
        entry.error = error
        entry.state = MergerNotice.State.FAILED
        entry.save(update_fields=["error", "state"])


NOTICES = NoticeLedger()


def notices_send(*, notice_ids: list[int], last_try: bool = False) -> list[int]:
    """Send the pending notices among ``notice_ids`` on one SMTP connection; return those to try
    again later (from the first transient SMTP error on). Each is sent under its row lock, once:
    a task run twice sends nothing twice (:func:`members.mailing.mail_batch_send`)."""
    return mailing.mail_batch_send(ledger=NOTICES, entry_ids=notice_ids, last_try=last_try)


class NoticeTestLedger(mailing.MailLedger):
    """The tests of the notice for :mod:`members.mailing`, sent during the request that asks
    for them (:func:`notice_test_send`): one e-mail each, as the example's contact would get
    it, to the committee member's own address."""

    model = NoticeTest
    pending = NoticeTest.State.PENDING
    sent = NoticeTest.State.SENT

    def entry_lock(self, entry_id: int) -> NoticeTest | None:
        return (
            NoticeTest.objects.select_for_update(of=("self",))
            .select_related("proposal__organisation", "proposal__merger__successor", "contact")
            .filter(pk=entry_id)
            .first()
        )

    def entry_messages(self, entry: NoticeTest) -> list[EmailMultiAlternatives]:
        return [
            notice_message(
                notice=notice_example_for(
                    proposal=entry.proposal,
                    contact=entry.contact,
                    email=entry.email,
                    language=entry.language,
                )
            )
        ]

    def entry_sent(self, entry: NoticeTest, messages: list[EmailMultiAlternatives]) -> None:
        entry.error = ""
        entry.save(update_fields=["state", "sent_at", "error"])

    def entry_retry(self, entry: NoticeTest, *, error: str) -> None:
        entry.error = error
        entry.save(update_fields=["error", "queued_at"])

    def entry_failed(self, entry: NoticeTest, *, error: str) -> None:
        entry.error = error
        entry.state = NoticeTest.State.FAILED
        entry.save(update_fields=["error", "state"])


NOTICE_TESTS = NoticeTestLedger()


def notice_example_for(
    *, proposal: TransferProposal, contact=None, email: str = "", language: str
) -> MergerNotice:
    """A notice of ``proposal`` that is not recorded (no objection link works with it), to
    show or test its e-mail in ``language``: to ``contact`` (its first contact by default), at
    ``email`` (the contact's by default)."""
    if contact is None:
        primary_first = Case(When(role=ContactRole.PRIMARY, then=0), default=1)
        contact = proposal.organisation.contacts.order_by(primary_first, "pk").first()
    return MergerNotice(
        proposal=proposal,
        contact=contact,
        email=email or (contact.email if contact else ""),
        language=language,
    )


def notice_test_send(
    *, merger: Merger, proposal: TransferProposal, by: AbstractBaseUser
) -> list[NoticeTest]:
    """Send ``by`` (a committee member) the notice of ``proposal`` in each language of the
    site, at its own address, now, through the mailing machinery; return the tests as they
    stand (sent, or failed with the server's error). Not a notice: nobody is informed, nothing
    is counted, and it may be sent again."""
    contact = notice_example_for(proposal=proposal, language=settings.LANGUAGE_CODE).contact
    now = timezone.now()
    tests = NoticeTest.objects.bulk_create(
        NoticeTest(
            merger=merger,
            proposal=proposal,
            contact=contact,
            by=by,
            email=by.email,
            language=code,
            queued_at=now,
        )
        for code, _label in settings.LANGUAGES
    )
    mailing.mail_batch_send(
        ledger=NOTICE_TESTS, entry_ids=[test.pk for test in tests], last_try=True
    )
    return list(NoticeTest.objects.filter(pk__in=[test.pk for test in tests]).order_by("pk"))


def names_joined(names: list[str]) -> str:
    """« A, B et C », in the active language."""
    if len(names) < 2:
        return "".join(names)
    return _("%(names)s et %(last)s") % {"names": ", ".join(names[:-1]), "last": names[-1]}


def notice_message(*, notice: MergerNotice) -> EmailMultiAlternatives:
    """The e-mail of ``notice``, in its contact's language, as text and HTML."""
    proposal = notice.proposal
    merger = proposal.merger
    successor = merger.successor
    sources = list(merger.sources.order_by("name"))
    memberships = list(
        proposal.source_memberships.select_related("cluster").order_by("cluster__name")
    )
    contact = notice.contact
    with translation.override(notice.language):
        context = {
            "organisation": proposal.organisation.name,
            "contact_name": (contact.full_name if contact else "") or proposal.organisation.name,
            "successor": successor.name,
            "sources": names_joined([cluster.name for cluster in sources]),
            "memberships": [(m.cluster.name, m.member_number) for m in memberships],
            "date": long_date(merger.planned_date),
            "member_since": long_date(proposal.member_since) if proposal.member_since else "",
            "paid_through": long_date(proposal.paid_through) if proposal.paid_through else "",
            "objection_url": objection_url(notice=notice),
            "cluster_name": successor.name,
            "issuer": successor.issuer_details(),
        }
        subject = " ".join(render_to_string("merger/email/notice_subject.txt", context).split())
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string("merger/email/notice_message.txt", context),
            to=[notice.email],
            reply_to=[successor.email] if successor.email else None,
            headers={"Content-Language": notice.language, "Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string("merger/email/notice_message.html", context), "text/html"
        )
    return message


@dataclass(frozen=True)
class NoticeObjection:
    """What :func:`notice_object` did: ``notice`` as it now stands, and whether this call
    ``recorded`` its objection (``False``: one was recorded before, nothing was added)."""

    notice: MergerNotice
    recorded: bool


@transaction.atomic
def notice_object(*, notice: MergerNotice, text: str = "") -> NoticeObjection:
    """Record the objection of ``notice``'s recipient, once: its text is that of the first time
    (a second post, a second tab or a double click adds nothing, the notice's row lock sees to
    it).

    Before the execution, the objection flags the proposal for the committee; a decided
    proposal must be decided again, so that the execution holds it back. Once the proposal is
    executed the transfer is done and its facts are history: the objection is recorded as late,
    on the notice and on the proposal (the date of the first one), which the committee filters
    and reads in the admin."""
    notice = MergerNotice.objects.select_for_update().get(pk=notice.pk)
    # The execution holds this lock while it executes the proposal: an objection either comes
    # first (the execution, which reads the objections after taking the lock, holds the
    # proposal back) or sees the proposal executed.
    proposal = TransferProposal.objects.select_for_update().get(pk=notice.proposal_id)
    recorded = notice.objected_at is None
    if recorded:
        notice.objected_at = timezone.now()
        notice.objection_text = (text or "").strip()
        if proposal.decision == Decision.EXECUTED:
            notice.objected_after_execution = notice.objected_at
        notice.save(update_fields=["objected_at", "objection_text", "objected_after_execution"])
    if notice.objected_after_execution is not None:
        if proposal.objection_after_execution is None:
            proposal.objection_after_execution = notice.objected_after_execution
            proposal.save(update_fields=["objection_after_execution", "updated_at"])
    elif not proposal.objection and proposal.decision != Decision.EXECUTED:
        proposal.objection = True
        flags = {*proposal.facts.get("flags", []), "objection"}
        proposal.facts = {**proposal.facts, "flags": [f for f in FACT_FLAGS if f in flags]}
        if proposal.decision in (Decision.APPROVED, Decision.REJECTED):
            proposal.facts_changed = proposal.facts != proposal.decided_facts
        proposal.save(update_fields=["objection", "facts", "facts_changed", "updated_at"])
    return NoticeObjection(notice=notice, recorded=recorded)
