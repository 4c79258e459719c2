"""The reminder pass: which reminder is due on which day, recorded once, and the command that runs
it. Dates are those of a calendar-year term ending on 31 December 2026, with the default policy
(J−30, J−7, J, J+15; seven days of lateness at most)."""

import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Reminder, ReminderPolicy, ReminderStep
from members.services.reminders import reminders_schedule
from tests.factories import ContactFactory, TermFactory, cluster
from tests.test_settings import run_django

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def member(slug: str = "digitalplace", *, year: int = 2026, **membership):
    """A member of ``slug`` whose latest term is the calendar year ``year``, with a contact."""
    term = TermFactory(
        membership__cluster=cluster(slug),
        year=year,
        **{f"membership__{name}": value for name, value in membership.items()},
    )
    ContactFactory(organisation=term.membership.organisation, role="primary")
    return term


def recorded(term) -> list[tuple[int, dt.date, dt.date]]:
    """(offset, due on, scheduled on) of ``term``'s ledger entries, oldest first."""
    return list(
        Reminder.objects.filter(term=term)
        .order_by("due_on")
        .values_list("offset_days", "due_on", "scheduled_on")
    )


# --- Which reminder is due, day by day ----------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "offset"),
    [
        ("2026-11-30", None),  # J−31
        ("2026-12-01", -30),
        ("2026-12-08", -30),  # seven days late: still sent
        ("2026-12-09", None),  # eight days late: too late, and J−7 is not due yet
        ("2026-12-23", None),
        ("2026-12-24", -7),
        ("2026-12-30", -7),
        ("2026-12-31", 0),  # the term's last day
        ("2027-01-07", 0),
        ("2027-01-08", None),
        ("2027-01-14", None),
        ("2027-01-15", 15),
        ("2027-01-22", 15),
        ("2027-01-23", None),
        ("2029-06-01", None),  # lapsed long ago: never written to
    ],
)
def test_the_reminder_due_on_each_day_of_a_first_pass(today, offset):
    term = member()

    result = reminders_schedule(today=dt.date.fromisoformat(today))

    if offset is None:
        assert (result.due, result.scheduled) == (0, 0)
        assert recorded(term) == []
    else:
        assert (result.due, result.scheduled, result.already_sent) == (1, 1, 0)
        due_on = term.end_date + dt.timedelta(days=offset)
        assert recorded(term) == [(offset, due_on, dt.date.fromisoformat(today))]


def test_daily_passes_record_each_reminder_once_on_its_day():
    term = member()
    day = dt.date(2026, 11, 1)
    while day <= dt.date(2027, 3, 1):
        reminders_schedule(today=day)
        day += dt.timedelta(days=1)

    assert recorded(term) == [
        (-30, dt.date(2026, 12, 1), dt.date(2026, 12, 1)),
        (-7, dt.date(2026, 12, 24), dt.date(2026, 12, 24)),
        (0, dt.date(2026, 12, 31), dt.date(2026, 12, 31)),
        (15, dt.date(2027, 1, 15), dt.date(2027, 1, 15)),
    ]


def test_after_days_without_a_pass_only_the_most_recent_due_reminder_goes_out():
    term = member()
    reminders_schedule(today=dt.date(2026, 12, 1))

    # No pass from 2 December to 2 January: J−7 and J were missed, J is within its lateness.
    result = reminders_schedule(today=dt.date(2027, 1, 2))

    assert (result.due, result.scheduled) == (1, 1)
    assert [offset for offset, _due, _on in recorded(term)] == [-30, 0]


def test_a_missed_reminder_is_not_sent_after_a_later_one():
    term = member()
    reminders_schedule(today=dt.date(2026, 12, 31))  # J; J−30 and J−7 were never sent

    for day in range(1, 8):
        reminders_schedule(today=dt.date(2027, 1, day))

    assert [offset for offset, _due, _on in recorded(term)] == [0]


def test_the_lateness_is_the_policy_s():
    term = member()
    ReminderPolicy.objects.filter(cluster__slug="digitalplace").update(max_lateness_days=0)

    assert reminders_schedule(today=dt.date(2026, 12, 2)).due == 0
    assert reminders_schedule(today=dt.date(2026, 12, 24)).scheduled == 1
    assert [offset for offset, _due, _on in recorded(term)] == [-7]


def test_each_cluster_follows_its_own_policy():
    digitalplace, frenchsouth = member("digitalplace"), member("frenchsouth")
    policy = ReminderPolicy.objects.get(cluster__slug="frenchsouth")
    policy.steps.filter(offset_days=-30).update(offset_days=-45)

    reminders_schedule(today=dt.date(2026, 11, 16))  # J−45
    reminders_schedule(today=dt.date(2026, 12, 1))  # J−30

    assert [offset for offset, _due, _on in recorded(digitalplace)] == [-30]
    assert [offset for offset, _due, _on in recorded(frenchsouth)] == [-45]


# --- Who is reminded ----------------------------------------------------------------------------


