"""The mailing machinery (members.mailing) that every ledger of e-mails sent once goes through,
here with each of its ledgers (renewal reminders, merger notices, and the ledger of e-mails
that have none of their own: the invoice e-mails), a real Celery worker on
the real Redis broker and a real local SMTP server: a batch delivered twice sends each e-mail
once, a server refusing for a while is tried again with backoff, a refusal for good is recorded
with the server's answer, and a batch lost with the broker is queued again."""

import datetime as dt
import importlib
import smtplib

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone

from cluster.celery import app as celery_app
from cluster.tasks import health_check
from members import mailing
from members.models import ContactRole, Invoice, Mail, MailPurpose, MailState
from members.services.billing import (
    invoice_confirmation_send,
    invoice_issue,
    invoice_notice_send,
    invoice_payment_record,
)
from members.services.reminders import REMINDERS, reminders_schedule
from members.texts import text_render
from merger.selectors import merger_current
from merger.services import notices_queue, proposals_refresh
from merger.services.notices import NOTICES
from tests.factories import ContactFactory, MembershipFactory, OrganisationFactory, TermFactory
from tests.members.billing_helpers import ISSUED, contact, unpaid_term
from tests.members.test_reminders_worker import embedded_worker, wait_until

LEDGERS = {"reminders": REMINDERS, "notices": NOTICES, "mails": mailing.MAILS}
REMINDER_DAY = dt.date(2026, 12, 1)  # J−30 of the terms ending on 31 December 2026
MERGER_DAY = dt.date(2027, 1, 1)  # those terms in grace: their organisations are transferred


def recorded(kind: str, count: int) -> list[str]:
    """``count`` entries recorded in the ledger ``kind`` by its own service (and queued after
    its commit, if any), each for an organisation with one contact; their addresses in order."""
    contacts = []
    for _ in range(count):
        organisation = OrganisationFactory()
        # An unpaid term for an invoice to send; a paid one for a reminder or a notice.
        TermFactory(
            membership=MembershipFactory(organisation=organisation),
            year=2026,
            is_paid=kind != "mails",
        )
        contacts.append(ContactFactory(organisation=organisation))
    if kind == "reminders":
        reminders_schedule(today=REMINDER_DAY)
    elif kind == "mails":
        ids = []
        for recipient in contacts:
            term = recipient.organisation.memberships.get().terms.get()
            ids += mailing.mails_record(
                purpose=MailPurpose.INVOICE_NOTICE,
                about=invoice_issue(term=term, on=ISSUED),
                recipients=[recipient],
                now=timezone.now(),
            )
        mailing.mail_queue(ledger=mailing.MAILS, entry_ids=ids)
    else:
        proposals_refresh(merger=merger_current(), as_of=MERGER_DAY)
        notices_queue(merger=merger_current(), by=None)
    return [contact.email for contact in contacts]


def entries(kind: str) -> list:
    return list(LEDGERS[kind].model.objects.order_by("pk"))


def error_of(entry) -> str:
    """The SMTP error the ledger recorded with ``entry`` (the reminder ledger's as a stored text,
    read here in French)."""
    return text_render(getattr(entry, "detail", None)) or getattr(entry, "error", "")


def none_pending(kind: str) -> bool:
    ledger = LEDGERS[kind]
    return not ledger.model.objects.filter(state=ledger.pending).exists()


@pytest.mark.parametrize("kind", LEDGERS)
@pytest.mark.django_db(transaction=True)
def test_a_batch_delivered_twice_sends_each_e_mail_once(kind, redis_broker, mailbox):
    addresses = recorded(kind, 3)  # queued once, after the commit
    ids = [entry.pk for entry in entries(kind)]

    with embedded_worker():
        mailing.mail_queue(ledger=LEDGERS[kind], entry_ids=ids)  # and twice more
        mailing.mail_queue(ledger=LEDGERS[kind], entry_ids=ids)
        mailbox.wait_for(3)
        wait_until(lambda: none_pending(kind), timeout=10, what="the ledger records the sending")
        assert health_check.delay().get(timeout=10)["status"] == "pong"  # the queue is empty

    assert sorted(message["To"] for message in mailbox.messages) == sorted(addresses)
    assert len({message["X-Peer"] for message in mailbox.messages}) == 1, "one SMTP connection"
    assert [entry.state for entry in entries(kind)] == [LEDGERS[kind].sent] * 3
    assert all(entry.sent_at is not None for entry in entries(kind))


