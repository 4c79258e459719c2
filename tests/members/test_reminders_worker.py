"""Reminders through the real machinery: a Celery worker on the real Redis broker, sending to a
real local SMTP server (aiosmtpd in this process). Each reminder reaches its contacts once; a
worker killed with SIGKILL in the middle of a batch loses none and sends at most the one in
flight twice; SMTP failures retry, then show in the ledger; reminders no longer needed when the
worker reaches them are cancelled; beat runs the pass every morning at 08:00, Paris time.

The sending rules themselves, without worker, are in test_reminders_send.py.
"""

import datetime as dt
import re
import socket
import zoneinfo
from collections import Counter

import pytest
import time_machine
from django.conf import settings

from cluster.celery import app as celery_app
from cluster.tasks import health_check
from members.models import (
    ContactRole,
    Membership,
    Reminder,
    ReminderPolicy,
    ReminderReason,
    ReminderState,
    Term,
)
from members.services.reminders import reminders_schedule
from members.services.renewals import renewal_link_read
from members.tasks import MAIL_RETRY, reminders_pass, reminders_send
from members.texts import text_render
from tests.factories import ContactFactory, TermFactory
from tests.workers import embedded_worker, wait_until, worker_killed_mid_batch

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
DAY = dt.date(2026, 12, 1)  # J−30 of the terms ending on 31 December 2026
SENDER = "DigitalPlace <adhesions@digitalplace.example>"


def due_term(**membership) -> Term:
    """A DigitalPlace membership whose latest term ends on 31 December 2026: due for its J−30
    reminder on :data:`DAY`."""
    return TermFactory(
        year=2026, **{f"membership__{name}": value for name, value in membership.items()}
    )


def member_with_contact(**contact):
    return ContactFactory(organisation=due_term().membership.organisation, **contact)


def none_pending() -> bool:
    return not Reminder.objects.filter(state=ReminderState.PENDING).exists()


def states() -> Counter:
    return Counter(Reminder.objects.values_list("state", flat=True))


def renewal_token(message) -> str:
    return re.search(r"/renouveler/([^/\s]+)/", message.get_body(("plain",)).get_content())[1]


# --- Delivery -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_each_reminder_once_to_each_contact_in_its_language(
    redis_broker, mailbox
):
    ReminderPolicy.objects.filter(cluster__slug="digitalplace").update(sender=SENDER)
    english = member_with_contact(language="en")
    organisation_term = due_term()
    organisation = organisation_term.membership.organisation
    primary = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    billing = ContactFactory(organisation=organisation, role=ContactRole.BILLING)
    colleague = ContactFactory(organisation=organisation, role=ContactRole.MEMBER)
    plain = member_with_contact(role=ContactRole.MEMBER)
    terms = {contact.email: contact.organisation.memberships.get().terms.get()
             for contact in (english, primary, billing, plain)}  # fmt: skip

    first = reminders_schedule(today=DAY)

    assert (first.due, first.scheduled, first.already_sent) == (3, 3, 0)
    with embedded_worker():
        mailbox.wait_for(4)
        wait_until(none_pending, timeout=10, what="the ledger records the sending")

        # The same day, beat's pass (run by the worker, at 08:00 Paris time) and a task
        # delivered a second time, then a round trip through the same queue: nothing more.
        with time_machine.travel(dt.datetime(2026, 12, 1, 8, tzinfo=PARIS), tick=True):
            second = reminders_pass.delay().get(timeout=10)
        reminders_send.delay(list(Reminder.objects.values_list("pk", flat=True)))
        assert health_check.delay().get(timeout=10)["status"] == "pong"

    assert second == {"today": "2026-12-01", "due": 3, "scheduled": 0, "already_sent": 3}
    assert len(mailbox.messages) == 4
    assert len({message["X-Peer"] for message in mailbox.messages}) == 1, "one SMTP connection"
    assert mailbox.to(colleague.email) == []
    for address, term in terms.items():
        [message] = mailbox.to(address)
        assert message["From"] == SENDER
        assert message["To"] == address
        assert message.get_body(("plain",)) and message.get_body(("html",))
        assert renewal_link_read(token=renewal_token(message)) == (term.pk, address)
        html = message.get_body(("html",)).get_content()
        assert f"/renouveler/{renewal_token(message)}/" in html
    [in_english] = mailbox.to(english.email)
    assert in_english["Subject"].strip() == "Your DigitalPlace membership ends on December 31, 2026"
    assert in_english["Content-Language"] == "en"
    for address in (primary.email, billing.email, plain.email):
        [in_french] = mailbox.to(address)
        assert in_french["Subject"].strip() == (
            "Votre adhésion à DigitalPlace se termine le 31 décembre 2026"
        )
        assert in_french["Content-Language"] == "fr"
    ledger = {reminder.term_id: reminder for reminder in Reminder.objects.all()}
    assert {reminder.state for reminder in ledger.values()} == {ReminderState.SENT}
    assert {reminder.attempts for reminder in ledger.values()} == {1}
    assert sorted(ledger[organisation_term.pk].recipients) == sorted([primary.email, billing.email])
    assert ledger[terms[english.email].pk].recipients == [english.email]
    assert ledger[terms[plain.email].pk].recipients == [plain.email]


