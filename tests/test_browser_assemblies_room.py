"""The day of the assembly in a real browser, on a tablet's screen: staff open the attendance
page, mark voices present with one click each, record a ballot cast in the room, and watch the
count of present and represented voices and the quorum change. No page is wider than the screen."""

import pytest
from playwright.sync_api import expect

from assemblies.models import Ballot, BallotChannel
from assemblies.services import proxy_give, voting_open
from members.models import Cluster
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from tests.assemblies.helpers import assembly_convened, member_in_good_standing

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-pw"
NAMES = ("Aude Robotique", "Garonne Data", "Ondine Vision", "Pic du Midi Labs")
TABLET = {"width": 820, "height": 1180}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_staff_mark_attendance_and_record_a_room_ballot_on_a_tablet(live_server, page):
    for name in NAMES:
        organisation = member_in_good_standing("digitalplace").organisation
        organisation.name = name
        organisation.save()
    assembly = assembly_convened("digitalplace", quorum_percent=75)
    voices = {voice.organisation.name: voice for voice in assembly.voices.all()}
    proxy_give(giver=voices["Pic du Midi Labs"], holder=None, by=None)
    voting_open(assembly=assembly)
    staff_user_ensure(
        email="staff@digitalplace.example",
        password=PASSWORD,
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug="digitalplace")],
    )
    page.set_viewport_size(TABLET)
    page.goto(
        f"{live_server.url}/admin/login/?next=/admin/assemblies/assembly/{assembly.pk}/change/"
    )
    page.fill("#id_username", "staff@digitalplace.example")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Connexion").click()

    page.get_by_role("link", name="Émargement").click()
    counts = page.locator(".assembly-counts")
    expect(counts).to_contain_text("Présents 0")
    expect(counts).to_contain_text("Représentés 1")
    expect(counts).to_contain_text("non atteint : 3 voix nécessaires")
    expect(page.locator(f"#voice-{voices['Pic du Midi Labs'].pk}")).to_contain_text(
        "Représentée par le président de séance"
    )
    assert fits(page)

    # The clicks are posted in the background: the page stays where it is, not reloaded.
    page.evaluate("window.sameDocument = true")
    page.get_by_role("button", name="Aude Robotique présente").click()
    expect(counts).to_contain_text("Présents 1")
    page.get_by_role("button", name="Garonne Data présente").click()
    expect(counts).to_contain_text("Présents 2")
    expect(counts).to_contain_text("Quorum (75 %) atteint")
    aude = page.locator(f"#voice-{voices['Aude Robotique'].pk}")
    expect(aude).to_contain_text("Présent dans la salle")
    assert page.evaluate("window.sameDocument === true")

    aude.get_by_role("link", name="Enregistrer le vote").click()
    for resolution in ("1. Résolution 1", "2. Résolution 2"):
        page.get_by_role("group", name=resolution).get_by_label("Pour").check()
    page.get_by_role("button", name="Enregistrer le vote").click()
    expect(page.locator(".messagelist")).to_contain_text("Vote de Aude Robotique enregistré.")
    expect(aude).to_contain_text("A voté")
    assert fits(page)

    chair = page.locator(f"#voice-{voices['Pic du Midi Labs'].pk}")
    chair.get_by_role("link", name="Vote du mandataire").click()
    expect(page.get_by_text("c’est son mandataire qui vote pour elle")).to_be_visible()
    for resolution in ("1. Résolution 1", "2. Résolution 2"):
        page.get_by_role("group", name=resolution).get_by_label("Contre").check()
    page.get_by_role("button", name="Enregistrer le vote").click()
    expect(chair).to_contain_text("A voté")

    page.get_by_role("link", name=assembly.title).first.click()
    page.get_by_role("link", name="Résultats").click()
    results = page.locator("table.assembly-results tbody tr").first
    expect(results).to_contain_text("vote en cours")  # the outcome is for the close
    assert {ballot.voice.organisation.name: ballot for ballot in Ballot.objects.all()}.keys() == {
        "Aude Robotique",
        "Pic du Midi Labs",
    }
    assert set(Ballot.objects.values_list("channel", flat=True)) == {BallotChannel.ROOM}
    assert Ballot.objects.get(voice=voices["Pic du Midi Labs"]).cast_by_chair
