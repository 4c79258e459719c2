"""The consultation on the successor's name in the member area: who may act for an organisation,
another organisation's ids, malformed ballots, double submits, the result for every member."""

import pytest
from django.urls import reverse

from assemblies.consultations import name_consultation_advance, name_proposal_moderate
from assemblies.models import (
    ConsultationPhase,
    NameBallot,
    NameProposal,
    NameTally,
    ProposalStatus,
    VoterDesignation,
)
from members.models import ContactRole
from members.services import contact_login_ensure
from tests.assemblies.helpers import member_in_good_standing
from tests.assemblies.test_name_consultation import advance, open_consultation, propose
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def signed_in(client, organisation, *, role=ContactRole.PRIMARY):
    """A contact of ``organisation`` with ``role``, signed in."""
    contact = ContactFactory(organisation=organisation, role=role)
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    return contact


def organisation_url(consultation, organisation) -> str:
    return reverse(
        "assemblies:name_consultation_organisation", args=[consultation.pk, organisation.pk]
    )


def test_a_primary_contact_proposes_from_the_member_area_and_a_double_click_adds_nothing(client):
    member = member_in_good_standing()
    consultation = open_consultation()
    signed_in(client, member.organisation)

    area = client.get(reverse("members:area")).content.decode()
    assert "Proposer des noms" in area
    assert reverse("assemblies:name_consultation", args=[consultation.pk]) in area
    page = client.get(reverse("assemblies:name_consultation", args=[consultation.pk]))
    assert "Vote par approbation" in page.content.decode()

    data = {"name": "Occitanie Numérique", "reason": "Il dit la région et le métier"}
    first = client.post(organisation_url(consultation, member.organisation), data, follow=True)
    second = client.post(organisation_url(consultation, member.organisation), data)

    assert "La proposition de" in first.content.decode()
    assert "a déjà proposé ce nom" in second.content.decode()
    assert NameProposal.objects.get().name == "Occitanie Numérique"


def test_the_designated_voter_acts_an_ordinary_contact_does_not(client):
    member = member_in_good_standing()
    consultation = open_consultation()
    contact = signed_in(client, member.organisation, role=ContactRole.MEMBER)
    url = organisation_url(consultation, member.organisation)

    assert client.get(url).status_code == 403
    VoterDesignation.objects.create(organisation=member.organisation, contact=contact)
    assert client.get(url).status_code == 200


def test_another_organisations_ids_answer_404(client):
    mine, other = member_in_good_standing(), member_in_good_standing()
    consultation = open_consultation()
    signed_in(client, mine.organisation)

    response = client.post(
        organisation_url(consultation, other.organisation), {"name": "X", "reason": "Y"}
    )
    assert response.status_code == 404
    assert client.get(f"/espace/consultation-nom/{consultation.pk + 1}/").status_code == 404
    assert client.get("/espace/consultation-nom/abc/").status_code == 404
    assert not NameProposal.objects.exists()


def test_a_user_who_is_no_contact_sees_no_consultation(client):
    consultation = open_consultation()
    client.force_login(UserFactory())

    response = client.get(reverse("assemblies:name_consultation", args=[consultation.pk]))
    assert response.status_code == 404


@pytest.mark.parametrize("approved", [[], ["abc"], ["999999"], ["1.5"]])
def test_a_malformed_ballot_is_a_form_error_and_counts_nothing(client, approved):
    proposer = member_in_good_standing()
    consultation = open_consultation()
    proposals = [propose(consultation, proposer, name) for name in ("Alpha", "Beta")]
    for proposal in proposals:
        name_proposal_moderate(proposal=proposal, status=ProposalStatus.ACCEPTED, by=None)
    consultation = advance(consultation, to=ConsultationPhase.VOTING)
    voter = member_in_good_standing()
    signed_in(client, voter.organisation)

    response = client.post(
        organisation_url(consultation, voter.organisation), {"approved": approved}
    )

    assert response.status_code == 200
    assert "Le formulaire contient des erreurs" in response.content.decode()
    assert not NameBallot.objects.exists()
    assert set(NameTally.objects.values_list("count", flat=True)) == {0}


def test_a_member_votes_once_and_every_member_reads_the_result(client):
    proposer = member_in_good_standing()
    consultation = open_consultation()
    alpha, beta = (propose(consultation, proposer, name) for name in ("Alpha", "Beta"))
    for proposal in (alpha, beta):
        name_proposal_moderate(proposal=proposal, status=ProposalStatus.ACCEPTED, by=None)
    consultation = advance(consultation, to=ConsultationPhase.VOTING)
    voter = member_in_good_standing()
    signed_in(client, voter.organisation)
    url = organisation_url(consultation, voter.organisation)

    client.post(url, {"approved": [alpha.pk]})
    again = client.post(url, {"approved": [alpha.pk, beta.pk]})
    assert "a voté" in again.content.decode()
    assert dict(NameTally.objects.values_list("candidate__name", "count")) == {
        "Alpha": 1,
        "Beta": 0,
    }

    name_consultation_advance(consultation=consultation, by=None)
    name_consultation_advance(consultation=consultation, by=None)
    signed_in(client, proposer.organisation, role=ContactRole.MEMBER)
    page = client.get(reverse("assemblies:name_consultation", args=[consultation.pk]))
    text = page.content.decode()
    assert "Résultat" in text and "1 bulletin sur 2" in text
    assert "Le nom le plus approuvé est « Alpha »" in text
    assert "Voir le résultat" in client.get(reverse("members:area")).content.decode()
