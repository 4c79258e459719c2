"""The convocations and reminders of an assembly, on a local SMTP server: every voter gets the
convocation once, in its language, with the agenda, the documents and its personal link; the
reminders J-7 and J-1 go once each, only to the voices that have neither voted nor given a
proxy, however often and however concurrently the pass runs; after missed days only the latest
step goes, and nothing after the assembly's day. Staff read the ledger of their own cluster.

The sending through a real worker, killed in the middle, is in test_convocations_worker.py.
"""

import datetime as dt
import re
import threading
from collections import Counter

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assemblies.mails import assembly_mails_send, assembly_reminders_schedule
from assemblies.models import (
    AssemblyMail,
    AssemblyMailKind,
    AssemblyMailReason,
    AssemblyMailState,
    BallotChannel,
    Majority,
    VoteChoice,
)
from assemblies.selectors import voices_without_voter
from assemblies.services import (
    assembly_convene,
    ballot_cast,
    proxy_give,
    voice_link_read,
    voice_strike_off,
    voting_open,
)
from members.models import Contact
from tests.assemblies.helpers import assembly_convened, assembly_draft, member_in_good_standing
from tests.factories import MembershipFactory, TermFactory, cluster, committee_user, staff_user

pytestmark = pytest.mark.django_db


def send_all() -> None:
    """What the tasks of every recorded entry would do."""
    assembly_mails_send(mail_ids=list(AssemblyMail.objects.values_list("pk", flat=True)))


def voter_email(membership) -> str:
    return Contact.objects.get(organisation=membership.organisation).email


def reminders() -> Counter:
    """(e-mail, step) of the reminders sent."""
    return Counter(
        AssemblyMail.objects.filter(
            kind=AssemblyMailKind.REMINDER, state=AssemblyMailState.SENT
        ).values_list("email", "days_before")
    )


def day_of(assembly, days_before: int) -> dt.date:
    return timezone.localdate(assembly.starts_at) - dt.timedelta(days=days_before)


def all_for(assembly) -> dict[int, str]:
    return {pk: VoteChoice.FOR for pk in assembly.resolutions.values_list("pk", flat=True)}


# --- The convocation ----------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_every_voter_gets_the_convocation_once_in_its_language_with_documents_and_link(
    mailbox, media, settings
):
    settings.ASSEMBLY_ATTACHMENTS_MAX_BYTES = 1000
    digitalplace = cluster("digitalplace")
    digitalplace.name = "Cluster Numérique d’Occitanie"  # the name is data
    digitalplace.save()
    french = member_in_good_standing()
    english = member_in_good_standing()
    Contact.objects.filter(organisation=english.organisation).update(language="en")
    nobody = MembershipFactory(cluster=digitalplace)  # in good standing, without any contact
    TermFactory(membership=nobody, year=timezone.localdate().year)
    assembly = assembly_draft(
        title="AG 2027", secret_ballot=True, online_url="https://visio.example.org/ag"
    )
    assembly.resolutions.filter(position=2).update(
        title="Modification des statuts", majority=Majority.TWO_THIRDS
    )
    small = ContentFile(b"%PDF-1.4 comptes", name="comptes.pdf")
    large = ContentFile(b"x" * 2000, name="rapport.pdf")  # beyond the limit of 1,000 bytes
    documents = assembly.documents
    documents.create(position=1, title="Comptes 2026", file=small)
    documents.create(position=2, title="Rapport moral", file=large)
    documents.create(position=3, title="Projet de statuts", url="https://docs.example.org/statuts")

    voices = assembly_convene(assembly=assembly, by=None)
    send_all()
    send_all()  # a batch delivered twice

    assert len(mailbox.messages) == 2
    by_organisation = {voice.organisation_id: voice for voice in voices}
    [fr] = mailbox.to(voter_email(french))
    # A long encoded subject is folded from its first line on, which parses as a leading space.
    assert fr["Subject"].strip() == (
        "Convocation : Assemblée générale ordinaire de Cluster Numérique d’Occitanie, le "
        + fr_day(assembly)
    )
    text = mailbox.text(fr)
    for expected in (
        "AG 2027",
        "à 18:00 (heure de Paris)",
        "Lieu : Toulouse",
        "https://visio.example.org/ag",
        "2. Modification des statuts",
        "Majorité requise : Deux tiers des suffrages exprimés",
        "bulletin secret",
        "Comptes 2026 (joint)",
        "Rapport moral (à consulter depuis votre lien personnel)",
        "Projet de statuts\r\n    https://docs.example.org/statuts",
        "donnez pouvoir",
        "L’équipe de Cluster Numérique d’Occitanie",
    ):
        assert expected in text
    assert personal_link(text) == (by_organisation[french.organisation_id].pk, voter_email(french))
    assert fr["Content-Language"] == "fr"
    attachments = {part.get_filename(): part.get_content() for part in fr.iter_attachments()}
    assert attachments == {"comptes.pdf": b"%PDF-1.4 comptes"}  # the other one is too large

    [en] = mailbox.to(voter_email(english))
    assert en["Content-Language"] == "en"
    assert en["Subject"].strip().startswith("Notice of meeting: ")
    assert "Cluster Numérique d’Occitanie" in en["Subject"]
    english_text = mailbox.text(en)
    assert personal_link(english_text) == (
        by_organisation[english.organisation_id].pk,
        voter_email(english),
    )
    assert "secret ballot" in english_text
    assert "Convocation" not in english_text

    # The voice without a voter got nothing, and staff can see it.
    assert list(voices_without_voter(assemblies=[assembly])) == [
        by_organisation[nobody.organisation_id]
    ]
    assert AssemblyMail.objects.count() == 2
    assert set(AssemblyMail.objects.values_list("state", flat=True)) == {AssemblyMailState.SENT}


