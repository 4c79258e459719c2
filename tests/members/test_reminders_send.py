"""Sending the recorded reminders (members.services.reminders.reminders_send) to a real local SMTP
server: who gets them, in which language, with which link; each once; none once no longer
needed. The worker, Redis and retries are in test_reminders_worker.py."""

import datetime as dt
import re

import pytest

from members.models import (
    ContactRole,
    Membership,
    Reminder,
    ReminderPolicy,
    ReminderReason,
    ReminderState,
    ReminderStep,
)
from members.services.reminders import reminders_resend, reminders_schedule, reminders_send
from members.services.renewals import renewal_link_read
from tests.factories import ContactFactory, TermFactory, cluster

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 12, 1)  # J−30 of a term ending on 31 December 2026


def member_term(slug: str = "digitalplace", **membership):
    return TermFactory(
        membership__cluster=cluster(slug),
        year=2026,
        **{f"membership__{name}": value for name, value in membership.items()},
    )


def schedule_and_send() -> list[Reminder]:
    reminders_schedule(today=DAY)
    ids = list(Reminder.objects.order_by("pk").values_list("pk", flat=True))
    assert reminders_send(reminder_ids=ids) == []
    return list(Reminder.objects.order_by("pk"))


def subject(message) -> str:
    # An encoded subject is folded onto the next line: the parser keeps the fold's space.
    return message["Subject"].strip()


def link_in(text: str) -> str:
    return re.search(r"https?://\S+/renouveler/\S+/", text)[0]


def test_a_reminder_goes_to_the_primary_and_billing_contacts_each_in_its_language(mailbox):
    term = member_term(
        organisation__name="Ondine Vision",
        member_number="DP-0042",
        member_since=dt.date(2019, 1, 1),
    )
    organisation = term.membership.organisation
    primary = ContactFactory(
        organisation=organisation, role=ContactRole.PRIMARY, first_name="Laurent", last_name="Roux"
    )
    billing = ContactFactory(
        organisation=organisation,
        role=ContactRole.BILLING,
        first_name="Jane",
        last_name="Doe",
        language="en",
    )
    ContactFactory(organisation=organisation, role=ContactRole.MEMBER)  # not written to
    ReminderPolicy.objects.filter(cluster__slug="digitalplace").update(
        sender="DigitalPlace <adhesions@digitalplace.example>"
    )

    [reminder] = schedule_and_send()

    assert reminder.state == ReminderState.SENT
    assert reminder.attempts == 1
    assert sorted(reminder.recipients) == sorted([primary.email, billing.email])
    assert len(mailbox.wait_for(2)) == 2

    [french] = mailbox.to(primary.email)
    assert subject(french) == "Votre adhésion à DigitalPlace se termine le 31 décembre 2026"
    assert french["From"] == "DigitalPlace <adhesions@digitalplace.example>"
    assert french["Content-Language"] == "fr"
    text = mailbox.text(french)
    assert text.startswith("Bonjour Laurent Roux,")
    assert (
        "L’adhésion de Ondine Vision à DigitalPlace (n° DP-0042) se termine le 31 décembre 2026, "
        "dans 30 jours." in text
    )
    assert renewal_link_read(token=link_in(text).rstrip("/").rsplit("/", 1)[1]) == (
        term.pk,
        primary.email,
    )
    html = french.get_body(preferencelist=("html",)).get_content()
    assert f'href="{link_in(text)}"' in html
    assert "Renouveler l’adhésion" in html

    [english] = mailbox.to(billing.email)
    assert subject(english) == "Your DigitalPlace membership ends on December 31, 2026"
    assert english["Content-Language"] == "en"
    english_text = mailbox.text(english)
    assert english_text.startswith("Hello Jane Doe,")
    assert "Renew your membership:" in english_text
    # Each contact's link is its own.
    assert link_in(english_text) != link_in(text)


def test_without_primary_or_billing_contact_every_contact_is_written_to(mailbox):
    term = member_term()
    contacts = ContactFactory.create_batch(2, organisation=term.membership.organisation)

    [reminder] = schedule_and_send()

    assert sorted(reminder.recipients) == sorted(contact.email for contact in contacts)
    assert len(mailbox.wait_for(2)) == 2


