"""The consultation on the successor's name as its services apply it: proposals within their
limit, moderation (duplicates merged, refusals with a reason), one secret ballot per member
organisation of either source cluster, the phases in their order, the result and the renaming."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from assemblies.consultations import (
    consultation_result,
    name_ballot_cast,
    name_consultation_advance,
    name_consultation_open,
    name_normalised,
    name_proposal_moderate,
    name_propose,
    proposal_duplicates,
    successor_name_set,
)
from assemblies.models import (
    ConsultationPhase,
    NameBallot,
    NameProposal,
    NameTally,
    ProposalStatus,
)
from members.models import Cluster
from merger.models import MergerEvent
from merger.selectors import merger_current
from tests.assemblies.helpers import member_in_good_standing
from tests.factories import MembershipFactory, TermFactory

pytestmark = pytest.mark.django_db


def open_consultation(**options):
    return name_consultation_open(merger=merger_current(), by=None, **options)


def propose(consultation, membership, name, reason="Parce qu’il sonne bien"):
    return name_propose(
        consultation=consultation,
        organisation=membership.organisation,
        contact=membership.organisation.contacts.first(),
        name=name,
        reason=reason,
    )


def accept(*proposals):
    for proposal in proposals:
        name_proposal_moderate(proposal=proposal, status=ProposalStatus.ACCEPTED, by=None)


def advance(consultation, *, to):
    while consultation.phase != to:
        consultation = name_consultation_advance(consultation=consultation, by=None)
    return consultation


def voting_on(names: list[str]):
    """A consultation whose vote is open on ``names``, each proposed by another member."""
    consultation = open_consultation()
    proposals = [propose(consultation, member_in_good_standing(), name) for name in names]
    accept(*proposals)
    return advance(consultation, to=ConsultationPhase.VOTING), proposals


def test_names_are_normalised_without_case_accents_spaces_or_punctuation():
    assert name_normalised("Occitanie  Numérique") == name_normalised("occitanie-numerique")
    assert name_normalised("ÉCLAT") == "eclat"
    assert name_normalised(" - ") == ""


def test_an_organisation_proposes_up_to_its_limit_and_a_refused_name_frees_a_place():
    member = member_in_good_standing()
    consultation = open_consultation(proposals_per_organisation=2)
    first = propose(consultation, member, "Occitanie Numérique")
    propose(consultation, member, "Num’Oc")

    with pytest.raises(ValidationError, match="déjà proposé 2 noms"):
        propose(consultation, member, "Cluster Sud")
    name_proposal_moderate(proposal=first, status=ProposalStatus.REFUSED, by=None, reason="x")
    with pytest.raises(ValidationError, match="déjà proposé ce nom"):
        propose(consultation, member, "occitanie numerique")

    third = propose(consultation, member, "Cluster Sud")
    assert third.proposed_by == member.organisation.contacts.first()
    assert NameProposal.objects.filter(organisation=member.organisation).count() == 3


@pytest.mark.parametrize(
    ("name", "reason", "field"),
    [
        ("", "Une raison", "name"),
        ("  ...  ", "Une raison", "name"),
        ("x" * 101, "Une raison", "name"),
        ("Nom\u200bcaché", "Une raison", "name"),
        ("Un nom", "   ", "reason"),
        ("Un nom", "r" * 501, "reason"),
    ],
)
def test_a_malformed_proposal_is_refused_with_the_field_that_is_wrong(name, reason, field):
    member = member_in_good_standing()
    consultation = open_consultation()

    with pytest.raises(ValidationError) as error:
        propose(consultation, member, name, reason)
    assert field in error.value.message_dict
    assert not NameProposal.objects.exists()


def test_a_member_not_in_good_standing_neither_proposes_nor_votes():
    lapsed = MembershipFactory()
    TermFactory(membership=lapsed, year=2020)
    consultation = open_consultation()
    proposals = [propose(consultation, member_in_good_standing(), name) for name in ("A", "B")]

    with pytest.raises(ValidationError, match="pas membre à jour"):
        propose(consultation, lapsed, "Gamma")
    accept(*proposals)
    consultation = advance(consultation, to=ConsultationPhase.VOTING)
    with pytest.raises(ValidationError, match="pas membre à jour"):
        name_ballot_cast(
            consultation=consultation, organisation=lapsed.organisation, approved=[proposals[0].pk]
        )
    assert not NameBallot.objects.exists()


def test_one_consultation_at_a_time_per_merger():
    consultation = open_consultation()

    with pytest.raises(ValidationError, match="déjà en cours"):
        open_consultation()
    advance(consultation, to=ConsultationPhase.MODERATION)
    assert consultation.merger.name_consultations.count() == 1


def test_moderation_merges_the_same_name_written_twice_and_counts_both_authors():
    first, second, third = (member_in_good_standing() for _ in range(3))
    consultation = open_consultation()
    original = propose(consultation, first, "Occitanie Numérique")
    twice = propose(consultation, second, "occitanie-numerique")
    other = propose(consultation, third, "Num’Oc")

    assert list(proposal_duplicates(proposal=original)) == [twice]
    with pytest.raises(ValidationError, match="retenue pour le vote"):
        name_proposal_moderate(proposal=twice, status=ProposalStatus.MERGED, into=original, by=None)
    accept(original, other)
    name_proposal_moderate(proposal=twice, status=ProposalStatus.MERGED, into=original, by=None)
    with pytest.raises(ValidationError) as error:
        name_proposal_moderate(proposal=other, status=ProposalStatus.REFUSED, by=None, reason=" ")
    assert "refusal_reason" in error.value.message_dict

    consultation = advance(consultation, to=ConsultationPhase.VOTING)
    result = consultation_result(consultation=consultation)
    assert {line.candidate.name: line.proposed_by for line in result.lines} == {
        "Occitanie Numérique": 2,
        "Num’Oc": 1,
    }


def test_refusing_a_name_refuses_the_proposals_merged_into_it_with_the_reason():
    first, second = member_in_good_standing(), member_in_good_standing()
    consultation = open_consultation()
    original = propose(consultation, first, "Marque déposée")
    twice = propose(consultation, second, "Marque Deposee")
    accept(original)
    name_proposal_moderate(proposal=twice, status=ProposalStatus.MERGED, into=original, by=None)

    name_proposal_moderate(
        proposal=original, status=ProposalStatus.REFUSED, by=None, reason="Nom déjà déposé"
    )

    twice.refresh_from_db()
    assert (twice.status, twice.refusal_reason, twice.merged_into) == (
        ProposalStatus.REFUSED,
        "Nom déjà déposé",
        None,
    )


def test_the_phases_come_in_order_no_proposal_after_no_vote_before():
    member = member_in_good_standing()
    consultation = open_consultation()
    proposals = [propose(consultation, member, name) for name in ("Alpha", "Beta")]

    with pytest.raises(ValidationError, match="n’est pas ouvert"):
        name_ballot_cast(
            consultation=consultation, organisation=member.organisation, approved=[proposals[0].pk]
        )
    consultation = name_consultation_advance(consultation=consultation, by=None)
    with pytest.raises(ValidationError, match="sont closes"):
        propose(consultation, member, "Gamma")
    with pytest.raises(ValidationError, match="2 propositions attendent"):
        name_consultation_advance(consultation=consultation, by=None)
    accept(proposals[0])
    name_proposal_moderate(
        proposal=proposals[1], status=ProposalStatus.REFUSED, by=None, reason="x"
    )
    with pytest.raises(ValidationError, match="au moins deux noms"):
        name_consultation_advance(consultation=consultation, by=None)
    accept(proposals[1])
    consultation = name_consultation_advance(consultation=consultation, by=None)
    with pytest.raises(ValidationError, match="ne se modèrent plus"):
        accept(proposals[1])

    consultation = name_consultation_advance(consultation=consultation, by=None)
    with pytest.raises(ValidationError, match="n’est pas ouvert"):
        name_ballot_cast(
            consultation=consultation, organisation=member.organisation, approved=[proposals[0].pk]
        )
    consultation = name_consultation_advance(consultation=consultation, by=None)
    assert consultation.phase == ConsultationPhase.PUBLISHED
    with pytest.raises(ValidationError, match="déjà publié"):
        name_consultation_advance(consultation=consultation, by=None)


def test_a_ballot_approves_names_on_the_ballot_only_and_once():
    consultation, (alpha, beta) = voting_on(["Alpha", "Beta"])
    member = member_in_good_standing()
    refused = NameProposal.objects.create(
        consultation=consultation,
        organisation=member.organisation,
        name="Refusé",
        normalised_name="refuse",
        reason="r",
        status=ProposalStatus.REFUSED,
        refusal_reason="Hors sujet",
    )

    for approved, message in (([], "au moins un nom"), ([alpha.pk, refused.pk], "pas soumis")):
        with pytest.raises(ValidationError, match=message):
            name_ballot_cast(
                consultation=consultation, organisation=member.organisation, approved=approved
            )
    name_ballot_cast(
        consultation=consultation, organisation=member.organisation, approved=[alpha.pk, beta.pk]
    )
    with pytest.raises(ValidationError, match="déjà voté"):
        name_ballot_cast(
            consultation=consultation, organisation=member.organisation, approved=[alpha.pk]
        )
    assert dict(NameTally.objects.values_list("candidate__name", "count")) == {
        "Alpha": 1,
        "Beta": 1,
    }


def test_the_ballot_tables_read_directly_cannot_tell_who_approved_what():
    consultation, (alpha, beta) = voting_on(["Alpha", "Beta"])
    voters = [member_in_good_standing() for _ in range(3)]
    for member, approved in zip(voters, ([alpha.pk], [beta.pk], [alpha.pk, beta.pk]), strict=True):
        name_ballot_cast(
            consultation=consultation, organisation=member.organisation, approved=approved
        )

    ballot_columns = {field.column for field in NameBallot._meta.concrete_fields}
    tally_columns = {field.column for field in NameTally._meta.concrete_fields}
    assert ballot_columns == {"id", "consultation_id", "organisation_id"}
    assert tally_columns == {"id", "candidate_id", "count"}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT candidate_id, count FROM {NameTally._meta.db_table} ORDER BY candidate_id"
        )
        assert cursor.fetchall() == [(alpha.pk, 2), (beta.pk, 2)]


def test_not_even_postgresql_s_row_versions_tell_which_names_a_ballot_approved(postgresql):
    consultation, (alpha, _beta, _gamma) = voting_on(["Alpha", "Beta", "Gamma"])
    voter = member_in_good_standing()

    name_ballot_cast(
        consultation=consultation, organisation=voter.organisation, approved=[alpha.pk]
    )

    # Every counter is rewritten by every ballot: the transaction that wrote the ballot's row
    # wrote all of them, whatever was approved.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT xmin::text FROM {NameTally._meta.db_table}")
        assert len(cursor.fetchall()) == 1


@pytest.mark.django_db(transaction=True)
def test_one_ballot_per_organisation_under_8_threads_a_member_of_both_clusters_once(postgresql):
    consultation, (alpha, _beta) = voting_on(["Alpha", "Beta"])
    both = member_in_good_standing("digitalplace")
    MembershipFactory(
        organisation=both.organisation, cluster=Cluster.objects.get(slug="frenchsouth")
    )
    TermFactory(
        membership=both.organisation.memberships.get(cluster__slug="frenchsouth"),
        year=timezone.localdate().year,
    )
    others = [member_in_good_standing(slug) for slug in ("digitalplace", "frenchsouth") * 3]
    organisations = [both.organisation] * 8 + [member.organisation for member in others]
    start = threading.Barrier(8)

    def cast(organisation):
        start.wait() if organisation == both.organisation else None
        try:
            name_ballot_cast(
                consultation=consultation, organisation=organisation, approved=[alpha.pk]
            )
            return "voted"
        except ValidationError as error:
            return error.messages[0]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(cast, organisations))

    assert outcomes[:8].count("voted") == 1
    assert all("déjà voté" in outcome for outcome in outcomes[:8] if outcome != "voted")
    assert outcomes[8:] == ["voted"] * 6
    assert NameBallot.objects.filter(organisation=both.organisation).count() == 1
    assert NameTally.objects.get(candidate=alpha).count == 7
    assert consultation_result(consultation=consultation).ballots == 7


def test_the_result_states_a_tie_and_the_committee_renames_the_successor():
    consultation, (alpha, beta, gamma) = voting_on(["Alpha", "Beta", "Gamma"])
    for approved in ([alpha.pk, beta.pk], [alpha.pk], [beta.pk, gamma.pk]):
        name_ballot_cast(
            consultation=consultation,
            organisation=member_in_good_standing().organisation,
            approved=approved,
        )
    with pytest.raises(ValidationError, match="une fois le résultat publié"):
        successor_name_set(consultation=consultation, candidate=alpha, by=None)
    consultation = advance(consultation, to=ConsultationPhase.PUBLISHED)

    result = consultation_result(consultation=consultation)
    assert [(line.candidate.name, line.approvals) for line in result.lines] == [
        ("Alpha", 2),
        ("Beta", 2),
        ("Gamma", 1),
    ]
    assert result.tie and result.ballots == 3
    with pytest.raises(ValidationError) as error:
        successor_name_set(consultation=consultation, candidate=gamma, by=None)
    assert "reason" in error.value.message_dict

    merger = merger_current()
    old_name = merger.successor.name
    successor_name_set(consultation=consultation, candidate=beta, by=None)

    merger.refresh_from_db()
    merger.successor.refresh_from_db()
    assert merger.successor.name == "Beta"
    assert "Beta" in merger.name and old_name not in merger.name
    event = merger.events.get(kind=MergerEvent.Kind.RENAMED)
    assert event.details["old_name"] == old_name and event.details["new_name"] == "Beta"
    with pytest.raises(ValidationError, match="déjà reçu son nom"):
        successor_name_set(consultation=consultation, candidate=alpha, by=None)