# --- A worker killed in the middle of a batch ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_resends_at_most_the_one_in_flight(
    postgresql, redis_broker, mailbox, tmp_path
):
    mailbox.delay = 0.2  # 25 reminders take 5 s
    contacts = [member_with_contact() for _ in range(25)]

    def queue() -> None:
        assert reminders_schedule(today=DAY).scheduled == 25  # one task, one batch

    run = worker_killed_mid_batch(
        redis_broker=redis_broker,
        mailbox=mailbox,
        tmp_path=tmp_path,
        queue=queue,
        states=states,
        done=none_pending,
        what="all reminders sent",
    )

    assert 3 <= run.received_before < 25
    assert run.at_kill[ReminderState.PENDING] > 0
    assert run.at_kill[ReminderState.SENT] in (run.received_before - 1, run.received_before)
    assert states() == {ReminderState.SENT: 25}
    assert set(run.received) == {contact.email for contact in contacts}
    assert run.twice <= 1, "more than the one in flight sent twice"


# --- SMTP failures ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_temporary_smtp_refusal_is_retried_with_backoff_and_each_reminder_sent_once(
    redis_broker, mailbox, settings
):
    settings.MAIL_RETRY_BACKOFF = 1
    contacts = [member_with_contact() for _ in range(3)]
    mailbox.refuse("451 4.3.0 Try again later", times=2)

    reminders_schedule(today=DAY)
    with embedded_worker():
        wait_until(none_pending, timeout=15, what="all reminders sent")

    assert mailbox.refused == [contacts[0].email] * 2
    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        contact.email for contact in contacts
    )
    ledger = Reminder.objects.order_by("pk")
    assert [reminder.state for reminder in ledger] == [ReminderState.SENT] * 3
    assert [reminder.attempts for reminder in ledger] == [3, 1, 1]
    assert [reminder.detail for reminder in ledger] == [""] * 3


@pytest.mark.django_db(transaction=True)
def test_a_contact_refused_for_a_while_does_not_make_the_others_receive_the_reminder_twice(
    redis_broker, mailbox, settings
):
    settings.MAIL_RETRY_BACKOFF = 1
    organisation = due_term().membership.organisation
    primary = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    billing = ContactFactory(organisation=organisation, role=ContactRole.BILLING)
    mailbox.refuse("451 4.7.1 Greylisted, try again later", to=billing.email)

    reminders_schedule(today=DAY)
    with embedded_worker():
        wait_until(none_pending, timeout=15, what="the reminder sent")

    assert mailbox.refused == [billing.email]
    assert len(mailbox.to(primary.email)) == 1
    assert len(mailbox.to(billing.email)) == 1
    reminder = Reminder.objects.get()
    assert (reminder.state, reminder.attempts) == (ReminderState.SENT, 2)
    assert sorted(reminder.recipients) == sorted([primary.email, billing.email])


