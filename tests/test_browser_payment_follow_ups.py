"""The payment follow-up policy's page in a real browser: a cluster's staff change a step's text
and save, see it in French and English, and send one step to themselves with its button (a
button of the policy's form posted elsewhere: the form's other fields are not saved by it)."""

import pytest

from members.models import Cluster, PaymentFollowUpPolicy, PaymentFollowUpStep
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def test_staff_edit_a_step_see_it_in_both_languages_and_try_it_on_themselves(
    live_server, page, mailbox
):
    staff_user_ensure(
        email="staff@digitalplace.example",
        password="browser-test-pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug="digitalplace")],
    )
    policy = PaymentFollowUpPolicy.objects.get(cluster__slug="digitalplace")
    url = f"{live_server.url}/admin/members/paymentfollowuppolicy/{policy.pk}/change/"
    page.goto(
        live_server.url
        + f"/admin/login/?next=/admin/members/paymentfollowuppolicy/{policy.pk}/change/"
    )
    page.fill("#id_username", "staff@digitalplace.example")
    page.fill("#id_password", "browser-test-pw")
    page.get_by_role("button", name="Connexion").click()
    page.wait_for_url(url)

    page.fill("#id_steps-0-subject_fr", "Rappel amical : facture {invoice_number}")
    page.get_by_role("button", name="Enregistrer et continuer les modifications").click()
    page.wait_for_url(url)
    previews = page.locator("section.reminder-previews")
    # The cluster has issued no invoice yet: an invented one, numbered as its would be.
    assert previews.get_by_text("Rappel amical : facture DP-0000-00001").is_visible()
    assert previews.get_by_text("Invoice DP-0000-00001: payment pending").is_visible()

    # Typed but not saved: the test button sends the saved text, and saves nothing.
    page.fill("#id_steps-0-subject_fr", "Jamais enregistré")
    previews.get_by_role(
        "button", name="M’envoyer un essai (staff@digitalplace.example)"
    ).first.click()
    page.wait_for_url(url)

    assert page.get_by_text("Essai de la relance de paiement J+15 (Français) envoyé à").is_visible()
    [message] = mailbox.wait_for(1)
    assert message["To"] == "staff@digitalplace.example"
    assert " ".join(message["Subject"].split()) == "[Essai] Rappel amical : facture DP-0000-00001"
    step = PaymentFollowUpStep.objects.get(policy=policy, days_after_due=15)
    assert step.subject_fr == "Rappel amical : facture {invoice_number}"
