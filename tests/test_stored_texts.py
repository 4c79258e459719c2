"""What the system stores for later display is kept as codes with their values and read in the
reader's language (members.texts): the mechanism itself, the merger's history, the duplicate pairs'
reasons, the reminder ledger's detail, and the admin's language switch that chooses it."""

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from members.models import Reminder, ReminderReason, ReminderState, ReminderStep
from members.texts import CODES, FieldLabel, Text, text_render, text_store
from merger.models import DuplicatePair, MergerEvent
from merger.selectors import merger_current
from merger.services import merger_update
from merger.services.duplicates import duplicates_refresh
from merger.services.execution import ExecutionFailure, ExecutionResult, _merger_executed
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
    committee_user,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _language_restored():
    """Requests in English leave the language active in this thread: give the next test French."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def read_in(client, language: str, url: str) -> str:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200, url
    return response.text


# --- The mechanism ------------------------------------------------------------------------------


def test_a_text_is_stored_as_its_code_and_values_and_read_in_the_active_language():
    text = Text("import.period_reversed", start=dt.date(2027, 3, 1), end=dt.date(2027, 2, 1))
    stored = text_store({"row": 3, "message": text})
    assert stored == {
        "row": 3,
        "message": {
            "code": "import.period_reversed",
            "params": {"start": {"date": "2027-03-01"}, "end": {"date": "2027-02-01"}},
        },
    }
    with translation.override("fr"):
        assert text_render(stored["message"]) == (
            "La période commence le 01/03/2027, après sa fin le 01/02/2027."
        )
        assert str(text) == text_render(stored["message"])
    with translation.override("en"):
        assert text_render(stored["message"]) == (
            "The term starts on 1 Mar 2027, after its end on 1 Feb 2027."
        )


def test_values_that_are_texts_fields_or_lists_are_read_in_the_same_language():
    stored = Text(
        "import.values_kept",
        row=4,
        fields=[FieldLabel(MembershipFactory._meta.model, "member_since")],
    ).stored()
    with translation.override("fr"):
        assert "Adhérent depuis" in text_render(stored)
    with translation.override("en"):
        assert "Member since" in text_render(stored)


def test_plain_text_stored_before_the_codes_shows_as_it_is_and_nothing_breaks_a_page():
    assert text_render("Ancien motif.") == "Ancien motif."
    assert text_render(None) == "" and text_render("") == ""
    # A code of a later version, or values of another wording: shown, never an error.
    assert "later.code" in text_render({"code": "later.code", "params": {"a": 1}})
    assert text_render({"code": "import.too_long", "params": {"value": "x"}})


def test_an_unknown_code_is_refused_when_written():
    with pytest.raises(KeyError):
        Text("import.no_such_code")


def test_every_code_reads_in_english():
    with translation.override("en"):
        for code, msgid in CODES.items():
            with translation.override(None):
                french = str(msgid)
            assert str(msgid) != french, code


# --- The merger's history -----------------------------------------------------------------------


def test_the_same_merger_history_reads_in_french_and_in_english(client):
    merger = merger_current()
    committee = committee_user()
    merger_update(
        merger=merger,
        by=committee,
        reason="Les AG ont voté le report",
        planned_date=merger.planned_date + dt.timedelta(days=90),
    )
    organisation = OrganisationFactory(name="Canal Data")
    result = ExecutionResult(dry_run=False, effective_date=dt.date(2027, 1, 1))
    result.failed.append(
        ExecutionFailure(
            organisation.pk,
            organisation.name,
            Text("merger.execution_already_member", number="GC-0007"),
        )
    )
    _merger_executed(merger=merger, by=committee, effective=dt.date(2027, 1, 1), result=result)

    executed = MergerEvent.objects.get(kind=MergerEvent.Kind.EXECUTED)
    [failure] = executed.details["failed"]
    assert failure["message"] == {
        "code": "merger.execution_already_member",
        "params": {"number": "GC-0007"},
    }
    with translation.override("fr"):
        assert text_render(failure["message"]) == (
            "L’organisation est déjà adhérente du successeur (n° GC-0007)."
        )
    with translation.override("en"):
        assert "GC-0007" in text_render(failure["message"])
        assert "déjà" not in text_render(failure["message"])

    client.force_login(committee)
    url = reverse("admin:merger_merger_change", args=[merger.pk])
    french = read_in(client, "fr", url)
    assert "Report" in french and "Exécution des transferts" in french
    assert "Les AG ont voté le report" in french  # typed by a person: as typed
    english = read_in(client, "en", url)
    assert "Postponement" in english
    assert "Les AG ont voté le report" in english
    assert "Exécution des transferts" not in english


# --- Duplicate pairs ----------------------------------------------------------------------------


def test_the_same_duplicate_pair_reads_its_reasons_in_french_and_in_english(client):
    first = OrganisationFactory(name="Agly IA", siret="73282932000074", postcode="31000")
    second = OrganisationFactory(name="AGLY IA", siret="73282932000082", postcode="31000")
    MembershipFactory(organisation=first, cluster=cluster("digitalplace"))
    MembershipFactory(organisation=second, cluster=cluster("frenchsouth"))
    duplicates_refresh()
    pair = DuplicatePair.objects.get()
    assert "same_siren" in pair.reasons  # stored as codes

    client.force_login(committee_user())
    url = reverse("admin:merger_duplicatepair_changelist")
    assert "Même SIREN, autre SIRET" in read_in(client, "fr", url)
    english = read_in(client, "en", url)
    assert "Same SIREN, different SIRET" in english
    assert "Même SIREN" not in english
    with translation.override("en"):
        assert "Same SIREN, different SIRET" in pair.reason_labels


# --- The reminder ledger ------------------------------------------------------------------------


def test_the_same_reminder_ledger_detail_reads_in_french_and_in_english(client, admin_user):
    term = TermFactory(membership__cluster=cluster("digitalplace"), year=2026)
    step = ReminderStep.objects.filter(policy__cluster=term.membership.cluster).first()
    failed = Reminder.objects.create(
        term=term,
        step=step,
        offset_days=step.offset_days,
        due_on=term.end_date + dt.timedelta(days=step.offset_days),
        scheduled_on=dt.date(2026, 12, 1),
        state=ReminderState.FAILED,
        reason=ReminderReason.SMTP_ERROR,
        detail=Text("reminder.send_error", error="SMTPRecipientsRefused: 550").stored(),
        attempts=4,
    )
    old = Reminder.objects.create(
        term=TermFactory(membership__cluster=cluster("digitalplace"), year=2026),
        step=step,
        offset_days=step.offset_days,
        due_on=term.end_date + dt.timedelta(days=step.offset_days),
        scheduled_on=dt.date(2026, 12, 1),
        state=ReminderState.FAILED,
        reason=ReminderReason.SMTP_ERROR,
        detail="SMTPServerDisconnected: written before the codes",
        attempts=4,
    )
    client.force_login(admin_user)
    ledger = reverse("admin:members_reminder_changelist")
    french = read_in(client, "fr", ledger)
    assert "Erreur du serveur d’envoi : SMTPRecipientsRefused: 550" in french
    assert "SMTPServerDisconnected: written before the codes" in french
    english = read_in(client, "en", ledger)
    assert "Mail server error: SMTPRecipientsRefused: 550" in english
    assert "Erreur du serveur d’envoi : SMTP" not in english
    page = read_in(client, "en", reverse("admin:members_reminder_change", args=[failed.pk]))
    assert "Mail server error: SMTPRecipientsRefused: 550" in page
    page = read_in(client, "fr", reverse("admin:members_reminder_change", args=[old.pk]))
    assert "SMTPServerDisconnected: written before the codes" in page


# --- The admin's language switch -----------------------------------------------------------------


def test_the_admins_header_switches_language_on_every_page_and_comes_back_to_it(client, admin_user):
    login = client.get(reverse("admin:login"))
    assert 'class="admin-language"' in login.text
    assert 'name="language" value="en"' in login.text

    client.force_login(admin_user)
    page = reverse("admin:members_importrecord_changelist")
    french = read_in(client, "fr", page)
    assert 'name="language" value="en"' in french
    assert f'name="next" type="hidden" value="{page}"' in french

    response = client.post(reverse("set_language"), {"language": "en", "next": page})
    assert response.status_code == 302 and response.url == page
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    english = client.get(page).text
    assert '<html lang="en"' in english
    assert 'name="language" value="fr"' in english
    assert "Imports" in english

    # A staff's choice stays (the cookie), from page to page.
    assert '<html lang="en"' in client.get(reverse("admin:index")).text