@pytest.mark.parametrize("paid", [True, False])
def test_a_renewed_membership_is_not_reminded(paid):
    term = member()
    TermFactory(membership=term.membership, year=2027, is_paid=paid)

    result = reminders_schedule(today=dt.date(2026, 12, 1))

    assert result.due == 0
    assert not Reminder.objects.exists()


@pytest.mark.parametrize("field", ["cancelled_on", "transferred_on"])
@pytest.mark.parametrize("on", ["2026-06-30", "2027-06-30"])  # recorded past or to come
def test_a_cancelled_or_transferred_membership_is_not_reminded(field, on):
    term = member(**{field: dt.date.fromisoformat(on)})

    assert reminders_schedule(today=dt.date(2026, 12, 1)).due == 0
    assert recorded(term) == []


def test_a_cluster_whose_reminders_are_suspended_sends_none():
    member("digitalplace")
    frenchsouth = member("frenchsouth")
    ReminderPolicy.objects.filter(cluster__slug="digitalplace").update(is_active=False)

    result = reminders_schedule(today=dt.date(2026, 12, 1))

    assert (result.due, result.scheduled) == (1, 1)
    assert Reminder.objects.get().term == frenchsouth


def test_a_membership_ending_on_another_day_keeps_its_own_calendar():
    # An anniversary membership: its term ends on 14 March 2027.
    term = TermFactory(
        membership__cluster=cluster(),
        start_date=dt.date(2026, 3, 15),
        end_date=dt.date(2027, 3, 14),
    )

    assert reminders_schedule(today=dt.date(2026, 12, 1)).due == 0
    assert reminders_schedule(today=dt.date(2027, 2, 12)).scheduled == 1
    assert recorded(term) == [(-30, dt.date(2027, 2, 12), dt.date(2027, 2, 12))]


# --- Passes run twice, dry runs, the date of "today" --------------------------------------------


def test_two_passes_on_one_day_record_nothing_twice():
    terms = [member() for _ in range(3)]

    first = reminders_schedule(today=dt.date(2026, 12, 1))
    second = reminders_schedule(today=dt.date(2026, 12, 1))

    assert (first.due, first.scheduled, first.already_sent) == (3, 3, 0)
    assert (second.due, second.scheduled, second.already_sent) == (3, 0, 3)
    assert Reminder.objects.count() == 3
    assert {reminder.term for reminder in Reminder.objects.all()} == set(terms)


def test_the_next_day_s_pass_counts_yesterday_s_reminders_as_already_sent():
    member()
    reminders_schedule(today=dt.date(2026, 12, 1))
    member()  # joined the day after: nothing recorded for it yet

    result = reminders_schedule(today=dt.date(2026, 12, 2))

    assert (result.due, result.scheduled, result.already_sent) == (2, 1, 1)


def test_a_dry_run_counts_and_records_nothing():
    member()
    member()
    reminders_schedule(today=dt.date(2026, 12, 1))
    member()

    result = reminders_schedule(today=dt.date(2026, 12, 1), dry_run=True)

    assert (result.due, result.scheduled, result.already_sent) == (3, 1, 2)
    assert Reminder.objects.count() == 2


@pytest.mark.parametrize(
    ("utc", "paris_day", "due"),
    [
        ("2026-11-30T22:59:00", "2026-11-30", 0),  # 23:59 in Paris: still 30 November
        ("2026-11-30T23:00:00", "2026-12-01", 1),  # midnight in Paris: 1 December
    ],
)
def test_today_is_the_day_in_paris(utc, paris_day, due):
    member()

    with time_machine.travel(dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC), tick=False):
        result = reminders_schedule()

    assert (result.today.isoformat(), result.due) == (paris_day, due)


def test_the_pass_s_queries_do_not_grow_with_the_memberships():
    def queries_of_a_pass(day: dt.date) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            result = reminders_schedule(today=day)
        return result.scheduled, len(queries)

    for _ in range(3):
        member()
        member(year=2025)  # long lapsed: not due
    few = queries_of_a_pass(dt.date(2026, 12, 1))
    for _ in range(30):
        member()
        member(year=2025)
    many = queries_of_a_pass(dt.date(2026, 12, 24))

    assert (few[0], many[0]) == (3, 33)
    assert few[1] == many[1]


# --- The command --------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("send_reminders", *args, stdout=out)
    return out.getvalue()


def test_the_command_prints_the_pass_as_json():
    member()
    member()
    member(year=2025)

    first = json.loads(run("--today", "2026-12-01", "--json"))
    second = json.loads(run("--today", "2026-12-01", "--json"))

    assert first == {"today": "2026-12-01", "due": 2, "scheduled": 2, "already_sent": 0}
    assert second == {"today": "2026-12-01", "due": 2, "scheduled": 0, "already_sent": 2}


def test_the_command_s_dry_run_and_plain_report():
    member()

    dry = run("--today", "2026-12-01", "--dry-run")
    done = run("--today", "2026-12-01")

    assert "Simulation du 01/12/2026 : 1 relance(s) due(s), 1 à programmer" in dry
    assert "Passage du 01/12/2026 : 1 relance(s) due(s), 1 programmée(s)" in done
    assert Reminder.objects.count() == 1


