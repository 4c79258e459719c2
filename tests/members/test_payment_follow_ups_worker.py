"""Payment follow-ups through the real machinery: a Celery worker on the real Redis broker,
sending to a real local SMTP server. Each follow-up reaches its contact once, however often the
pass runs; a worker killed with SIGKILL in the middle of a batch loses none and sends at most
the one in flight twice; an entry whose invoice is paid before the worker reaches it is not
sent; beat runs the pass every morning at 08:10, Paris time.

The rules themselves, without worker, are in test_payment_follow_ups.py.
"""

import datetime as dt
import zoneinfo
from collections import Counter
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings

from cluster.celery import app as celery_app
from cluster.tasks import health_check
from members.models import (
    Invoice,
    PaymentFollowUp,
    PaymentFollowUpReason,
    PaymentFollowUpState,
)
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.follow_ups import payment_follow_ups_schedule
from members.tasks import payment_follow_ups_pass, payment_follow_ups_send
from tests.members.billing_helpers import ISSUED, contact, legal_details, unpaid_term
from tests.workers import embedded_worker, wait_until, worker_killed_mid_batch

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
J15 = dt.date(2027, 4, 15)  # 15 days after the due date of an invoice issued on ISSUED


def unpaid_invoice(email: str) -> Invoice:
    """A DigitalPlace invoice issued on ISSUED, unpaid, with one contact at ``email``."""
    legal_details()
    term = unpaid_term()
    contact(term, email)
    return invoice_issue(term=term, on=ISSUED)


def none_pending() -> bool:
    return not PaymentFollowUp.objects.filter(state=PaymentFollowUpState.PENDING).exists()


def states() -> Counter:
    return Counter(PaymentFollowUp.objects.values_list("state", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_each_follow_up_once_however_often_the_pass_runs(redis_broker, mailbox):
    invoices = [unpaid_invoice(f"c{index}@acme.example") for index in range(3)]

    assert payment_follow_ups_schedule(today=J15).scheduled == 3
    with embedded_worker():
        mailbox.wait_for(3)
        wait_until(none_pending, timeout=10, what="the ledger records the sending")
        # Beat's pass the same day (run by the worker, at 08:10 Paris time), and a batch
        # delivered a second time, then a round trip through the same queue: nothing more.
        with time_machine.travel(dt.datetime(2027, 4, 15, 8, 10, tzinfo=PARIS), tick=True):
            second = payment_follow_ups_pass.delay().get(timeout=10)
        payment_follow_ups_send.delay(list(PaymentFollowUp.objects.values_list("pk", flat=True)))
        assert health_check.delay().get(timeout=10)["status"] == "pong"

    assert second == {
        "today": "2027-04-15",
        "due": 3,
        "scheduled": 0,
        "already_sent": 3,
        "emails": 0,
    }
    assert sorted(message["To"] for message in mailbox.messages) == [
        "c0@acme.example",
        "c1@acme.example",
        "c2@acme.example",
    ]
    assert len({message["X-Peer"] for message in mailbox.messages}) == 1, "one SMTP connection"
    assert states() == {PaymentFollowUpState.SENT: 3}
    for invoice in invoices:
        [message] = mailbox.to(invoice.follow_ups.get().email)
        assert invoice.number in message["Subject"]


@pytest.mark.django_db(transaction=True)
def test_an_entry_whose_invoice_is_paid_before_the_worker_reaches_it_is_not_sent(
    redis_broker, mailbox, time_machine
):
    time_machine.move_to(dt.datetime(2027, 6, 1, 12, tzinfo=PARIS), tick=True)
    paid = unpaid_invoice("paid@acme.example")
    unpaid_invoice("due@acme.example")
    payment_follow_ups_schedule(today=J15)  # queued after its commit, nobody runs it yet
    invoice_payment_record(invoice=paid, amount=Decimal("300.00"), received_on=J15)

    with embedded_worker():
        wait_until(none_pending, timeout=10, what="both entries done")

    follow_ups = [message for message in mailbox.messages if "relance" in message["Subject"]
                  or "paiement en attente" in message["Subject"]]  # fmt: skip
    assert [message["To"] for message in follow_ups] == ["due@acme.example"]
    assert list(PaymentFollowUp.objects.order_by("pk").values_list("email", "state", "reason")) == [
        ("paid@acme.example", PaymentFollowUpState.CANCELLED, PaymentFollowUpReason.PAID),
        ("due@acme.example", PaymentFollowUpState.SENT, ""),
    ]


# --- A worker killed in the middle of a batch ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_nothing_and_resends_at_most_the_one_in_flight(
    postgresql, redis_broker, mailbox, tmp_path
):
    mailbox.delay = 0.2  # 25 follow-ups take 5 s
    emails = [f"c{index}@acme.example" for index in range(25)]
    for email in emails:
        unpaid_invoice(email)

    def queue() -> None:
        assert payment_follow_ups_schedule(today=J15).emails == 25  # one task, one batch

    run = worker_killed_mid_batch(
        redis_broker=redis_broker,
        mailbox=mailbox,
        tmp_path=tmp_path,
        queue=queue,
        states=states,
        done=none_pending,
        what="all follow-ups sent",
    )

    assert 3 <= run.received_before < 25
    assert run.at_kill[PaymentFollowUpState.PENDING] > 0
    assert run.at_kill[PaymentFollowUpState.SENT] in (run.received_before - 1, run.received_before)
    assert states() == {PaymentFollowUpState.SENT: 25}
    assert set(run.received) == set(emails)
    assert run.twice <= 1, "more than the one in flight sent twice"


# --- The daily pass -----------------------------------------------------------------------------


def test_the_follow_up_pass_is_a_registered_task_in_beats_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["payment-follow-ups-daily"]
    celery_app.loader.import_default_modules()

    assert entry["task"] == "members.tasks.payment_follow_ups_pass"
    assert entry["task"] in celery_app.tasks
    assert "members.tasks.payment_follow_ups_send" in celery_app.tasks


@pytest.mark.parametrize("day", [dt.date(2027, 1, 15), dt.date(2027, 6, 15)])  # winter, summer
def test_beat_runs_the_follow_up_pass_at_8_10_paris_time(day):
    schedule = settings.CELERY_BEAT_SCHEDULE["payment-follow-ups-daily"]["schedule"]
    last_run = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8, 10), tzinfo=PARIS)

    with time_machine.travel(dt.datetime.combine(day, dt.time(8, 9), tzinfo=PARIS), tick=False):
        assert schedule.is_due(last_run) == (False, 60)
    with time_machine.travel(dt.datetime.combine(day, dt.time(8, 10), tzinfo=PARIS), tick=False):
        assert schedule.is_due(last_run) == (True, 24 * 3600)
