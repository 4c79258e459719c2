"""The reminder pass from the admin: staff of a cluster see what their cluster's pass would send
today (the count by step and language, the memberships, paginated, each step's e-mail in French
and English with a real membership's values), send a test to themselves, then, confirmed, queue
the pass in Celery: the same pass as beat's, which sends each reminder once however often it is
started and whatever runs at the same time. Another cluster's pass is neither seen nor started."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cluster.celery import app as celery_app
from members.admin import reminders as reminders_admin
from members.models import ContactRole, Reminder, ReminderPolicy, ReminderState, ReminderStep
from members.services.reminders import reminders_schedule
from members.tasks import reminders_pass
from tests.factories import ContactFactory, TermFactory, UserFactory, cluster, staff_user

pytestmark = pytest.mark.django_db

PASS = reverse("admin:members_reminder_pass")
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(autouse=True)
def today(time_machine):
    # J−30 of the terms ending on 31 December 2026.
    time_machine.move_to(dt.datetime(2026, 12, 1, 10, tzinfo=PARIS), tick=False)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def due_member(slug: str = "digitalplace", *, name: str, number: str, contacts=()):
    """A member of ``slug`` whose latest term ends on 31 December 2026, with ``contacts``
    (role, language)."""
    term = TermFactory(
        membership__cluster=cluster(slug),
        membership__organisation__name=name,
        membership__member_number=number,
        year=2026,
    )
    for role, language in contacts:
        ContactFactory(organisation=term.membership.organisation, role=role, language=language)
    return term


@pytest.fixture
def members():
    """Three DigitalPlace members due for their J−30 reminder (two contacts to write to, one in
    French and one in English; one contact in French; nobody) and a FrenchSouth.digital one."""
    return [
        due_member(
            name="Ondine Vision",
            number="DP-0042",
            contacts=[
                (ContactRole.PRIMARY, "fr"),
                (ContactRole.BILLING, "en"),
                (ContactRole.MEMBER, "fr"),  # not written to
            ],
        ),
        due_member(name="Garonne Data", number="DP-0043", contacts=[(ContactRole.MEMBER, "fr")]),
        due_member(name="Sans Contact SARL", number="DP-0044"),
        due_member(
            "frenchsouth",
            name="Camargue Cloud",
            number="FS-0007",
            contacts=[(ContactRole.PRIMARY, "fr")],
        ),
    ]


def messages(response) -> str:
    return "\n".join(str(m) for m in get_messages(response.wsgi_request)).replace("\xa0", " ")


def text(response) -> str:
    return response.content.decode().replace("\xa0", " ").replace("&nbsp;", " ")


def step(slug: str = "digitalplace", offset: int = -30) -> ReminderStep:
    return ReminderStep.objects.get(policy__cluster__slug=slug, offset_days=offset)


# --- What a pass would send ---------------------------------------------------------------------


def test_staff_see_their_clusters_due_reminders_by_step_and_language(client, members):
    client.force_login(staff_user("digitalplace"))

    response = client.get(PASS)

    assert response.status_code == 200
    page = text(response)
    assert "Passage des relances de DigitalPlace" in page
    [row] = response.context["by_step"]
    assert (str(row.step), row.memberships, row.recorded, row.to_send) == ("J−30", 3, 0, 3)
    assert row.emails == {"fr": 2, "en": 1}
    assert row.without_contact == 1
    assert [count for count in response.context["count_rows"][0][1]] == [2, 1]
    assert "Lancer le passage (3 relances à envoyer)…" in page
    for name in ("Ondine Vision", "Garonne Data", "Sans Contact SARL"):
        assert name in page
    assert "Camargue Cloud" not in page and "FS-0007" not in page
    assert not Reminder.objects.exists(), "seeing writes nothing"


def test_each_steps_e_mail_shows_in_french_and_english_with_a_real_memberships_values(
    client, members
):
    client.force_login(staff_user("digitalplace"))

    page = text(client.get(PASS))

    assert "Votre adhésion à DigitalPlace se termine le 31 décembre 2026" in page
    assert "Your DigitalPlace membership ends on December 31, 2026" in page
    assert "Ondine Vision" in page.split("reminder-previews-title", 1)[1]
    assert "DP-0042" in page.split("reminder-previews-title", 1)[1]
    for offset in ("J−7", "J+15"):
        assert f"Relance {offset}" in page


def test_recorded_reminders_are_counted_apart_and_not_sent_again(client, members):
    reminders_schedule(cluster_ids=[cluster("digitalplace").pk])
    client.force_login(staff_user("digitalplace"))

    response = client.get(PASS)

    [row] = response.context["by_step"]
    assert (row.memberships, row.recorded, row.to_send, row.emails) == (3, 3, 0, {})
    assert "un passage n’enverrait rien" in text(response)
    assert "Déjà enregistrée" in text(response)


def test_the_list_of_memberships_is_paginated(client, members, monkeypatch):
    monkeypatch.setattr(reminders_admin, "PASS_PAGE_SIZE", 2)
    client.force_login(staff_user("digitalplace"))
    url = f"{PASS}?cluster={cluster('digitalplace').pk}"

    def listed(response) -> str:
        page = text(response)
        return page[page.index('id="reminder-pass-list"') : page.index("reminder-previews-title")]

    first = listed(client.get(url))
    second = listed(client.get(f"{url}&page=2"))
    beyond = client.get(f"{url}&page=9")

    assert "DP-0042" in first and "DP-0043" in first and "DP-0044" not in first
    assert "Page 1 sur 2" in first
    assert "DP-0044" in second and "DP-0042" not in second
    assert beyond.context["page"].number == 2


def test_a_test_goes_to_oneself_only_in_each_language_and_records_nothing(client, members, mailbox):
    staff = staff_user("digitalplace")
    client.force_login(staff)

    french = client.post(PASS, {"action": "test", "step": step().pk, "language": "fr"})
    english = client.post(PASS, {"action": "test", "step": step().pk, "language": "en"})

    assert french.status_code == english.status_code == 302
    assert f"envoyé à {staff.email}" in messages(french)
    sent = mailbox.wait_for(2)
    assert [message["To"] for message in sent] == [staff.email, staff.email]
    subjects = sorted(" ".join(message["Subject"].split()) for message in sent)
    assert subjects == [
        "[Essai] Votre adhésion à DigitalPlace se termine le 31 décembre 2026",
        "[Test] Your DigitalPlace membership ends on December 31, 2026",
    ]
    assert "Ondine Vision" in mailbox.text(sent[0])
    assert not Reminder.objects.exists()


def test_the_confirmation_says_how_many_e_mails_to_whom_and_that_it_cannot_be_undone(
    client, members
):
    client.force_login(staff_user("digitalplace"))

    page = text(client.get(f"{PASS}?cluster={cluster('digitalplace').pk}&confirm=1"))

    assert "3 relances vont être enregistrées dans le journal et envoyées par e-mail" in page
    assert "à 3 contacts des adhérents de DigitalPlace." in page
    assert "Un e-mail envoyé ne peut pas être repris." in page
    assert "1 adhésion n’a aucun contact à qui écrire" in page
    assert "Lancer le passage maintenant" in page
    assert not Reminder.objects.exists()


def test_the_page_in_english(client, members):
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    client.force_login(staff_user("digitalplace"))

    page = text(client.get(PASS))
    confirm = text(client.get(f"{PASS}?cluster={cluster('digitalplace').pk}&confirm=1"))

    assert "DigitalPlace reminder pass" in page
    assert "Start the pass (3 reminders to send)…" in page
    assert "An e-mail sent cannot be taken back." in confirm


# --- Starting it: once, and only one's own cluster's --------------------------------------------


def test_starting_the_pass_queues_the_clusters_pass_after_the_commit(
    client, members, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(reminders_pass, "delay", lambda **kwargs: queued.append(kwargs))
    client.force_login(staff_user("digitalplace"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PASS, {"action": "start"})

    assert response.status_code == 302
    assert response["Location"] == (
        reverse("admin:members_reminder_changelist")
        + f"?term__membership__cluster__id__exact={cluster('digitalplace').pk}"
    )
    assert "Passage des relances de DigitalPlace lancé" in messages(response)
    assert queued == [{"cluster_ids": [cluster("digitalplace").pk]}]


@pytest.mark.django_db(transaction=True)
def test_started_twice_while_beats_pass_runs_each_reminder_goes_once(
    client, members, redis_broker, mailbox
):
    """The proof of "exactly once": two clicks on the confirmation, and beat's pass, all run by
    a real worker on Redis: each contact gets its reminder once."""
    client.force_login(staff_user("digitalplace"))

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        first = client.post(PASS, {"action": "start"})
        second = client.post(PASS, {"action": "start"})
        beat = reminders_pass.delay()
        beat.get(timeout=20)
        # DigitalPlace: Ondine Vision's two contacts and Garonne Data's; FrenchSouth.digital
        # (beat's pass covers every cluster): Camargue Cloud's.
        mailbox.wait_for(4, timeout=20)
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while Reminder.objects.filter(state=ReminderState.PENDING).exists():
            assert dt.datetime.now() < deadline, "the ledger records the sending"

    assert first.status_code == second.status_code == 302
    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        {message["To"] for message in mailbox.messages}
    )
    assert len(mailbox.messages) == 4
    assert Reminder.objects.count() == 4
    assert Reminder.objects.filter(state=ReminderState.SENT).count() == 3
    assert Reminder.objects.get(state=ReminderState.FAILED).term == members[2]


@pytest.mark.django_db(transaction=True)
def test_a_clusters_pass_and_beats_pass_at_the_same_moment_record_each_reminder_once(
    members, postgresql
):
    dp = cluster("digitalplace").pk
    start = threading.Barrier(4)
    results, errors = [], []

    def run(cluster_ids):
        try:
            start.wait()
            results.append(reminders_schedule(cluster_ids=cluster_ids, dry_run=False))
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(ids,)) for ids in ([dp], [dp], None, None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Reminder.objects.count() == 4
    assert sum(result.scheduled for result in results) == 4


def test_staff_of_another_cluster_neither_see_nor_start_its_pass(client, members, monkeypatch):
    queued = []
    monkeypatch.setattr(reminders_pass, "delay", lambda **kwargs: queued.append(kwargs))
    client.force_login(staff_user("frenchsouth"))
    digitalplace = cluster("digitalplace").pk

    own = client.get(PASS)
    other = client.get(f"{PASS}?cluster={digitalplace}")
    posted = client.post(f"{PASS}?cluster={digitalplace}", {"action": "start"})
    tested = client.post(PASS, {"action": "test", "step": step().pk, "language": "fr"})

    assert own.status_code == 200
    assert "Camargue Cloud" in text(own) and "Ondine Vision" not in text(own)
    assert (other.status_code, posted.status_code, tested.status_code) == (404, 404, 404)
    assert queued == []


def test_a_superuser_chooses_the_cluster(client, members):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = text(client.get(f"{PASS}?cluster={cluster('frenchsouth').pk}"))

    assert "Passage des relances de FrenchSouth.digital" in page
    assert f'href="?cluster={cluster("digitalplace").pk}"' in page


def test_who_may_not_resend_reminders_gets_403(client, members, committee):
    client.force_login(committee)

    assert client.get(PASS).status_code == 403
    assert client.post(PASS, {"action": "start"}).status_code == 403


@pytest.mark.parametrize(
    "query",
    ["cluster=abc", "cluster=99999999999999999999", "page=abc", "page=0", "cluster=a%00b"],
)
def test_malformed_parameters_are_a_400_saying_which(client, members, query):
    client.force_login(staff_user("digitalplace"))

    response = client.get(f"{PASS}?{query}")

    assert response.status_code == 400
    assert "Paramètre « " + query.split("=")[0] + " » incorrect." in text(response)


@pytest.mark.parametrize(
    "data",
    [
        {"action": "launch"},
        {"action": "test", "step": "abc", "language": "fr"},
        {"action": "test", "step": "1", "language": "de"},
    ],
)
def test_malformed_posts_are_a_400(client, members, data):
    client.force_login(staff_user("digitalplace"))

    assert client.post(PASS, data).status_code == 400
    assert not Reminder.objects.exists()


def test_a_suspended_policy_says_so_and_has_nothing_to_send(client, members):
    ReminderPolicy.objects.filter(cluster__slug="digitalplace").update(is_active=False)
    client.force_login(staff_user("digitalplace"))

    page = text(client.get(PASS))

    assert "Les relances de ce cluster sont suspendues" in page
    assert "Aucune relance n’est due aujourd’hui." in page


def test_the_ledger_links_to_the_pass(client):
    client.force_login(staff_user("digitalplace"))

    ledger = text(client.get(reverse("admin:members_reminder_changelist")))

    assert f'href="{PASS}"' in ledger
    assert "Voir et lancer le passage des relances" in ledger


def test_the_page_makes_as_many_queries_for_many_memberships_as_for_few(client, members):
    client.force_login(staff_user("digitalplace"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PASS).status_code == 200
        return len(captured)

    few = queries()
    for number in range(10):
        due_member(
            name=f"Membre {number}",
            number=f"DP-1{number:03d}",
            contacts=[(ContactRole.PRIMARY, "en"), (ContactRole.BILLING, "fr")],
        )
    assert queries() == few