@pytest.mark.parametrize("kind", LEDGERS)
@pytest.mark.django_db(transaction=True)
def test_a_server_refusing_for_a_while_is_tried_again_with_backoff_then_each_e_mail_sent_once(
    kind, redis_broker, mailbox, settings
):
    settings.MAIL_RETRY_BACKOFF = 1
    mailbox.refuse("451 4.7.1 Greylisted, try again later", times=2)

    addresses = recorded(kind, 2)
    with embedded_worker():
        wait_until(lambda: none_pending(kind), timeout=15, what="all e-mails sent")

    assert mailbox.refused == [addresses[0]] * 2
    assert sorted(message["To"] for message in mailbox.messages) == sorted(addresses)
    assert [entry.state for entry in entries(kind)] == [LEDGERS[kind].sent] * 2
    assert [error_of(entry) for entry in entries(kind)] == ["", ""]


@pytest.mark.parametrize("kind", LEDGERS)
@pytest.mark.django_db
def test_a_refusal_for_good_fails_the_entry_alone_with_the_servers_answer(
    kind, mailbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        refused, accepted = recorded(kind, 2)
    mailbox.refuse("550 5.1.1 No such user here", to=refused)

    retry = mailing.mail_batch_send(
        ledger=LEDGERS[kind], entry_ids=[entry.pk for entry in entries(kind)]
    )

    assert retry == []
    failed, sent = entries(kind)
    assert failed.state == "failed" and failed.sent_at is None
    assert "550" in error_of(failed) and "No such user here" in error_of(failed)
    assert sent.state == LEDGERS[kind].sent
    assert [message["To"] for message in mailbox.messages] == [accepted]
    # Sent again later (a task redelivered), neither changes.
    assert mailing.mail_batch_send(ledger=LEDGERS[kind], entry_ids=[failed.pk, sent.pk]) == []
    assert [entry.state for entry in entries(kind)] == ["failed", LEDGERS[kind].sent]
    assert len(mailbox.messages) == 1


@pytest.mark.parametrize("kind", LEDGERS)
@pytest.mark.django_db(transaction=True)
def test_a_batch_lost_with_the_broker_is_queued_again_and_sent_once(kind, redis_broker, mailbox):
    lost_address, _waiting = recorded(kind, 2)
    celery_app.control.purge()  # the broker emptied: both tasks lost
    lost, waiting = entries(kind)
    now = timezone.now()
    model = LEDGERS[kind].model
    model.objects.filter(pk=lost.pk).update(queued_at=now - dt.timedelta(hours=2, minutes=1))
    model.objects.filter(pk=waiting.pk).update(queued_at=now - dt.timedelta(hours=1))

    again = mailing.mail_requeue(ledger=LEDGERS[kind], entries=model.objects.all(), now=now)
    with embedded_worker():
        mailing.mail_queue(ledger=LEDGERS[kind], entry_ids=again)
        mailbox.wait_for(1)
        wait_until(
            lambda: model.objects.get(pk=lost.pk).state == LEDGERS[kind].sent,
            timeout=10,
            what="the lost entry sent",
        )
        assert health_check.delay().get(timeout=10)["status"] == "pong"

    assert again == [lost.pk]
    assert [message["To"] for message in mailbox.messages] == [lost_address]
    waiting.refresh_from_db()
    # Still within its time in the queue: the next pass leaves it to its task.
    assert waiting.state == LEDGERS[kind].pending
    assert waiting.queued_at < now
    # Once its time is out, it is queued again too, and nothing else.
    later = now + dt.timedelta(hours=1, minutes=1)
    assert mailing.mail_requeue(ledger=LEDGERS[kind], entries=model.objects.all(), now=later) == [
        waiting.pk
    ]


# --- The invoice e-mails, one entry per recipient -----------------------------------------------


@pytest.mark.django_db
def test_an_invoice_e_mail_refused_for_a_while_to_one_contact_goes_once_to_each(mailbox):
    term = unpaid_term()
    first = contact(term, "camille@garonne.example")
    greylisting = contact(term, "compta@garonne.example", role=ContactRole.BILLING)
    invoice = invoice_issue(term=term, on=ISSUED)
    mailbox.refuse("451 4.7.1 Greylisted, try again later", to=greylisting.email)

    with pytest.raises(smtplib.SMTPDataError):  # the task retries with backoff
        invoice_notice_send(invoice=invoice)

    assert [message["To"] for message in mailbox.messages] == [first.email]
    ledger = {mail.email: mail for mail in Mail.objects.all()}
    assert ledger[first.email].state == MailState.SENT
    assert ledger[greylisting.email].state == MailState.PENDING
    assert "451" in ledger[greylisting.email].error
    invoice.refresh_from_db()
    assert invoice.notice_sent_at == ledger[first.email].sent_at

    assert invoice_notice_send(invoice=invoice) is True  # the retry
    assert invoice_notice_send(invoice=invoice) is False  # and a task delivered twice

    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        [first.email, greylisting.email]
    )
    assert set(Mail.objects.values_list("state", "attempts")) == {
        (MailState.SENT, 1),
        (MailState.SENT, 2),
    }
    # A contact added afterwards does not make the invoice go out again.
    contact(term, "nouveau@garonne.example")
    assert invoice_notice_send(invoice=invoice) is False
    assert len(mailbox.messages) == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("after_the_invoices")
