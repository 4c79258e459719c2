"""The assemblies in the admin: a cluster's staff prepare and run their cluster's assemblies (the
steps as confirmed buttons, the list of voices and its exports, the attendance page, the ballots
cast in the room, the results); the committee reads every one and writes none; another cluster's
ids answer 404, malformed values a 400 or a form error, a double submit the service's refusal."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.forms import inlineformset_factory, modelform_factory
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from assemblies.admin.assemblies import AgendaFormSet, AssemblyForm
from assemblies.models import (
    Assembly,
    AssemblyState,
    Attendance,
    Ballot,
    Proxy,
    Resolution,
    ResolutionTally,
    Voice,
    VoteChoice,
)
from assemblies.services import assembly_preparation_check, proxy_give, voting_close, voting_open
from tests.assemblies.helpers import assembly_convened, assembly_draft, member_in_good_standing
from tests.factories import UserFactory, cluster, committee_user, staff_user

pytestmark = pytest.mark.django_db

PAGES = ("change", "voices", "room", "results")
WRITES = ("convene", "open", "close", "second")


def url(name: str, assembly: Assembly | int, *args) -> str:
    pk = assembly if isinstance(assembly, int) else assembly.pk
    return reverse(f"admin:assemblies_assembly_{name}", args=[pk, *args])


def said(response) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def choices_for(assembly: Assembly, choice: str = VoteChoice.FOR) -> dict[str, str]:
    return {f"resolution_{r.pk}": choice for r in assembly.resolutions.all()}


@pytest.fixture
def dp_staff(client):
    user = staff_user("digitalplace")
    client.force_login(user)
    return user


@pytest.fixture
def convened():
    """A DigitalPlace assembly convened on three members in good standing."""
    for _ in range(3):
        member_in_good_standing("digitalplace")
    return assembly_convened("digitalplace")


@pytest.fixture
def voting(convened):
    voting_open(assembly=convened)
    convened.refresh_from_db()
    return convened


def voices(assembly: Assembly) -> list[Voice]:
    return list(assembly.voices.select_related("organisation").order_by("organisation__name"))


# --- Who sees what ---


def test_staff_see_their_clusters_assemblies_only(client, dp_staff):
    ours = assembly_draft("digitalplace", title="AG DigitalPlace")
    assembly_draft("frenchsouth", title="AG FrenchSouth")
    response = client.get(reverse("admin:assemblies_assembly_changelist"))
    assert [a.pk for a in response.context["cl"].result_list] == [ours.pk]


def test_another_clusters_assembly_is_a_404_in_every_url(client, dp_staff):
    member_in_good_standing("frenchsouth")
    theirs = assembly_convened("frenchsouth")
    voice = theirs.voices.get()
    for name in PAGES:
        assert client.get(url(name, theirs)).status_code == 404, name
    for name in WRITES:
        assert client.post(url(name, theirs)).status_code == 404, name
    assert client.get(url("voices_export", theirs, "csv")).status_code == 404
    assert client.post(url("strike_off", theirs, voice.pk), {"reason": "x"}).status_code == 404
    assert (
        client.post(url("attendance", theirs, voice.pk), {"attendance": "room"}).status_code == 404
    )
    assert client.get(url("room_ballot", theirs, voice.pk)).status_code == 404
    voice.refresh_from_db()
    assert voice.attendance == Attendance.ABSENT and voice.struck_off_at is None


def test_an_assembly_cannot_be_prepared_for_another_cluster(client, dp_staff):
    day = (timezone.localdate() + dt.timedelta(days=30)).strftime("%d/%m/%Y")
    data = {
        "kind": "ordinary",
        "title": "AG",
        "starts_at_0": day,
        "starts_at_1": "18:00",
        "eligibility": "current",
        "notice_days": "15",
        "quorum_percent": "25",
        "second_quorum_percent": "0",
        "max_proxies": "2",
        "resolutions-TOTAL_FORMS": "0",
        "resolutions-INITIAL_FORMS": "0",
        "documents-TOTAL_FORMS": "0",
        "documents-INITIAL_FORMS": "0",
    }
    add = reverse("admin:assemblies_assembly_add")
    refused = client.post(add, data | {"cluster": str(cluster("frenchsouth").pk)})
    assert refused.status_code == 200 and "cluster" in refused.context["adminform"].form.errors
    assert not Assembly.objects.exists()
    client.post(add, data | {"cluster": str(cluster("digitalplace").pk)})
    assert Assembly.objects.get().cluster.slug == "digitalplace"


def test_another_assemblys_voice_in_our_assemblys_url_is_a_404(client, dp_staff, convened):
    member_in_good_standing("frenchsouth")
    their_voice = assembly_convened("frenchsouth").voices.get()
    voting_open(assembly=convened)
    for name in ("attendance", "room_ballot", "strike_off"):
        response = client.post(url(name, convened, their_voice.pk), {"attendance": "room"})
        assert response.status_code == 404, name
    assert not Ballot.objects.exists()


def test_malformed_ids_and_values_never_answer_500(client, dp_staff, convened):
    voice = voices(convened)[0]
    assert client.get("/admin/assemblies/assembly/abc/emargement/").status_code == 404
    assert client.get(url("room", 2**70)).status_code == 404
    huge = url("attendance", convened, 2**70)
    assert client.post(huge, {"attendance": "room"}).status_code == 404
    bad = client.post(url("attendance", convened, voice.pk), {"attendance": "dancing"})
    assert bad.status_code == 400
    assert "dancing" in bad.content.decode()
    assert client.get(url("voices_export", convened, "pdf")).status_code == 404
    voice.refresh_from_db()
    assert voice.attendance == Attendance.ABSENT


def test_the_committee_reads_every_assembly_and_writes_none(client, convened):
    member_in_good_standing("frenchsouth")
    theirs = assembly_convened("frenchsouth")
    client.force_login(committee_user())
    for assembly in (convened, theirs):
        for name in PAGES:
            assert client.get(url(name, assembly)).status_code == 200, name
        assert client.get(url("voices_export", assembly, "xlsx")).status_code == 200
    voice = voices(convened)[0]
    for name in WRITES:
        assert client.post(url(name, convened)).status_code == 403, name
    assert (
        client.post(url("attendance", convened, voice.pk), {"attendance": "room"}).status_code
        == 403
    )
    assert client.post(url("strike_off", convened, voice.pk), {"reason": "x"}).status_code == 403
    assert client.get(url("room_ballot", convened, voice.pk)).status_code == 403
    room = client.get(url("room", convened)).content.decode()
    assert 'name="attendance"' not in room
    convened.refresh_from_db()
    assert convened.state == AssemblyState.CONVENED


def test_superusers_see_every_assembly(client, convened):
    assembly_draft("frenchsouth")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:assemblies_assembly_changelist"))
    assert len(response.context["cl"].result_list) == 2


# --- Preparing and convening ---


def test_the_rules_are_grouped_and_explained(client, dp_staff):
    assembly = assembly_draft("digitalplace")
    page = client.get(url("change", assembly)).content.decode()
    for heading in ("Qui vote", "Convocation et quorum", "Pouvoirs et scrutin"):
        assert heading in page
    assert "la liste est alors figée" in page
    assert "Convoquer l’assemblée" in page
    assert "Émargement" not in page


def test_convening_shows_the_list_first_then_freezes_it_once(client, dp_staff):
    members = [member_in_good_standing("digitalplace") for _ in range(3)]
    assembly = assembly_draft("digitalplace")
    preview = client.get(url("convene", assembly))
    page = preview.content.decode()
    assert "La liste comptera 3 voix." in page
    for membership in members:
        assert membership.organisation.name in page
    assert not Voice.objects.exists()

    response = client.post(url("convene", assembly))
    assert response.status_code == 302
    assert "Assemblée convoquée : 3 voix sur la liste." in said(response)
    again = client.post(url("convene", assembly))
    assert "Cette assemblée a déjà été convoquée." in said(again)
    assert assembly.voices.count() == 3
    assembly.refresh_from_db()
    assert assembly.convened_by == dp_staff


def test_a_convened_assembly_keeps_its_rules_agenda_and_documents(client, dp_staff, convened):
    page = client.get(url("change", convened)).content.decode()
    assert "les règles, l’ordre du jour et les documents ne changent plus" in page
    assert 'name="quorum_percent"' not in page
    assert 'name="resolutions-TOTAL_FORMS"' not in page or 'name="resolutions-0-title"' not in page
    resolution = convened.resolutions.first()
    # A second tab's form of the assembly in preparation, posted after the convocation.
    client.post(
        url("change", convened),
        {
            "quorum_percent": "1",
            "chair_name": "Claire Durand",
            "secretary_name": "Paul Lefebvre",
            "resolutions-TOTAL_FORMS": "1",
            "resolutions-INITIAL_FORMS": "1",
            "resolutions-0-id": str(resolution.pk),
            "resolutions-0-assembly": str(convened.pk),
            "resolutions-0-position": "1",
            "resolutions-0-title": "Changée",
            "resolutions-0-majority": "simple",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
        },
    )
    convened.refresh_from_db()
    resolution.refresh_from_db()
    assert convened.quorum_percent == Decimal("25")
    assert resolution.title == "Résolution 1"


def test_the_rules_posted_after_a_convocation_in_another_tab_are_refused(convened):
    # The form as the first tab read it, the assembly still in preparation then.
    stale = Assembly.objects.get(pk=convened.pk)
    stale.state = AssemblyState.DRAFT
    form_class = modelform_factory(Assembly, form=AssemblyForm, fields=["quorum_percent"])
    form = form_class({"quorum_percent": "1"}, instance=stale)
    assert not form.is_valid()
    assert "ses règles, son ordre du jour et ses documents ne changent plus" in str(form.errors)
    formset_class = inlineformset_factory(
        Assembly, Resolution, formset=AgendaFormSet, fields=["position", "title", "majority"]
    )
    formset = formset_class(
        {
            "resolutions-TOTAL_FORMS": "1",
            "resolutions-INITIAL_FORMS": "0",
            "resolutions-0-position": "9",
            "resolutions-0-title": "Ajoutée",
            "resolutions-0-majority": "simple",
        },
        instance=stale,
    )
    assert not formset.is_valid()
    assert "ne changent plus" in str(formset.non_form_errors())
    with pytest.raises(ValidationError):
        assembly_preparation_check(assembly=stale)
    assert convened.resolutions.count() == 2


def test_opening_and_closing_the_vote_each_once(client, dp_staff, convened):
    page = client.get(url("change", convened)).content.decode()
    assert "Ouvrir le vote" in page
    assert "Les pouvoirs ne pourront plus" in client.get(url("open", convened)).content.decode()
    assert "Vote ouvert" in said(client.post(url("open", convened)))
    assert "ne peut s’ouvrir que sur une assemblée convoquée" in said(
        client.post(url("open", convened))
    )
    assert "Vote clos" in said(client.post(url("close", convened)))
    assert "Le vote n’est pas ouvert." in said(client.post(url("close", convened)))
    convened.refresh_from_db()
    assert convened.state == AssemblyState.CLOSED


def test_a_second_convocation_when_the_quorum_was_not_reached(client, dp_staff, voting):
    voting_close(assembly=voting)
    assert "Seconde convocation" in client.get(url("change", voting)).content.decode()
    malformed = client.post(
        url("second", voting), {"starts_at_0": "31/02/2027", "starts_at_1": "x"}
    )
    assert malformed.status_code == 200
    assert malformed.context["form"].errors
    day = (timezone.localdate() + dt.timedelta(days=40)).strftime("%d/%m/%Y")
    response = client.post(url("second", voting), {"starts_at_0": day, "starts_at_1": "18:00"})
    second = Assembly.objects.get(first_convocation=voting)
    assert response["Location"] == url("change", second)
    assert second.state == AssemblyState.DRAFT and second.resolutions.count() == 2
    again = client.post(url("second", voting), {"starts_at_0": day, "starts_at_1": "18:00"})
    assert "existe déjà" in said(again)
    assert Assembly.objects.filter(first_convocation=voting).count() == 1


# --- The list of voices ---


def test_the_list_of_voices_and_its_exports_escape_formulae(client, dp_staff):
    membership = member_in_good_standing("digitalplace")
    membership.organisation.name = '=HYPERLINK("http://x")'
    membership.organisation.save()
    voter = membership.organisation.contacts.get()
    voter.first_name, voter.last_name, voter.email = "+33 Jean", "@Dupont", "jean@example.org"
    voter.save()
    member_in_good_standing("digitalplace")
    assembly = assembly_convened("digitalplace")
    page = client.get(url("voices", assembly)).content.decode()
    assert "2 voix, liste figée" in page
    assert "jean@example.org" in page

    response = client.get(url("voices_export", assembly, "csv"))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Organisation", "N° d’adhérent", "Votant", "E-mail"]
    dangerous = next(row for row in rows if "HYPERLINK" in row[0])
    assert dangerous[0] == '\'=HYPERLINK("http://x")'
    assert dangerous[2] == "'+33 Jean @Dupont"
    assert dangerous[4:8] == ["Absent", "", "", "non"]

    workbook = load_workbook(io.BytesIO(client.get(url("voices_export", assembly, "xlsx")).content))
    cells = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    assert len(cells) == 3
    assert [row[0] for row in cells if "HYPERLINK" in row[0]] == ['\'=HYPERLINK("http://x")']


def test_striking_a_voice_off_revokes_its_proxies_and_says_which(client, dp_staff, convened):
    giver, holder, _other = voices(convened)
    proxy_give(giver=giver, holder=holder, by=None)
    empty = client.post(url("strike_off", convened, holder.pk), {"reason": "  "})
    assert empty.status_code == 200 and empty.context["form"].errors
    response = client.post(url("strike_off", convened, holder.pk), {"reason": "Démission"})
    message = said(response)
    assert f"{holder.organisation} radiée de la liste." in message
    assert f"Pouvoirs révoqués : {giver.organisation} → {holder.organisation}." in message
    assert not Proxy.objects.filter(revoked_at__isnull=True).exists()
    again = client.post(url("strike_off", convened, holder.pk), {"reason": "Démission"})
    assert "déjà été radiée" in said(again)
    page = client.get(url("voices", convened)).content.decode()
    assert "Démission" in page


# --- The day in the room ---


def test_attendance_one_click_each_and_the_running_count(client, dp_staff, convened):
    first, _second, third = voices(convened)
    proxy_give(giver=third, holder=first, by=None)
    page = client.get(url("room", convened))
    assert page.context["results"].present == 0
    assert f"Représentée par {first.organisation}" in page.content.decode()

    response = client.post(url("attendance", convened, first.pk), {"attendance": "room"})
    assert response["Location"].endswith(f"#voice-{first.pk}")
    client.post(url("attendance", convened, first.pk), {"attendance": "room"})  # a double click
    results = client.get(url("room", convened)).context["results"]
    assert (results.present, results.represented, results.quorum_met) == (1, 1, True)

    refused = client.post(url("attendance", convened, third.pk), {"attendance": "room"})
    assert "a donné un pouvoir : elle est représentée" in said(refused)
    client.post(url("attendance", convened, first.pk), {"attendance": "absent"})
    results = client.get(url("room", convened)).context["results"]
    assert (results.present, results.represented) == (0, 0)


def test_room_ballots_once_each_and_through_the_proxies(client, dp_staff, convened):
    first, second, third = voices(convened)
    proxy_give(giver=second, holder=first, by=None)
    proxy_give(giver=third, holder=None, by=None)
    voting_open(assembly=convened)
    client.post(url("attendance", convened, first.pk), {"attendance": "room"})

    form = client.get(url("room_ballot", convened, second.pk)).content.decode()
    assert f"Cette voix a donné pouvoir à {first.organisation}" in form
    incomplete = client.post(url("room_ballot", convened, first.pk), {})
    assert incomplete.status_code == 200 and "Répondez à chaque résolution." in (
        incomplete.content.decode()
    )
    bogus = client.post(
        url("room_ballot", convened, first.pk), choices_for(convened, "maybe") | {"x": "1"}
    )
    assert bogus.status_code == 200 and bogus.context["form"].errors
    assert not Ballot.objects.exists()

    for voice in (first, second, third):
        response = client.post(url("room_ballot", convened, voice.pk), choices_for(convened))
        assert f"Vote de {voice.organisation} enregistré." in said(response)
    again = client.post(url("room_ballot", convened, first.pk), choices_for(convened))
    assert f"{first.organisation} a déjà voté." in said(again)
    second_tab = client.get(url("room_ballot", convened, first.pk))
    assert second_tab.status_code == 302 and "a déjà voté" in said(second_tab)

    ballots = {ballot.voice_id: ballot for ballot in Ballot.objects.all()}
    assert len(ballots) == 3
    assert ballots[first.pk].channel == "room" and ballots[first.pk].recorded_by == dp_staff
    assert ballots[second.pk].cast_by_holder_id == first.pk
    assert ballots[third.pk].cast_by_chair
    resolution = convened.resolutions.first()
    assert ResolutionTally.objects.get(resolution=resolution, choice=VoteChoice.FOR).count == 3

    results = client.get(url("results", convened))
    page = results.content.decode()
    assert "atteint" in page and "vote en cours" in page  # adopted or not at the close
    assert results.context["results"].resolutions[0].votes_for == 3


def test_the_attendance_page_does_not_grow_in_queries(
    client, dp_staff, django_assert_max_num_queries
):
    for _ in range(200):
        member_in_good_standing("digitalplace")
    assembly = assembly_convened("digitalplace")
    all_voices = voices(assembly)
    for giver, holder in zip(all_voices[:40], all_voices[100:140], strict=True):
        proxy_give(giver=giver, holder=holder, by=None)
    voting_open(assembly=assembly)
    for voice in all_voices[100:180]:
        client.post(url("attendance", assembly, voice.pk), {"attendance": "room"})
    with django_assert_max_num_queries(20):
        response = client.get(url("room", assembly))
    assert response.content.decode().count('id="voice-') == 200
    assert response.context["results"].represented == 40
    with django_assert_max_num_queries(20):
        client.get(url("voices", assembly))
    with django_assert_max_num_queries(20):
        client.get(url("voices_export", assembly, "xlsx"))