def test_the_command_defaults_to_today_in_paris():
    member()

    with time_machine.travel(dt.datetime(2026, 12, 1, 8, 0, tzinfo=PARIS), tick=False):
        result = json.loads(run("--json"))

    assert result["today"] == "2026-12-01"
    assert result["scheduled"] == 1


@pytest.mark.parametrize("value", ["2026-13-01", "01/12/2026", "demain"])
def test_the_command_refuses_a_date_it_cannot_read(value):
    with pytest.raises(CommandError, match=f"Date invalide « {value} » : attendu AAAA-MM-JJ") as e:
        run("--today", value, "--json")

    assert e.value.returncode == 2
    assert not Reminder.objects.exists()


# --- The policy's texts -------------------------------------------------------------------------


def test_every_cluster_starts_with_the_default_policy():
    policies = ReminderPolicy.objects.order_by("cluster__slug")

    assert [policy.cluster.slug for policy in policies] == [
        "digitalplace",
        "frenchsouth",
        "grand-cluster",
    ]
    for policy in policies:
        assert policy.is_active and policy.max_lateness_days == 7
        assert list(policy.steps.values_list("offset_days", flat=True)) == [-30, -7, 0, 15]


def test_a_text_naming_an_unknown_placeholder_is_refused_with_its_name():
    step = ReminderStep.objects.filter(policy__cluster__slug="digitalplace").first()
    step.body_fr = "Bonjour {contact_name}, votre adhésion {adhesion} se termine le {end_date}."

    with pytest.raises(ValidationError) as raised:
        step.full_clean()

    assert "Variable inconnue : {adhesion}." in str(raised.value.message_dict["body_fr"])


def test_an_english_subject_needs_its_body():
    step = ReminderStep.objects.filter(policy__cluster__slug="digitalplace").first()
    step.body_en = ""

    with pytest.raises(ValidationError, match="l’objet et le message en anglais"):
        step.full_clean()


def test_a_sender_must_be_an_address():
    policy = ReminderPolicy.objects.get(cluster__slug="digitalplace")
    policy.sender = "DigitalPlace <adhesions>"

    with pytest.raises(ValidationError, match="n’est pas une adresse d’expéditeur valable"):
        policy.full_clean()

    policy.sender = "DigitalPlace <adhesions@digitalplace.fr>"
    policy.full_clean()


@pytest.mark.django_db(databases=[])
def test_without_a_reachable_broker_the_command_says_so_and_keeps_the_ledger(tmp_path):
    # A process of its own, on an SQLite database of its own, with a broker nobody listens to.
    variables = {
        "DJANGO_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "cluster.settings",
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",  # the discard port
    }
    create_a_member = "from tests.members.test_reminders import member; member()"
    for args in (
        ["manage.py", "migrate", "-v0"],
        ["manage.py", "shell", "-c", create_a_member],
    ):
        done = run_django(args, **variables)
        assert done.returncode == 0, done.stderr

    failed = run_django(["manage.py", "send_reminders", "--today", "2026-12-01"], **variables)
    ledger = run_django(
        ["manage.py", "shell", "-c", "from members.models import Reminder; "
         "print(list(Reminder.objects.values_list('state', flat=True)))"],
        **variables,
    )  # fmt: skip

    assert failed.returncode == 1
    assert "la file des tâches (Celery) est injoignable" in failed.stderr
    assert "Le prochain passage les remettra en file." in failed.stderr
    # Recorded, pending: a later pass queues it again.
    assert ledger.stdout.strip().splitlines()[-1] == "['pending']"

    # The broker is back (here kombu's filesystem transport, under DJANGO_VAR_DIR).
    del variables["CELERY_BROKER_URL"]
    again = run_django(["manage.py", "send_reminders", "--today", "2026-12-01"], **variables)
    assert again.returncode == 0, again.stderr
    assert "0 programmée(s), 1 déjà programmée(s)" in again.stdout
    assert "1 relance(s) d’un passage précédent, restée(s) en attente, remise(s) en file." in (
        again.stdout
    )
    assert len(list((tmp_path / "celery" / "queue").iterdir())) == 1


def test_a_pass_queues_again_what_waited_too_long_in_the_queue():
    member()
    member()
    reminders_schedule(today=dt.date(2026, 12, 1))
    lost, waiting = Reminder.objects.order_by("pk")
    now = timezone.now()
    Reminder.objects.filter(pk=lost.pk).update(queued_at=now - dt.timedelta(hours=2, minutes=1))
    Reminder.objects.filter(pk=waiting.pk).update(queued_at=now - dt.timedelta(hours=1))

    result = reminders_schedule(today=dt.date(2026, 12, 2))

    assert (result.scheduled, result.already_sent, result.requeued) == (0, 2, 1)
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.queued_at >= now
    assert waiting.queued_at < now
