"""The payment follow-ups' admin: each cluster's staff change their own policy's steps and texts,
with their errors said next to the field (a day negative, not a number, or twice); they see each
step in French and in English and try it on themselves; staff of another cluster get a 404 and
the merger committee reads only. An invoice's page lists its follow-ups, to whom and when."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from members.models import (
    Cluster,
    PaymentFollowUp,
    PaymentFollowUpPolicy,
    PaymentFollowUpState,
    PaymentFollowUpStep,
)
from members.services.billing import invoice_issue
from members.services.follow_ups import payment_follow_ups_schedule, payment_follow_ups_send
from tests.factories import staff_user
from tests.html_forms import form_data
from tests.members.billing_helpers import ISSUED, contact, legal_details, unpaid_term

pytestmark = pytest.mark.django_db

J15 = dt.date(2027, 4, 15)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2027, 4, 16, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def policy_url(slug: str = "digitalplace") -> str:
    policy = PaymentFollowUpPolicy.objects.get(cluster__slug=slug)
    return reverse("admin:members_paymentfollowuppolicy_change", args=[policy.pk])


def trial_url(slug: str = "digitalplace") -> str:
    policy = PaymentFollowUpPolicy.objects.get(cluster__slug=slug)
    return reverse("admin:members_paymentfollowuppolicy_test", args=[policy.pk])


def policy_form(slug: str = "digitalplace", *new_steps: dict, **changes) -> dict:
    """The POST of the policy's change form: its steps as they are, with ``changes`` to the
    step at ``changes["at"]`` days, then ``new_steps``."""
    policy = PaymentFollowUpPolicy.objects.get(cluster__slug=slug)
    at = changes.pop("at", None)
    steps = list(policy.steps.order_by("days_after_due"))
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
    fields = ("days_after_due", "subject_fr", "body_fr", "subject_en", "body_en")
    for index, step in enumerate(steps):
        values = {name: getattr(step, name) for name in fields}
        if step.days_after_due == at:
            values |= changes
        data |= {f"steps-{index}-{name}": value for name, value in values.items()}
        data |= {f"steps-{index}-id": step.pk, f"steps-{index}-policy": policy.pk}
    for index, values in enumerate(new_steps, start=len(steps)):
        data |= {f"steps-{index}-{name}": value for name, value in values.items()}
        data |= {f"steps-{index}-id": "", f"steps-{index}-policy": policy.pk}
    return data


def days(slug: str = "digitalplace") -> list[int]:
    return list(
        PaymentFollowUpStep.objects.filter(policy__cluster__slug=slug)
        .order_by("days_after_due")
        .values_list("days_after_due", flat=True)
    )


def step_errors(response) -> list[dict]:
    return response.context["inline_admin_formsets"][0].formset.errors


NEW_STEP = {
    "days_after_due": "45",
    "subject_fr": "Dernière relance : facture {invoice_number}",
    "body_fr": "Il reste {amount_left} à payer : {payment_url}",
    "subject_en": "",
    "body_en": "",
}


# --- Staff change their own policy --------------------------------------------------------------


def test_staff_change_their_clusters_texts_and_add_a_step(client):
    client.force_login(staff_user("digitalplace"))

    response = client.post(
        policy_url(),
        policy_form("digitalplace", NEW_STEP, at=15, subject_fr="Rappel : {invoice_number}"),
    )

    assert response.status_code == 302, step_errors(response)
    assert days() == [15, 30, 45]
    step = PaymentFollowUpStep.objects.get(policy__cluster__slug="digitalplace", days_after_due=15)
    assert step.subject_fr == "Rappel : {invoice_number}"
    assert days("frenchsouth") == [15, 30]


def test_the_policy_page_shows_each_step_in_french_and_english_and_what_texts_may_name(client):
    legal_details()
    term = unpaid_term(organisation__name="Ondine Vision")
    contact(term, "camille@ondine.example")
    invoice = invoice_issue(term=term, on=ISSUED)
    client.force_login(staff_user("digitalplace"))

    content = client.get(policy_url()).content.decode()

    assert "Aperçu des relances de paiement" in content
    assert f"Facture {invoice.number} : paiement en attente" in content
    assert f"Invoice {invoice.number}: payment pending" in content
    assert f"Second reminder: invoice {invoice.number} unpaid" in content
    assert "Ondine Vision" in content
    assert "<code>{amount_left}</code>" in content
    assert "M’envoyer un essai" in content


def test_a_test_goes_to_oneself_in_each_language_and_records_nothing(client, mailbox):
    user = staff_user("digitalplace")
    client.force_login(user)
    step = PaymentFollowUpStep.objects.get(policy__cluster__slug="digitalplace", days_after_due=30)

    for language in ("fr", "en"):
        response = client.post(trial_url(), {"test": f"{step.pk}:{language}"})
        assert response.status_code == 302
        assert response["Location"] == policy_url()

    assert [message["To"] for message in mailbox.messages] == [user.email] * 2
    french, english = (" ".join(message["Subject"].split()) for message in mailbox.messages)
    assert french.startswith("[Essai] Deuxième relance : facture ")
    assert english.startswith("[Test] Second reminder: invoice ")
    assert not PaymentFollowUp.objects.exists()
    assert (
        "Essai de la relance de paiement J+30 (Anglais) envoyé à"
        in [str(message) for message in get_messages(response.wsgi_request)][-1]
    )


@pytest.mark.parametrize("value", ["abc", "12:fr", "999999999999:fr", "1:xx", ""], ids=str)
def test_a_malformed_test_is_a_400_or_404_never_a_500(client, value):
    client.force_login(staff_user("digitalplace"))

    response = client.post(trial_url(), {"test": value})

    assert response.status_code in (400, 404)


# --- Malformed steps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("-5", "Assurez-vous que cette valeur est supérieure ou égale à 1."),
        ("0", "Assurez-vous que cette valeur est supérieure ou égale à 1."),
        ("abc", "Saisissez un nombre entier."),
        ("1.5", "Saisissez un nombre entier."),
        ("400", "Assurez-vous que cette valeur est inférieure ou égale à 365."),
        ("", "Ce champ est obligatoire."),
    ],
)
def test_a_malformed_day_is_a_form_error_next_to_the_field(client, typed, error):
    client.force_login(staff_user("digitalplace"))

    response = client.post(policy_url(), policy_form(at=15, days_after_due=typed))

    assert response.status_code == 200
    assert step_errors(response)[0]["days_after_due"] == [error]
    assert days() == [15, 30]


def test_two_steps_on_one_day_are_refused_in_plain_words(client):
    client.force_login(staff_user("digitalplace"))
    twice = NEW_STEP | {"days_after_due": "30", "body_fr": "Encore {x}."}

    response = client.post(policy_url(), policy_form("digitalplace", twice))

    assert response.status_code == 200
    errors = step_errors(response)[2]
    assert errors["days_after_due"] == [
        "Une autre relance de paiement a déjà ce jour (J+30) : une seule par jour."
    ]
    assert "Variable inconnue : {x}" in errors["body_fr"][0]
    assert days() == [15, 30]


# --- Who may -----------------------------------------------------------------------------------


def test_staff_of_another_cluster_neither_see_nor_change_nor_try_its_policy(client, mailbox):
    client.force_login(staff_user("frenchsouth"))
    step = PaymentFollowUpStep.objects.get(policy__cluster__slug="digitalplace", days_after_due=15)

    assert client.get(policy_url("digitalplace")).status_code == 404
    changed = policy_form("digitalplace", at=15, subject_fr="Piraté")
    assert client.post(policy_url("digitalplace"), changed).status_code == 404
    assert client.post(trial_url("digitalplace"), {"test": f"{step.pk}:fr"}).status_code == 404
    # Its own policy's test with another cluster's step: none of its steps.
    own = client.post(trial_url("frenchsouth"), {"test": f"{step.pk}:fr"})
    assert own.status_code == 404
    assert mailbox.messages == []
    assert PaymentFollowUpStep.objects.get(pk=step.pk).subject_fr != "Piraté"
    listed = client.get(reverse("admin:members_paymentfollowuppolicy_changelist"))
    assert [policy.cluster.slug for policy in listed.context["cl"].result_list] == ["frenchsouth"]


def test_the_committee_reads_a_policy_but_cannot_change_or_try_it(client, committee, mailbox):
    client.force_login(committee)
    step = PaymentFollowUpStep.objects.get(policy__cluster__slug="digitalplace", days_after_due=15)

    page = client.get(policy_url())
    assert page.status_code == 200
    assert "M’envoyer un essai" not in page.content.decode()
    changed = policy_form(at=15, subject_fr="Changé")
    assert client.post(policy_url(), changed).status_code == 403
    assert client.post(trial_url(), {"test": f"{step.pk}:fr"}).status_code == 403
    assert mailbox.messages == []


def test_a_cluster_added_in_the_admin_gets_the_default_follow_ups(client, superuser):
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
    assert days("occitanie") == [15, 30]


# --- An invoice's page and the ledger ------------------------------------------------------------


def test_an_invoices_page_lists_its_follow_ups_to_whom_and_when(client, mailbox):
    legal_details()
    term = unpaid_term()
    contact(term, "camille@acme.example")
    invoice = invoice_issue(term=term, on=ISSUED)
    payment_follow_ups_schedule(today=J15)
    payment_follow_ups_send(
        follow_up_ids=list(PaymentFollowUp.objects.values_list("pk", flat=True))
    )
    client.force_login(staff_user("digitalplace"))

    content = client.get(reverse("admin:members_invoice_change", args=[invoice.pk])).content
    content = content.decode()

    assert "Relances de paiement" in content or "relances de paiement" in content
    assert "J+15" in content
    assert "camille@acme.example" in content
    assert "Envoyée" in content
    assert PaymentFollowUp.objects.get().state == PaymentFollowUpState.SENT


def test_staff_see_and_resend_only_their_clusters_failed_follow_ups(
    client, django_capture_on_commit_callbacks
):
    legal_details()
    legal_details("frenchsouth")
    for slug in ("digitalplace", "frenchsouth"):
        term = unpaid_term(slug)
        contact(term, f"billing@{slug}.example")
        invoice_issue(term=term, on=ISSUED)
    payment_follow_ups_schedule(today=J15)
    PaymentFollowUp.objects.update(state=PaymentFollowUpState.FAILED, error="550 refused")
    client.force_login(staff_user("digitalplace"))
    ledger = reverse("admin:members_paymentfollowup_changelist")

    listed = client.get(ledger).context["cl"].result_list
    assert [entry.email for entry in listed] == ["billing@digitalplace.example"]
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            ledger,
            {
                "action": "resend_failed",
                "_selected_action": list(PaymentFollowUp.objects.values_list("pk", flat=True)),
            },
        )

    assert response.status_code == 302
    assert len(queued) == 1
    assert dict(PaymentFollowUp.objects.values_list("email", "state")) == {
        "billing@digitalplace.example": PaymentFollowUpState.PENDING,
        "billing@frenchsouth.example": PaymentFollowUpState.FAILED,
    }


def test_the_dashboard_shows_the_failed_follow_ups_and_leads_to_them(client):
    legal_details()
    term = unpaid_term()  # no contact: its follow-up fails
    invoice_issue(term=term, on=ISSUED)
    payment_follow_ups_schedule(today=J15)
    client.force_login(staff_user("digitalplace"))

    content = client.get(reverse("admin:index")).content.decode()

    link = (
        reverse("admin:members_paymentfollowup_changelist")
        + f"?state__exact=failed&amp;invoice__cluster__id__exact={term.membership.cluster_id}"
    )
    assert "Relance de paiement en échec" in content
    assert link in content
    listed = client.get(link.replace("&amp;", "&")).context["cl"].result_list
    assert [entry.reason for entry in listed] == ["no_contact"]
