"""The consultation on the successor's name in a real browser: a member signed in by code
proposes a name, staff accept it in the admin, the member votes by approval, the result shows in
the member area."""

import pytest
from playwright.sync_api import expect

from assemblies.consultations import name_consultation_advance, name_proposal_moderate
from assemblies.models import ConsultationPhase, NameConsultation, ProposalStatus
from tests.assemblies.helpers import member_in_good_standing
from tests.assemblies.test_name_consultation import open_consultation, propose
from tests.factories import staff_user
from tests.test_browser_member import sign_in_by_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_member_proposes_staff_accept_the_member_votes_and_reads_the_result(
    live_server, page, mailbox, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    member = member_in_good_standing()
    contact = member.organisation.contacts.get()
    consultation = open_consultation()
    other = propose(consultation, member_in_good_standing(), "Num’Oc")
    name_proposal_moderate(proposal=other, status=ProposalStatus.ACCEPTED, by=None)

    # The member proposes a name from the member area.
    sign_in_by_code(page, live_server, mailbox, contact.email)
    page.get_by_role("link", name="Proposer des noms").click()
    expect(page.get_by_text("Vote par approbation")).to_be_visible()
    page.get_by_role("link", name="proposer des noms").click()
    page.get_by_label("Nom proposé").fill("Occitanie Numérique")
    page.get_by_label("Pourquoi ce nom ?").fill("Il dit la région et le métier.")
    page.get_by_role("button", name="Proposer ce nom").click()
    expect(page.get_by_text("La proposition de")).to_be_visible()
    expect(page.get_by_role("row", name="Occitanie Numérique")).to_contain_text(
        "En attente de modération"
    )

    # Staff accept it in the admin.
    staff = staff_user("digitalplace")
    staff.set_password("motdepasse-du-personnel")
    staff.save()
    admin = page.context.browser.new_context(locale="fr-FR").new_page()
    admin.goto(live_server.url + "/admin/login/?next=/admin/assemblies/nameproposal/")
    admin.fill("#id_username", staff.username)
    admin.fill("#id_password", "motdepasse-du-personnel")
    admin.get_by_role("button", name="Connexion").click()
    admin.get_by_role("link", name="Modérer « Occitanie Numérique »").click()
    admin.get_by_label("Retenir pour le vote").check()
    admin.get_by_role("button", name="Enregistrer la décision").click()
    expect(admin.get_by_text("Retenue pour le vote").first).to_be_visible()
    admin.context.close()

    # The committee opens the vote; the member approves the name.
    consultation = NameConsultation.objects.get()
    name_consultation_advance(consultation=consultation, by=None)
    name_consultation_advance(consultation=consultation, by=None)
    page.goto(live_server.url + "/espace/")
    page.get_by_role("link", name="Voter pour le nom").click()
    expect(page.get_by_role("listitem").filter(has_text="Num’Oc")).to_be_visible()
    page.get_by_role("link", name="voter", exact=True).click()
    page.get_by_label("Occitanie Numérique").check()
    page.get_by_role("button", name="Voter").click()
    expect(page.get_by_text("est enregistré. Merci")).to_be_visible()
    expect(page.get_by_text("Cette organisation a voté.")).to_be_visible()

    # The result is published in the member area.
    consultation.refresh_from_db()
    assert consultation.phase == ConsultationPhase.VOTING
    name_consultation_advance(consultation=consultation, by=None)
    name_consultation_advance(consultation=consultation, by=None)
    page.goto(live_server.url + "/espace/")
    page.get_by_role("link", name="Voir le résultat").click()
    expect(page.get_by_role("row", name="Occitanie Numérique")).to_contain_text("1")
    expect(page.get_by_text("Le nom le plus approuvé est « Occitanie Numérique ».")).to_be_visible()
