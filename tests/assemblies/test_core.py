"""The rules of an assembly as its services apply them: the list frozen at the convocation,
proxies within their bounds, one ballot per voice, quorum and majorities on their boundaries."""

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core.exceptions import ValidationError

from assemblies.models import Attendance, BallotChannel, Majority, Resolution, VoteChoice
from assemblies.selectors import assembly_results, majority_reached
from assemblies.services import (
    assembly_convene,
    attendance_record,
    ballot_cast,
    proxy_give,
    proxy_revoke,
    voice_url,
    voting_open,
)
from tests.assemblies.helpers import assembly_convened, assembly_draft, member_in_good_standing
from tests.factories import MembershipFactory, TermFactory

pytestmark = pytest.mark.django_db


def all_for(assembly) -> dict[int, str]:
    return {pk: VoteChoice.FOR for pk in assembly.resolutions.values_list("pk", flat=True)}


def test_the_list_holds_the_members_in_good_standing_on_the_day_of_the_convocation():
    current = [member_in_good_standing() for _ in range(3)]
    lapsed = MembershipFactory()
    TermFactory(membership=lapsed, year=2020)
    member_in_good_standing("frenchsouth")

    assembly = assembly_convened()

    voters = set(assembly.voices.values_list("organisation_id", flat=True))
    assert voters == {membership.organisation_id for membership in current}
    assert all(voice.voter is not None for voice in assembly.voices.all())


def test_a_member_who_pays_after_the_convocation_gets_no_voice():
    member_in_good_standing()
    assembly = assembly_convened()
    late = member_in_good_standing()

    assert not assembly.voices.filter(organisation_id=late.organisation_id).exists()
    with pytest.raises(ValidationError, match="déjà été convoquée"):
        assembly_convene(assembly=assembly, by=None)


def test_the_convocation_respects_the_notice_period():
    member_in_good_standing()
    assembly = assembly_draft(days_ahead=14, notice_days=15)

    with pytest.raises(ValidationError, match="dans 14 jours"):
        assembly_convene(assembly=assembly, by=None)
    assert not assembly.voices.exists()


def test_proxies_are_bounded_and_revocable_until_the_vote_opens():
    for _ in range(4):
        member_in_good_standing()
    assembly = assembly_convened(max_proxies=1)
    holder, first, second, third = assembly.voices.order_by("pk")

    proxy = proxy_give(giver=first, holder=holder, by=None)
    with pytest.raises(ValidationError, match="le plus que les statuts"):
        proxy_give(giver=second, holder=holder, by=None)
    with pytest.raises(ValidationError, match="ne peut pas donner"):
        proxy_give(giver=holder, holder=third, by=None)
    proxy_give(giver=second, holder=None, by=None)  # to the chair: no limit

    proxy_revoke(proxy=proxy, by=None)
    proxy_give(giver=third, holder=holder, by=None)
    voting_open(assembly=assembly)
    with pytest.raises(ValidationError, match="ne peuvent plus être révoqués"):
        proxy_revoke(proxy=assembly.proxies.get(giver=third), by=None)


def test_one_ballot_per_voice_whichever_way_it_arrives():
    member_in_good_standing()
    assembly = assembly_convened()
    voice = assembly.voices.get()
    voting_open(assembly=assembly)

    ballot_cast(voice=voice, choices=all_for(assembly), channel=BallotChannel.ONLINE)
    with pytest.raises(ValidationError, match="a déjà voté"):
        ballot_cast(voice=voice, choices=all_for(assembly), channel=BallotChannel.ROOM)

    results = assembly_results(assembly=assembly)
    assert [result.votes_for for result in results.resolutions] == [1, 1]
    assert (results.present, results.represented) == (1, 0)


def test_a_proxy_holder_votes_for_the_giver_and_the_giver_no_longer_votes_itself():
    member_in_good_standing()
    member_in_good_standing()
    assembly = assembly_convened()
    holder, giver = assembly.voices.order_by("pk")
    proxy_give(giver=giver, holder=holder, by=None)
    voting_open(assembly=assembly)

    with pytest.raises(ValidationError, match="seul son mandataire"):
        ballot_cast(voice=giver, choices=all_for(assembly), channel=BallotChannel.ONLINE)
    ballot_cast(voice=holder, choices=all_for(assembly), channel=BallotChannel.ONLINE)
    ballot_cast(voice=giver, choices=all_for(assembly), channel=BallotChannel.ONLINE, holder=holder)

    results = assembly_results(assembly=assembly)
    assert (results.eligible, results.present, results.represented) == (2, 1, 1)
    assert results.resolutions[0].votes_for == 2


@pytest.mark.parametrize(
    ("attending", "quorum_met"),
    [(1, False), (2, True)],  # 25 % of 8 voices is 2: one short of it, then exactly it
)
def test_the_quorum_on_its_boundary(attending, quorum_met):
    for _ in range(8):
        member_in_good_standing()
    assembly = assembly_convened(quorum_percent=Decimal("25"))
    for voice in assembly.voices.order_by("pk")[:attending]:
        attendance_record(voice=voice, attendance=Attendance.ROOM, by=None)

    assert assembly_results(assembly=assembly).quorum_met is quorum_met


@pytest.mark.parametrize(
    ("majority", "votes", "adopted"),
    [
        (Majority.SIMPLE, (3, 3, 0), False),
        (Majority.SIMPLE, (4, 3, 5), True),
        (Majority.ABSOLUTE, (5, 0, 5), False),
        (Majority.ABSOLUTE, (6, 0, 5), True),
        (Majority.TWO_THIRDS, (5, 3, 4), False),
        (Majority.TWO_THIRDS, (6, 3, 4), True),
    ],
)
def test_majorities_on_their_boundaries(majority, votes, adopted):
    votes_for, against, abstain = votes
    assert (
        majority_reached(
            majority=majority,
            votes_for=votes_for,
            against=against,
            abstain=abstain,
            present_or_represented=votes_for + against + abstain,
        )
        is adopted
    )


def test_nothing_is_adopted_without_the_quorum():
    for _ in range(4):
        member_in_good_standing()
    assembly = assembly_convened(quorum_percent=Decimal("50"), resolutions=1)
    Resolution.objects.filter(assembly=assembly).update(majority=Majority.SIMPLE)
    voting_open(assembly=assembly)
    ballot_cast(
        voice=assembly.voices.first(), choices=all_for(assembly), channel=BallotChannel.ONLINE
    )

    results = assembly_results(assembly=assembly)
    assert results.quorum_met is False
    assert results.resolutions[0].votes_for == 1
    assert results.resolutions[0].adopted is False


def test_the_personal_link_leads_through_sign_in_with_the_voters_address(client):
    member_in_good_standing()
    voice = assembly_convened().voices.get()

    answer = client.get(urlsplit(voice_url(voice=voice)).path)

    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/code/")
    assert client.session["members_login_email"] == voice.voter.email.lower()


def test_a_tampered_personal_link_says_so(client):
    member_in_good_standing()
    voice = assembly_convened().voices.get()
    token = voice_url(voice=voice).rstrip("/").rsplit("/", 1)[1]

    answer = client.get(f"/assemblees/lien/{token[:-2]}xx/")

    assert answer.status_code == 404
    assert "Lien de convocation non valide" in answer.content.decode()