@pytest.mark.django_db(transaction=True)
def test_a_permanent_smtp_refusal_fails_the_reminder_at_once_with_the_servers_answer(
    redis_broker, mailbox
):
    refused = member_with_contact()
    accepted = member_with_contact()
    mailbox.refuse("550 5.1.1 No such user here", to=refused.email)

    reminders_schedule(today=DAY)
    with embedded_worker():
        wait_until(none_pending, timeout=10, what="both reminders done")

    failed, sent = Reminder.objects.order_by("pk")
    assert (failed.state, failed.reason, failed.attempts) == (
        ReminderState.FAILED,
        ReminderReason.SMTP_ERROR,
        1,
    )
    detail = text_render(failed.detail)
    assert detail.startswith("Erreur du serveur d’envoi : ")
    assert "550" in detail and "No such user here" in detail
    assert failed.get_reason_display() == "Erreur du serveur d’envoi"
    assert sent.state == ReminderState.SENT
    assert mailbox.refused == [refused.email]
    assert [message["To"] for message in mailbox.messages] == [accepted.email]


@pytest.mark.django_db(transaction=True)
def test_an_smtp_server_down_past_the_last_retry_fails_the_reminders_with_the_error(
    redis_broker, settings
):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        settings.EMAIL_PORT = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.MAIL_RETRY_BACKOFF = 0  # every retry at once
    member_with_contact()
    member_with_contact()

    reminders_schedule(today=DAY)
    with embedded_worker():
        wait_until(none_pending, timeout=15, what="the retries exhausted")

    first, second = Reminder.objects.order_by("pk")
    # The batch stops at its first entry until the last try, which tries them all.
    assert (first.attempts, second.attempts) == (MAIL_RETRY["max_retries"] + 1, 1)
    for reminder in (first, second):
        assert (reminder.state, reminder.reason) == (
            ReminderState.FAILED,
            ReminderReason.SMTP_ERROR,
        )
        assert reminder.detail["params"]["error"].startswith("ConnectionRefusedError:")


# --- Reminders no longer needed ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_queued_reminder_is_cancelled_once_its_membership_is_renewed_cancelled_or_transferred(
    redis_broker, mailbox
):
    renewed, cancelled, transferred, still_due = (member_with_contact() for _ in range(4))
    reminders_schedule(today=DAY)

    # Before the worker gets to them:
    TermFactory(membership=renewed.organisation.memberships.get(), year=2027, is_paid=False)
    Membership.objects.filter(organisation=cancelled.organisation).update(
        cancelled_on=dt.date(2026, 12, 31)
    )
    Membership.objects.filter(organisation=transferred.organisation).update(
        transferred_on=dt.date(2027, 1, 1)
    )
    with embedded_worker():
        wait_until(none_pending, timeout=10, what="all reminders done")

    assert [message["To"] for message in mailbox.messages] == [still_due.email]
    assert list(Reminder.objects.order_by("pk").values_list("state", "reason", "recipients")) == [
        (ReminderState.CANCELLED, ReminderReason.RENEWED, []),
        (ReminderState.CANCELLED, ReminderReason.MEMBERSHIP_CANCELLED, []),
        (ReminderState.CANCELLED, ReminderReason.TRANSFERRED, []),
        (ReminderState.SENT, "", [still_due.email]),
    ]


# --- The daily pass -----------------------------------------------------------------------------


def test_the_reminder_pass_is_a_registered_task_in_beats_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["reminders-daily"]
    celery_app.loader.import_default_modules()

    assert entry["task"] == "members.tasks.reminders_pass"
    assert entry["task"] in celery_app.tasks
    assert celery_app.conf.timezone == "Europe/Paris"


@pytest.mark.parametrize("day", [dt.date(2026, 12, 1), dt.date(2026, 6, 1)])  # winter, summer
def test_beat_runs_the_reminder_pass_at_8_paris_time(day):
    schedule = settings.CELERY_BEAT_SCHEDULE["reminders-daily"]["schedule"]
    last_run = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8), tzinfo=PARIS)

    with time_machine.travel(dt.datetime.combine(day, dt.time(7, 59), tzinfo=PARIS), tick=False):
        assert schedule.remaining_estimate(last_run) == dt.timedelta(minutes=1)
        assert schedule.is_due(last_run) == (False, 60)
    with time_machine.travel(dt.datetime.combine(day, dt.time(8), tzinfo=PARIS), tick=False):
        due, next_in = schedule.is_due(last_run)
        assert (due, next_in) == (True, 24 * 3600)
