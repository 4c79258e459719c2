"""The consultation in the admin: the committee opens it and moves its phases (a second tab moves
nothing twice), staff moderate their clusters' members' proposals, the committee names the
successor; members and staff cannot do what is not theirs."""

import pytest
from django.urls import reverse

from assemblies.consultations import name_ballot_cast
from assemblies.models import ConsultationPhase, NameConsultation, ProposalStatus
from merger.selectors import merger_current
from tests.assemblies.helpers import member_in_good_standing
from tests.assemblies.test_name_consultation import accept, advance, open_consultation, propose
from tests.factories import UserFactory, committee_user, staff_user

pytestmark = pytest.mark.django_db


def moderate_url(proposal) -> str:
    return reverse("admin:assemblies_nameproposal_moderate", args=[proposal.pk])


def test_the_committee_opens_one_consultation_and_moves_its_phases_once(client):
    client.force_login(committee_user())
    add = reverse("admin:assemblies_nameconsultation_add")
    data = {"merger": merger_current().pk, "title": "Appel à noms", "proposals_per_organisation": 3}

    assert client.post(add, data).status_code == 302
    again = client.post(add, data)
    assert again.status_code == 200 and NameConsultation.objects.count() == 1
    consultation = NameConsultation.objects.get()
    assert consultation.opened_by is not None

    url = reverse("admin:assemblies_nameconsultation_advance", args=[consultation.pk])
    client.post(url, {"expected_phase": "proposals"})
    client.post(url, {"expected_phase": "proposals"})  # a second tab
    consultation.refresh_from_db()
    assert consultation.phase == ConsultationPhase.MODERATION

    page = client.post(url, {"expected_phase": "moderation"}, follow=True).content.decode()
    assert "au moins deux noms" in page
    consultation.refresh_from_db()
    assert consultation.phase == ConsultationPhase.MODERATION


def test_staff_merge_the_same_name_written_twice_and_refuse_only_with_a_reason(client):
    first, second = member_in_good_standing(), member_in_good_standing()
    consultation = open_consultation()
    original = propose(consultation, first, "Occitanie Numérique")
    twice = propose(consultation, second, "OCCITANIE numérique")
    accept(original)
    client.force_login(staff_user("digitalplace"))

    page = client.get(moderate_url(twice)).content.decode()
    assert "Le même nom, écrit autrement" in page
    assert f'value="{original.pk}" selected' in page
    client.post(moderate_url(twice), {"status": "merged", "into": original.pk})
    twice.refresh_from_db()
    assert (twice.status, twice.merged_into) == (ProposalStatus.MERGED, original)

    refused = client.post(moderate_url(original), {"status": "refused", "refusal_reason": ""})
    assert "Indiquez le motif du refus" in refused.content.decode()
    original.refresh_from_db()
    assert original.status == ProposalStatus.ACCEPTED


def test_staff_see_only_their_clusters_proposals_and_members_cannot_moderate(client):
    consultation = open_consultation()
    theirs = propose(consultation, member_in_good_standing("frenchsouth"), "Sud Numérique")
    client.force_login(staff_user("digitalplace"))

    assert client.get(moderate_url(theirs)).status_code == 404
    assert client.post(moderate_url(theirs), {"status": "accepted"}).status_code == 404
    advance_url = reverse("admin:assemblies_nameconsultation_advance", args=[consultation.pk])
    assert client.post(advance_url, {"expected_phase": "proposals"}).status_code == 403

    client.force_login(UserFactory())
    response = client.post(moderate_url(theirs), {"status": "accepted"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    theirs.refresh_from_db()
    assert theirs.status == ProposalStatus.PENDING


def test_the_committee_reads_the_result_and_names_the_successor(client):
    consultation = open_consultation()
    proposer = member_in_good_standing()
    alpha, beta = (propose(consultation, proposer, name) for name in ("Alpha", "Beta"))
    accept(alpha, beta)
    consultation = advance(consultation, to=ConsultationPhase.VOTING)
    name_ballot_cast(
        consultation=consultation, organisation=proposer.organisation, approved=[beta.pk]
    )
    consultation = advance(consultation, to=ConsultationPhase.PUBLISHED)
    client.force_login(committee_user())

    change = client.get(reverse("admin:assemblies_nameconsultation_change", args=[consultation.pk]))
    assert "Le plus approuvé : Beta." in change.content.decode()
    url = reverse("admin:assemblies_nameconsultation_name", args=[consultation.pk])
    refused = client.post(url, {"candidate": alpha.pk, "reason": ""})
    assert "indiquez le motif de ce choix" in refused.content.decode()
    client.post(url, {"candidate": beta.pk})

    merger = merger_current()
    assert merger.successor.name == "Beta"
    home = client.get("/").content.decode()
    assert "transférée à « Beta »" in home and "bientôt réunis dans « Beta »" in home
    assert (
        "Beta"
        in client.get(reverse("admin:merger_merger_change", args=[merger.pk])).content.decode()
    )