def personal_link(text: str) -> tuple[int, str]:
    """The voice and e-mail that the personal link in ``text`` names, on the site's address."""
    [token] = re.findall(re.escape(settings.SITE_URL) + r"/assemblees/lien/([^/\s]+)/", text)
    return voice_link_read(token=token)


def fr_day(assembly) -> str:
    from django.utils import translation

    from members.formatting import long_date

    with translation.override("fr"):
        return long_date(assembly.starts_at)


def test_convening_twice_records_and_sends_each_convocation_once(mailbox):
    members = [member_in_good_standing() for _ in range(3)]
    assembly = assembly_draft()

    assembly_convene(assembly=assembly, by=None)
    with pytest.raises(ValidationError, match="déjà été convoquée"):
        assembly_convene(assembly=assembly, by=None)  # the double click
    send_all()

    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        voter_email(member) for member in members
    )


def test_the_demo_records_the_convocations_as_sent_without_any_email(mailbox):
    member_in_good_standing()
    assembly = assembly_draft()
    now = timezone.now()

    assembly_convene(assembly=assembly, by=None, now=now, notify=False)
    send_all()

    assert mailbox.messages == []
    assert list(AssemblyMail.objects.values_list("state", "sent_at")) == [
        (AssemblyMailState.SENT, now)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_convocations_at_once_on_postgresql_send_once(postgresql, mailbox):
    [member_in_good_standing() for _ in range(4)]
    assembly = assembly_draft()
    barrier = threading.Barrier(2)
    outcomes = []

    def convene():
        try:
            barrier.wait()
            assembly_convene(assembly=assembly, by=None)
            outcomes.append("convened")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=convene) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send_all()

    assert sorted(outcomes) == ["convened", "refused"]
    assert assembly.voices.count() == 4
    assert AssemblyMail.objects.count() == 4
    assert len(mailbox.messages) == 4


# --- Reminders ----------------------------------------------------------------------------------


@pytest.fixture
def silent_and_not():
    """An assembly of five voices: ``proxy`` gave its voice to ``holder``, ``voted`` voted,
    ``struck`` was struck off, ``silent`` did nothing (nor did ``holder``, which holds a proxy)."""
    members = {
        name: member_in_good_standing() for name in ("proxy", "holder", "voted", "struck", "silent")
    }
    assembly = assembly_convened()
    voices = {name: assembly.voices.get(organisation=m.organisation) for name, m in members.items()}
    proxy_give(giver=voices["proxy"], holder=voices["holder"], by=None)
    voice_strike_off(voice=voices["struck"], reason="Démission", by=None)
    voting_open(assembly=assembly)
    ballot_cast(voice=voices["voted"], choices=all_for(assembly), channel=BallotChannel.ONLINE)
    AssemblyMail.objects.filter(kind=AssemblyMailKind.CONVOCATION).update(
        state=AssemblyMailState.SENT, sent_at=timezone.now()
    )
    assembly.refresh_from_db()
    return assembly, {name: voter_email(m) for name, m in members.items()}