def test_the_migration_keeps_the_invoice_e_mails_sent_before_it_from_going_again(mailbox):
    sent_before = invoice_issue(term=unpaid_term(), on=ISSUED)
    contact(sent_before.term, "camille@garonne.example")
    notice_sent, confirmation_sent = timezone.now() - dt.timedelta(days=9), timezone.now()
    Invoice.objects.filter(pk=sent_before.pk).update(
        notice_sent_at=notice_sent, confirmation_sent_at=confirmation_sent
    )
    invoice_payment_record(
        invoice=sent_before, amount=sent_before.amount, received_on=ISSUED
    )  # paid: its confirmation would be due
    not_yet = invoice_issue(term=unpaid_term(), on=ISSUED)
    contact(not_yet.term, "dev@autre.example")
    migration = importlib.import_module("members.migrations.0013_mail_ledger")

    migration.invoice_dates_to_mails(apps, None)
    migration.invoice_dates_to_mails(apps, None)  # run again: nothing twice either

    assert sorted(Mail.objects.values_list("purpose", "object_id", "state", "sent_at")) == sorted(
        [
            (MailPurpose.INVOICE_NOTICE, sent_before.pk, MailState.SENT, notice_sent),
            (MailPurpose.INVOICE_CONFIRMATION, sent_before.pk, MailState.SENT, confirmation_sent),
        ]
    )
    assert invoice_notice_send(invoice=sent_before) is False
    assert invoice_confirmation_send(invoice=sent_before) is False
    assert mailbox.messages == []
    assert invoice_notice_send(invoice=not_yet) is True
    assert [message["To"] for message in mailbox.messages] == ["dev@autre.example"]


@pytest.mark.django_db(transaction=True)
def test_an_invoice_e_mail_whose_retries_ran_out_goes_with_the_hourly_pass_once(
    redis_broker, mailbox
):
    term = unpaid_term()
    first = contact(term, "camille@garonne.example")
    refused = contact(term, "compta@garonne.example", role=ContactRole.BILLING)
    invoice = invoice_issue(term=term, on=ISSUED)
    mailbox.refuse("451 4.7.1 Greylisted, try again later", to=refused.email)
    with pytest.raises(smtplib.SMTPDataError):  # its task's last try: nobody sends it again
        invoice_notice_send(invoice=invoice)
    celery_app.control.purge()
    later = timezone.now() + mailing.REQUEUE_AFTER + dt.timedelta(minutes=1)

    assert mailing.mails_requeue(now=timezone.now()) == []  # its task may still be retrying
    with embedded_worker():
        again = mailing.mails_requeue(now=later)
        wait_until(
            lambda: Mail.objects.get(email=refused.email).state == MailState.SENT,
            timeout=10,
            what="the e-mail sent by the pass",
        )
        assert mailing.mails_requeue(now=later + mailing.REQUEUE_AFTER * 2) == []

    assert again == [Mail.objects.get(email=refused.email).pk]
    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        [first.email, refused.email]
    )
    assert "members.tasks.mails_pass" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