def test_an_english_contact_gets_french_when_the_step_has_no_english_text(mailbox):
    term = member_term()
    contact = ContactFactory(organisation=term.membership.organisation, language="en")
    ReminderStep.objects.filter(policy__cluster__slug="digitalplace").update(
        subject_en="", body_en=""
    )

    schedule_and_send()

    [message] = mailbox.wait_for(1)
    assert message["Content-Language"] == "fr"
    assert mailbox.text(message).startswith(f"Bonjour {contact.first_name}")
    assert "Renouveler l’adhésion\u00a0:" in mailbox.text(message)


def test_member_supplied_names_are_escaped_in_the_html(mailbox):
    term = member_term(organisation__name="<b>Acme</b> & Cie")
    ContactFactory(organisation=term.membership.organisation)

    schedule_and_send()

    [message] = mailbox.wait_for(1)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Cie" in html
    assert "<b>Acme</b>" not in html
    assert "L’adhésion de <b>Acme</b> & Cie" in mailbox.text(message)


def test_a_reminder_is_sent_once_however_often_its_task_runs(mailbox):
    term = member_term()
    ContactFactory(organisation=term.membership.organisation)
    [reminder] = schedule_and_send()

    assert reminders_send(reminder_ids=[reminder.pk, reminder.pk]) == []

    assert len(mailbox.wait_for(1)) == 1
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts) == (ReminderState.SENT, 1)


def renew(term):
    TermFactory(membership=term.membership, year=2027, is_paid=False)


def cancel(term):
    Membership.objects.filter(pk=term.membership_id).update(cancelled_on=dt.date(2026, 12, 31))


def transfer(term):
    Membership.objects.filter(pk=term.membership_id).update(transferred_on=dt.date(2027, 1, 1))


def suspend_the_policy(term):
    ReminderPolicy.objects.update(is_active=False)


def withdraw_the_step(term):
    ReminderStep.objects.filter(offset_days=-30).delete()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (renew, "renewed"),
        (cancel, "cancelled"),
        (transfer, "transferred"),
        (suspend_the_policy, "withdrawn"),
        (withdraw_the_step, "withdrawn"),
    ],
)
def test_a_reminder_no_longer_needed_when_its_turn_comes_is_cancelled(mailbox, change, reason):
    term = member_term()
    ContactFactory(organisation=term.membership.organisation)
    reminders_schedule(today=DAY)
    change(term)

    assert reminders_send(reminder_ids=list(Reminder.objects.values_list("pk", flat=True))) == []

    reminder = Reminder.objects.get()
    assert (reminder.state, reminder.reason) == (ReminderState.CANCELLED, reason)
    assert mailbox.messages == []


def test_an_organisation_without_contacts_fails_for_staff_to_see_and_resend(mailbox):
    term = member_term()
    [reminder] = schedule_and_send()
    assert (reminder.state, reminder.reason) == (ReminderState.FAILED, ReminderReason.NO_CONTACT)
    assert reminder.get_reason_display() == "Aucun contact à qui écrire"

    # Staff add a contact, then resend.
    contact = ContactFactory(organisation=term.membership.organisation)
    assert reminders_resend(reminders=[reminder]) == 1
    reminder.refresh_from_db()
    assert (reminder.state, reminder.reason, reminder.attempts) == (ReminderState.PENDING, "", 0)
    reminders_send(reminder_ids=[reminder.pk])

    [message] = mailbox.wait_for(1)
    assert contact.email in message["To"]
    reminder.refresh_from_db()
    assert reminder.state == ReminderState.SENT


def test_resend_leaves_sent_and_pending_reminders_alone():
    member_term()
    member_term()
    reminders_schedule(today=DAY)
    sent, pending = Reminder.objects.order_by("pk")
    Reminder.objects.filter(pk=sent.pk).update(
        state=ReminderState.SENT, sent_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    )

    assert reminders_resend(reminders=[sent, pending]) == 0

    assert Reminder.objects.get(pk=sent.pk).state == ReminderState.SENT