def test_reminders_j7_and_j1_go_once_each_to_those_who_neither_voted_nor_gave_a_proxy(
    silent_and_not, mailbox
):
    assembly, emails = silent_and_not
    for days_before in (8, 7, 7, 6, 2, 1, 1, 0, -1, -2):
        assembly_reminders_schedule(today=day_of(assembly, days_before))
        send_all()

    assert reminders() == {
        (emails["silent"], 7): 1,
        (emails["holder"], 7): 1,
        (emails["silent"], 1): 1,
        (emails["holder"], 1): 1,
    }
    assert len(mailbox.messages) == 4
    j1 = mailbox.to(emails["silent"])[-1]
    assert j1["Subject"].strip().startswith("Rappel : Assemblée générale ordinaire de DigitalPlace")
    assert "n’a encore ni voté ni donné pouvoir" in mailbox.text(j1)
    assert "Le vote est ouvert : votez en ligne" in mailbox.text(j1)  # a proxy is too late
    assert not list(j1.iter_attachments())


def test_after_missed_days_only_the_latest_step_goes(silent_and_not, mailbox):
    assembly, emails = silent_and_not

    result = assembly_reminders_schedule(today=day_of(assembly, 1))  # J-7 was missed
    send_all()

    assert result.scheduled == 2
    assert reminders() == {(emails["silent"], 1): 1, (emails["holder"], 1): 1}


def test_a_step_missed_by_a_few_days_still_goes_then_the_next_one(silent_and_not, mailbox):
    assembly, emails = silent_and_not

    assembly_reminders_schedule(today=day_of(assembly, 5))  # J-7 late
    assembly_reminders_schedule(today=day_of(assembly, 3))  # nothing more
    assembly_reminders_schedule(today=day_of(assembly, 1))
    send_all()

    assert reminders() == {
        (emails["silent"], 7): 1,
        (emails["holder"], 7): 1,
        (emails["silent"], 1): 1,
        (emails["holder"], 1): 1,
    }


def test_no_reminder_on_a_day_the_convocation_went_or_before(mailbox):
    member_in_good_standing()
    assembly = assembly_convened(days_ahead=5, notice_days=5)

    assembly_reminders_schedule(today=timezone.localdate())  # J-5: J-7 is before the convocation
    assert not AssemblyMail.objects.filter(kind=AssemblyMailKind.REMINDER).exists()
    assembly_reminders_schedule(today=day_of(assembly, 1))
    assert AssemblyMail.objects.filter(kind=AssemblyMailKind.REMINDER, days_before=1).count() == 1


def test_a_pending_reminder_is_closed_unsent_when_the_voice_votes_or_gives_a_proxy(mailbox):
    members = [member_in_good_standing() for _ in range(3)]
    assembly = assembly_convened()
    voices = [assembly.voices.get(organisation=m.organisation) for m in members]
    AssemblyMail.objects.update(state=AssemblyMailState.SENT, sent_at=timezone.now())

    assembly_reminders_schedule(today=day_of(assembly, 7))  # three pending
    proxy_give(giver=voices[0], holder=None, by=None)
    voting_open(assembly=assembly)
    ballot_cast(voice=voices[1], choices=all_for(assembly), channel=BallotChannel.ONLINE)
    send_all()

    assert [message["To"] for message in mailbox.messages] == [voter_email(members[2])]
    reminders_by_voice = dict(
        AssemblyMail.objects.filter(kind=AssemblyMailKind.REMINDER).values_list("voice", "reason")
    )
    assert reminders_by_voice == {
        voices[0].pk: AssemblyMailReason.PROXY,
        voices[1].pk: AssemblyMailReason.VOTED,
        voices[2].pk: "",
    }


def test_the_pass_costs_the_same_queries_for_3_voices_as_for_30():
    def queries(slug: str, voices: int, days_ahead: int) -> int:
        [member_in_good_standing(slug) for _ in range(voices)]
        assembly = assembly_convened(slug, days_ahead=days_ahead)
        with CaptureQueriesContext(connection) as captured:
            assert assembly_reminders_schedule(today=day_of(assembly, 7)).scheduled == voices
        return len(captured)

    # The second assembly's J-7 is the first one's J-17: no step due there.
    assert queries("digitalplace", 3, 20) == queries("frenchsouth", 30, 30)


@pytest.mark.django_db(transaction=True)
def test_concurrent_passes_on_postgresql_record_each_reminder_once(postgresql, mailbox):
    [member_in_good_standing() for _ in range(6)]
    assembly = assembly_convened()
    barrier = threading.Barrier(4)
    errors = []

    def run():
        try:
            barrier.wait()
            assembly_reminders_schedule(today=day_of(assembly, 7))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    AssemblyMail.objects.filter(kind=AssemblyMailKind.CONVOCATION).update(
        state=AssemblyMailState.SENT, sent_at=timezone.now()
    )
    send_all()

    assert errors == []
    assert AssemblyMail.objects.filter(kind=AssemblyMailKind.REMINDER).count() == 6
    assert len(mailbox.messages) == 6


