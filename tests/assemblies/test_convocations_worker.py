"""Convocations and reminders through the real machinery: a Celery worker on the real Redis
broker, sending to a real local SMTP server. Convening queues the convocations once committed
and a worker delivers each once, however often beat's pass runs after it; a worker killed with
SIGKILL in the middle of a batch loses none and sends at most the one in flight twice; beat runs
the reminders' pass every morning at 08:20, Paris time.

The rules themselves, without worker, are in test_convocations.py.
"""

import datetime as dt
from collections import Counter

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from assemblies.models import AssemblyMail, AssemblyMailKind, AssemblyMailState
from assemblies.services import assembly_convene
from assemblies.tasks import assembly_mails_send, assembly_reminders_pass
from cluster.celery import app as celery_app
from cluster.tasks import health_check
from members.models import Contact
from tests.assemblies.helpers import PARIS, assembly_draft, member_in_good_standing
from tests.workers import embedded_worker, wait_until, worker_killed_mid_batch


def none_pending() -> bool:
    return not AssemblyMail.objects.filter(state=AssemblyMailState.PENDING).exists()


def states() -> Counter:
    return Counter(AssemblyMail.objects.values_list("state", flat=True))


def voter_emails() -> list[str]:
    return sorted(Contact.objects.values_list("email", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_each_convocation_once_and_the_reminders_when_due(redis_broker, mailbox):
    [member_in_good_standing() for _ in range(3)]
    assembly = assembly_draft()
    day = timezone.localdate(assembly.starts_at)

    assembly_convene(assembly=assembly, by=None)  # queued once committed
    with embedded_worker():
        mailbox.wait_for(3)
        wait_until(none_pending, timeout=10, what="the ledger records the sending")
        # Beat's pass the same day (no step due), a batch delivered a second time, J-7's pass
        # twice: each voter gets its convocation and one reminder.
        assert assembly_reminders_pass.delay().get(timeout=10)["scheduled"] == 0
        assembly_mails_send.delay(list(AssemblyMail.objects.values_list("pk", flat=True)))
        at_j7 = dt.datetime.combine(day - dt.timedelta(days=7), dt.time(8, 20), tzinfo=PARIS)
        with time_machine.travel(at_j7, tick=True):
            first = assembly_reminders_pass.delay().get(timeout=10)
            second = assembly_reminders_pass.delay().get(timeout=10)
        mailbox.wait_for(6)
        wait_until(none_pending, timeout=10, what="the reminders sent")
        assert health_check.delay().get(timeout=10)["status"] == "pong"

    assert (first["scheduled"], second["scheduled"]) == (3, 0)
    received = Counter((m["X-Envelope-To"], m["Subject"].split()[0]) for m in mailbox.messages)
    assert received == {
        (email, word): 1 for email in voter_emails() for word in ("Convocation", "Rappel")
    }
    assert states() == {AssemblyMailState.SENT: 6}


# --- A worker killed in the middle of a batch ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_loses_no_convocation_and_resends_at_most_the_one_in_flight(
    postgresql, redis_broker, mailbox, tmp_path
):
    mailbox.delay = 0.2  # 25 convocations take 5 s
    for _ in range(25):
        member_in_good_standing()
    assembly = assembly_draft()

    def queue() -> None:
        assembly_convene(assembly=assembly, by=None)  # one task, one batch of 25

    run = worker_killed_mid_batch(
        redis_broker=redis_broker,
        mailbox=mailbox,
        tmp_path=tmp_path,
        queue=queue,
        states=states,
        done=none_pending,
        what="all convocations sent",
    )

    assert 3 <= run.received_before < 25
    assert run.at_kill[AssemblyMailState.PENDING] > 0
    assert run.at_kill[AssemblyMailState.SENT] in (run.received_before - 1, run.received_before)
    assert states() == {AssemblyMailState.SENT: 25}
    assert AssemblyMail.objects.filter(kind=AssemblyMailKind.CONVOCATION).count() == 25
    assert set(run.received) == set(voter_emails())
    assert run.twice <= 1, "more than the one in flight sent twice"


# --- The daily pass -----------------------------------------------------------------------------


def test_the_reminders_pass_is_a_registered_task_in_beats_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["assembly-reminders-daily"]
    celery_app.loader.import_default_modules()

    assert entry["task"] == "assemblies.tasks.assembly_reminders_pass"
    assert entry["task"] in celery_app.tasks
    assert "assemblies.tasks.assembly_mails_send" in celery_app.tasks


@pytest.mark.parametrize("day", [dt.date(2027, 1, 15), dt.date(2027, 6, 15)])  # winter, summer
def test_beat_runs_the_reminders_pass_at_8_20_paris_time(day):
    schedule = settings.CELERY_BEAT_SCHEDULE["assembly-reminders-daily"]["schedule"]
    last_run = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(8, 20), tzinfo=PARIS)

    with time_machine.travel(dt.datetime.combine(day, dt.time(8, 19), tzinfo=PARIS), tick=False):
        assert schedule.is_due(last_run) == (False, 60)
    with time_machine.travel(dt.datetime.combine(day, dt.time(8, 20), tzinfo=PARIS), tick=False):
        assert schedule.is_due(last_run) == (True, 24 * 3600)
