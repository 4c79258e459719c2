"""The reminders' admin: the ledger, read-only, each cluster's staff seeing and resending only
their own entries, with its filters and search, in a constant number of queries; the policies,
changed by superusers only, with their errors said in plain words next to the field, and a
preview of each step as a member would read it."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from members.models import (
    Cluster,
    Reminder,
    ReminderPolicy,
    ReminderReason,
    ReminderState,
    ReminderStep,
)
from members.services.reminders import reminders_schedule, reminders_send
from tests.factories import ContactFactory, TermFactory, cluster
from tests.html_forms import form_data

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 12, 1)  # J−30 of a term ending on 31 December 2026
LEDGER = reverse("admin:members_reminder_changelist")


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 12, 2, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def member_term(slug: str = "digitalplace", *, name: str = "", contact: str = "", **membership):
    """A 2026 term of a new member of cluster ``slug``, with a contact at ``contact``."""
    if name:
        membership["organisation__name"] = name
    term = TermFactory(
        membership__cluster=cluster(slug),
        year=2026,
        **{f"membership__{field}": value for field, value in membership.items()},
    )
    if contact:
        ContactFactory(organisation=term.membership.organisation, email=contact)
    return term


def entry(term, *, state: str, offset: int = -30, **fields) -> Reminder:
    """A ledger entry of ``term`` in ``state``, as the sending would have left it."""
    defaults = {
        ReminderState.SENT: {"sent_at": timezone.now(), "attempts": 1},
        ReminderState.FAILED: {
            "reason": ReminderReason.SMTP_ERROR,
            "detail": "SMTPRecipientsRefused: 550 mailbox unavailable",
            "attempts": 4,
        },
    }.get(state, {})
    return Reminder.objects.create(
        term=term,
        step=ReminderStep.objects.get(policy__cluster=term.membership.cluster, offset_days=offset),
        offset_days=offset,
        due_on=term.end_date + dt.timedelta(days=offset),
        scheduled_on=DAY,
        state=state,
        **defaults | fields,
    )


@pytest.fixture
def ledger():
    """Entries recorded by the real pass (pending) for a member of each source cluster, and a
    sent and a failed entry of DigitalPlace."""
    dp = member_term(name="Garonne Data", member_number="DP-0042", contact="rh@garonne.example")
    fs = member_term("frenchsouth", name="Lez Robotique", contact="info@lez.example")
    assert reminders_schedule(today=DAY).scheduled == 2
    sent = entry(
        member_term(name="Canal Logiciel", contact="a@canal.example"),
        state=ReminderState.SENT,
        offset=-7,
        recipients=["a@canal.example"],
    )
    failed = entry(member_term(name="Brique Cloud", contact="b@brique.example"), state="failed")
    return {
        "dp": Reminder.objects.get(term=dp),
        "fs": Reminder.objects.get(term=fs),
        "sent": sent,
        "failed": failed,
    }


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {reminder.pk for reminder in response.context["cl"].result_list}


def messages(response) -> str:
    return "\n".join(str(m) for m in get_messages(response.wsgi_request)).replace("\xa0", " ")


def change_url(reminder: Reminder) -> str:
    return reverse("admin:members_reminder_change", args=[reminder.pk])


def resend(client, *reminders: Reminder):
    return client.post(
        LEDGER,
        {"action": "resend_failed", "_selected_action": [str(r.pk) for r in reminders]},
        follow=True,
    )


# --- The ledger ---------------------------------------------------------------------------------


def test_staff_see_only_their_clusters_entries(client, dp_staff, ledger):
    client.force_login(dp_staff)

    assert listed(client.get(LEDGER)) == {ledger[k].pk for k in ("dp", "sent", "failed")}
    assert client.get(change_url(ledger["fs"])).status_code == 404

    page = client.get(change_url(ledger["dp"]))
    content = page.content.decode()
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}, "every field is read-only"
    assert reverse("admin:members_membership_change", args=[ledger["dp"].term.membership_id]) in (
        content
    )
    assert reverse("admin:members_term_change", args=[ledger["dp"].term_id]) in content
    assert "Relance J−30 de DP-0042 · Garonne Data" in content
    assert "deletelink" not in content
    delete = reverse("admin:members_reminder_delete", args=[ledger["dp"].pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Reminder.objects.filter(pk=ledger["dp"].pk).exists()


def test_the_list_says_what_became_of_each_entry(client, dp_staff, ledger):
    client.force_login(dp_staff)

    response = client.get(LEDGER)
    content = response.content.decode().replace("\xa0", " ")

    for text in (
        "Journal des relances",
        "Garonne Data",
        "DP-0042",
        "J−30",
        "J−7",
        "À envoyer",
        "Envoyée",
        "Échec",
        "Erreur du serveur d’envoi",
        "SMTPRecipientsRefused: 550 mailbox unavailable",
    ):
        assert text in content, text
    assert response.context["has_add_permission"] is False
    assert "3 relances" in content
    # To whom it went is on the entry's page: the list keeps to what fits a 1280 px window.
    assert "a@canal.example" not in content
    assert "a@canal.example" in client.get(change_url(ledger["sent"])).content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"term__membership__cluster__id__exact": "frenchsouth"}, {"fs"}),
        ({"offset": "-7"}, {"sent"}),
        ({"offset": "-30"}, {"dp", "fs", "failed"}),
        ({"state": "failed"}, {"failed"}),
        ({"state": "pending"}, {"dp", "fs"}),
        ({"reason": "smtp_error"}, {"failed"}),
        (
            {"scheduled_on__year": "2026", "scheduled_on__month": "12"},
            {"dp", "fs", "sent", "failed"},
        ),
        ({"q": "a@canal.example"}, {"sent"}),
        ({"q": "info@lez.example"}, {"fs"}),
        ({"q": "garonne"}, {"dp"}),
        ({"q": "DP-0042"}, {"dp"}),
    ],
)
def test_filters_and_search(client, superuser, ledger, query, expected):
    client.force_login(superuser)
    if "term__membership__cluster__id__exact" in query:
        query = {"term__membership__cluster__id__exact": cluster("frenchsouth").pk}

    assert listed(client.get(LEDGER, query)) == {ledger[key].pk for key in expected}


def test_search_by_siret(client, superuser, ledger):
    client.force_login(superuser)
    siret = ledger["fs"].term.membership.organisation.siret

    assert listed(client.get(LEDGER, {"q": siret})) == {ledger["fs"].pk}


def test_staff_filters_offer_only_their_clusters_and_the_offsets_recorded(client, dp_staff, ledger):
    client.force_login(dp_staff)

    content = client.get(LEDGER).content.decode()

    assert "DigitalPlace" in content
    assert "FrenchSouth" not in content
    (offset_filter,) = [
        spec for spec in client.get(LEDGER).context["cl"].filter_specs if spec.title == "relance"
    ]
    offsets = dict(offset_filter.lookup_choices)
    assert offsets == {"-30": "J−30", "-7": "J−7"}


def test_staff_resend_a_failed_entry_which_then_goes_out(
    client, dp_staff, ledger, mailbox, django_capture_on_commit_callbacks
):
    client.force_login(dp_staff)

    with django_capture_on_commit_callbacks() as queued:
        response = resend(client, ledger["failed"], ledger["sent"])

    assert "1 relance en échec remise en file d’envoi." in messages(response)
    assert "Les autres relances sélectionnées n’étaient pas en échec." in messages(response)
    failed = Reminder.objects.get(pk=ledger["failed"].pk)
    assert (failed.state, failed.reason, failed.detail, failed.attempts) == ("pending", "", "", 0)
    assert Reminder.objects.get(pk=ledger["sent"].pk).state == ReminderState.SENT
    assert len(queued) == 1, "one sending task, after the commit"

    # What the queued task does, the SMTP server now accepting the mail.
    assert reminders_send(reminder_ids=[failed.pk]) == []
    mailbox.wait_for(1)
    assert [m["X-Envelope-To"] for m in mailbox.messages] == ["b@brique.example"]
    failed.refresh_from_db()
    assert failed.state == ReminderState.SENT


def test_resending_entries_none_of_which_failed_says_so(client, dp_staff, ledger):
    client.force_login(dp_staff)

    response = resend(client, ledger["sent"], ledger["dp"])

    assert "Aucune des relances sélectionnées n’est en échec" in messages(response)
    assert Reminder.objects.get(pk=ledger["sent"].pk).state == ReminderState.SENT


def test_staff_cannot_resend_another_clusters_entry(client, dp_staff, ledger):
    other = entry(member_term("frenchsouth", name="Pic Saint-Loup"), state="failed")
    client.force_login(dp_staff)

    resend(client, other)

    assert Reminder.objects.get(pk=other.pk).state == ReminderState.FAILED


def test_the_committee_reads_every_entry_but_cannot_resend(client, committee, ledger):
    client.force_login(committee)

    response = client.get(LEDGER)
    assert listed(response) == {entry.pk for entry in ledger.values()}
    assert response.context["action_form"] is None, "no action offered"
    assert client.get(change_url(ledger["fs"])).status_code == 200

    resend(client, ledger["failed"])

    assert Reminder.objects.get(pk=ledger["failed"].pk).state == ReminderState.FAILED


def test_staff_delete_a_term_with_its_entries(client, dp_staff, ledger):
    term = ledger["dp"].term
    client.force_login(dp_staff)

    response = client.post(
        reverse("admin:members_term_delete", args=[term.pk]), {"post": "yes"}, follow=True
    )

    assert response.status_code == 200
    assert not Reminder.objects.filter(pk=ledger["dp"].pk).exists()


def test_the_membership_page_lists_its_reminders(client, dp_staff, ledger):
    client.force_login(dp_staff)
    membership = ledger["failed"].term.membership

    content = client.get(
        reverse("admin:members_membership_change", args=[membership.pk])
    ).content.decode()

    assert "Relances de renouvellement" in content
    assert change_url(ledger["failed"]) in content
    assert "J−30 · 01/12/2026</a> · Échec · Erreur du serveur d’envoi" in content


@pytest.mark.parametrize("role", ["superuser", "dp_staff"])
def test_ledger_queries_do_not_grow_with_rows(client, request, role, django_assert_max_num_queries):
    client.force_login(request.getfixturevalue(role))

    def add(count: int) -> None:
        for _ in range(count):
            term = member_term(contact=f"c{Reminder.objects.count()}@example.org")
            entry(term, state="sent", recipients=[f"c{term.pk}@example.org"])
            entry(term, state="failed", offset=-7)

    def queries_of_the_list(rows: int) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            response = client.get(LEDGER)
        assert len(response.context["cl"].result_list) == rows
        return len(captured)

    add(3)
    client.get(LEDGER)  # the caches a running server keeps anyway (content types, …)
    few = queries_of_the_list(6)
    add(22)
    with django_assert_max_num_queries(few):
        assert len(client.get(LEDGER).context["cl"].result_list) == 50


# --- The policies -------------------------------------------------------------------------------


def policy_url(slug: str = "digitalplace") -> str:
    policy = ReminderPolicy.objects.get(cluster__slug=slug)
    return reverse("admin:members_reminderpolicy_change", args=[policy.pk])


def policy_form(slug: str = "digitalplace", *new_steps: dict, **changes) -> dict:
    """The POST of the policy's change form: its steps as they are, with ``changes`` to the
    step at offset ``changes["at"]``, then ``new_steps``."""
    policy = ReminderPolicy.objects.get(cluster__slug=slug)
    at = changes.pop("at", None)
    steps = list(policy.steps.order_by("offset_days"))
    data = {
        "is_active": "on",
        "sender": policy.sender,
        "max_lateness_days": str(policy.max_lateness_days),
        "steps-TOTAL_FORMS": str(len(steps) + len(new_steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "_continue": "1",
    }
    fields = ("offset_days", "subject_fr", "body_fr", "subject_en", "body_en")
    for index, step in enumerate(steps):
        values = {name: getattr(step, name) for name in fields}
        if step.offset_days == at:
            values |= changes
        data |= {f"steps-{index}-{name}": value for name, value in values.items()}
        data |= {f"steps-{index}-id": step.pk, f"steps-{index}-policy": policy.pk}
    for index, values in enumerate(new_steps, start=len(steps)):
        data |= {f"steps-{index}-{name}": value for name, value in values.items()}
        data |= {f"steps-{index}-id": "", f"steps-{index}-policy": policy.pk}
    return data


def test_policies_list_their_steps_and_sender(client, superuser, settings):
    ReminderPolicy.objects.filter(cluster__slug="frenchsouth").update(sender="")
    client.force_login(superuser)

    content = client.get(reverse("admin:members_reminderpolicy_changelist")).content.decode()

    assert "J−30, J−7, J, J+15" in content
    assert escape(f"Par défaut : {settings.DEFAULT_FROM_EMAIL}") in content.replace("\xa0", " ")


def test_staff_read_their_clusters_policy_and_cannot_change_it(client, dp_staff):
    client.force_login(dp_staff)

    page = client.get(policy_url())
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["adminform"].form.fields == {}
    content = page.content.decode()
    assert "{renewal_url}" in content and "le lien personnel de renouvellement" in content
    assert client.get(policy_url("frenchsouth")).status_code == 404

    response = client.post(policy_url(), policy_form(at=-30, subject_fr="Changé"))
    assert response.status_code == 403
    assert not ReminderStep.objects.filter(subject_fr="Changé").exists()


def test_the_committee_reads_every_policy(client, committee):
    client.force_login(committee)

    for slug in ("digitalplace", "frenchsouth"):
        page = client.get(policy_url(slug))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False


def test_a_superuser_changes_a_step_and_sees_it_in_the_preview(client, superuser):
    member_term(name="Garonne Data", member_number="DP-0042", contact="rh@garonne.example")
    client.force_login(superuser)

    response = client.post(
        policy_url(),
        policy_form(at=-30, subject_fr="{organisation} : votre adhésion finit le {end_date}"),
    )
    assert response.status_code == 302

    content = client.get(policy_url()).content.decode().replace("\xa0", " ")
    assert "Garonne Data : votre adhésion finit le 31 décembre 2026" in content
    assert "Your DigitalPlace membership ends on December 31, 2026" in content
    assert "Hello Camille Martin" in content
    assert "/renouveler/" in content


def test_a_step_without_english_previews_the_french_text_for_english_contacts(client, superuser):
    client.force_login(superuser)

    response = client.post(policy_url(), policy_form(at=0, subject_en="", body_en=""))
    assert response.status_code == 302

    content = client.get(policy_url()).content.decode()
    assert "ces contacts reçoivent la version française" in content
    assert "Exemple SAS" in content, "a cluster without members previews an invented one"


def test_an_unknown_placeholder_is_refused_naming_it(client, superuser):
    client.force_login(superuser)

    response = client.post(policy_url(), policy_form(at=-7, body_fr="Bonjour {prenom},"))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[1]
    assert "Variable inconnue : {prenom}" in errors["body_fr"][0]
    assert "{contact_name}" in errors["body_fr"][0]
    assert not ReminderStep.objects.filter(body_fr__contains="{prenom}").exists()


def test_an_english_subject_without_its_body_is_refused_next_to_the_body(client, superuser):
    client.force_login(superuser)

    response = client.post(policy_url(), policy_form(at=15, body_en=""))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[3]
    assert errors["body_en"] == ["Donnez l’objet et le message en anglais, ou aucun des deux."]


def test_two_steps_at_one_offset_are_refused_in_plain_words(client, superuser):
    client.force_login(superuser)
    # With another error in the step: both are said at once.
    twice = {"offset_days": "-7", "subject_fr": "Encore", "body_fr": "Encore une fois {x}."}

    response = client.post(policy_url(), policy_form("digitalplace", twice))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[4]
    assert errors["offset_days"] == [
        "Une autre relance a déjà ce décalage (J−7) : une seule par jour."
    ]
    assert "Variable inconnue : {x}" in errors["body_fr"][0]
    assert ReminderStep.objects.filter(policy__cluster__slug="digitalplace").count() == 4


def test_a_cluster_added_in_the_admin_gets_the_default_policy(client, superuser):
    client.force_login(superuser)

    page = client.get(reverse("admin:members_cluster_add"))
    # The page's form as a browser posts it (the settings left to their defaults), filled in.
    response = client.post(
        reverse("admin:members_cluster_add"),
        form_data(page, id="cluster_form")
        | {
            "name": "Occitanie Numérique",
            "slug": "occitanie",
            "kind": Cluster.Kind.SOURCE,
            "member_number_prefix": "ON-",
            "invoice_prefix": "ON",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    policy = ReminderPolicy.objects.get(cluster__slug="occitanie")
    assert list(policy.steps.values_list("offset_days", flat=True)) == [-30, -7, 0, 15]
    page = client.get(reverse("admin:members_cluster_change", args=[policy.cluster_id]))
    assert policy_url("occitanie") in page.content.decode()