@pytest.mark.parametrize("value", ["7,x", "7,7", "-1", "100", "7;1"])
def test_the_reminder_steps_are_validated(value):
    assembly = assembly_draft(reminder_days=value)

    with pytest.raises(ValidationError) as error:
        assembly.full_clean()
    assert "reminder_days" in error.value.message_dict


def test_an_assembly_without_steps_sends_no_reminder(mailbox):
    member_in_good_standing()
    assembly = assembly_convened(reminder_days="")

    assembly.full_clean()
    for days_before in (7, 1):
        assembly_reminders_schedule(today=day_of(assembly, days_before))
    assert not AssemblyMail.objects.filter(kind=AssemblyMailKind.REMINDER).exists()


# --- The admin ----------------------------------------------------------------------------------


@pytest.fixture
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ledger_reader(slug: str):
    """Staff of ``slug``: their group reads the ledger and resends its failed entries."""
    return staff_user(slug)


def test_staff_read_their_own_clusters_ledger_and_see_the_voices_without_voter(
    client, fast_passwords
):
    mine = member_in_good_standing()
    theirs = member_in_good_standing("frenchsouth")
    nobody = MembershipFactory(cluster=cluster("digitalplace"))
    TermFactory(membership=nobody, year=timezone.localdate().year)
    assembly_convened()
    assembly_convened("frenchsouth")
    other = AssemblyMail.objects.get(email=voter_email(theirs))
    client.force_login(ledger_reader("digitalplace"))

    page = client.get(reverse("admin:assemblies_assemblymail_changelist"))
    foreign = client.get(reverse("admin:assemblies_assemblymail_change", args=[other.pk]))
    edit = client.post(reverse("admin:assemblies_assemblymail_delete", args=[other.pk]))

    assert page.status_code == 200
    content = page.content.decode()
    assert voter_email(mine) in content
    assert voter_email(theirs) not in content
    [warning] = [str(message) for message in get_messages(page.wsgi_request)]
    assert nobody.organisation.name in warning
    assert foreign.status_code == 404
    assert edit.status_code in (403, 404)


def test_a_refused_convocation_fails_with_the_error_and_staff_put_it_back_in_the_queue(
    client, fast_passwords, mailbox
):
    mine = member_in_good_standing()
    theirs = member_in_good_standing("frenchsouth")
    assembly_convened()
    assembly_convened("frenchsouth")
    mailbox.refuse("550 Mailbox unavailable", times=2)
    send_all()
    failed = AssemblyMail.objects.filter(state=AssemblyMailState.FAILED)
    assert failed.count() == 2
    assert "550" in failed.first().error
    changelist = reverse("admin:assemblies_assemblymail_changelist")
    every = [str(pk) for pk in AssemblyMail.objects.values_list("pk", flat=True)]
    resend = {"action": "resend_failed", "_selected_action": every}

    client.force_login(committee_user())  # reads every ledger, resends nothing
    without_permission = client.post(changelist, resend)
    assert failed.count() == 2
    client.force_login(ledger_reader("digitalplace"))
    client.post(changelist, resend)  # another cluster's entry among those posted
    send_all()

    assert without_permission.status_code == 200  # the admin says no such action
    assert [message["To"] for message in mailbox.messages] == [voter_email(mine)]
    assert dict(AssemblyMail.objects.values_list("email", "state")) == {
        voter_email(mine): AssemblyMailState.SENT,
        voter_email(theirs): AssemblyMailState.FAILED,
    }


def test_a_voice_struck_off_before_its_convocation_went_gets_none():
    members = [member_in_good_standing() for _ in range(2)]
    assembly = assembly_convened()
    struck = assembly.voices.get(organisation=members[0].organisation)
    voice_strike_off(voice=struck, reason="Exclusion", by=None)

    send_all()

    assert dict(AssemblyMail.objects.values_list("email", "reason")) == {
        voter_email(members[0]): AssemblyMailReason.STRUCK_OFF,
        voter_email(members[1]): "",
    }


def test_the_daily_pass_queues_again_a_convocation_the_broker_never_took(
    mailbox, django_capture_on_commit_callbacks
):
    member_in_good_standing()
    assembly = assembly_convened()
    AssemblyMail.objects.update(queued_at=None)  # what mail_queue records when the broker is down

    with django_capture_on_commit_callbacks() as callbacks:
        result = assembly_reminders_schedule(today=timezone.localdate())
    send_all()

    assert (result.scheduled, result.requeued) == (0, 1)
    assert len(callbacks) == 1  # the queuing, once committed
    assert [message["Subject"].split()[0] for message in mailbox.messages] == ["Convocation"]
    assert assembly.voices.get().mails.get().queued_at is not None
