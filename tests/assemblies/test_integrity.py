"""The rules of an assembly on their boundaries, through real ballots: the quorum, each majority,
abstentions, a second convocation, who votes and when that is decided, and proxies."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from assemblies.models import (
    Assembly,
    AssemblyKind,
    Attendance,
    BallotChannel,
    Eligibility,
    Majority,
    Resolution,
    ResolutionTally,
    VoteChoice,
)
from assemblies.selectors import assembly_results
from assemblies.services import (
    assembly_convene,
    assembly_second_convocation,
    attendance_record,
    ballot_cast,
    proxy_give,
    proxy_revoke,
    voice_strike_off,
    voting_close,
    voting_open,
)
from members.models import ContactRole, Term
from tests.assemblies.helpers import (
    PARIS,
    assembly_convened,
    member_in_good_standing,
)
from tests.factories import ContactFactory, MembershipFactory, TermFactory, cluster

pytestmark = pytest.mark.django_db


def choices_of(assembly, choice: str = VoteChoice.FOR) -> dict[int, str]:
    return {pk: choice for pk in assembly.resolutions.values_list("pk", flat=True)}


def members(count: int) -> list:
    return [member_in_good_standing() for _ in range(count)]


def voices_in_order(assembly) -> list:
    return list(assembly.voices.select_related("assembly").order_by("pk"))


# --- The quorum ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "eligible", "present", "represented", "met"),
    [
        ("25", 7, 1, 0, False),  # 25 % of 7 is 1.75
        ("25", 7, 2, 0, True),
        ("25", 7, 1, 1, True),  # present or represented
        ("33.33", 7, 2, 0, False),  # 33.33 % of 7 is 2.33
        ("33.33", 7, 3, 0, True),
        ("33.33", 10, 3, 0, False),  # 33.33 % of 10 is 3.333
        ("33.33", 10, 4, 0, True),
        ("25", 12, 3, 0, True),  # exactly a quarter
        ("25", 12, 2, 0, False),
        ("0", 5, 0, 0, True),  # no quorum
    ],
)
def test_the_quorum_on_its_boundary(percent, eligible, present, represented, met):
    members(eligible)
    assembly = assembly_convened(quorum_percent=Decimal(percent))
    voices = voices_in_order(assembly)
    for voice in voices[:present]:
        attendance_record(voice=voice, attendance=Attendance.ROOM, by=None)
    for voice in voices[present : present + represented]:
        proxy_give(giver=voice, holder=None, by=None)

    results = assembly_results(assembly=assembly)

    assert (results.eligible, results.present, results.represented) == (
        eligible,
        present,
        represented,
    )
    assert results.quorum_met is met


# --- Majorities and abstentions, through ballots ------------------------------------------------


@pytest.mark.parametrize(
    ("majority", "votes", "silent", "adopted"),
    [
        (Majority.SIMPLE, (2, 2, 1), 0, False),  # a tie
        (Majority.SIMPLE, (2, 1, 3), 0, True),  # abstentions do not count
        (Majority.ABSOLUTE, (2, 1, 1), 0, False),  # half the ballots, not more
        (Majority.ABSOLUTE, (3, 1, 1), 0, True),
        (Majority.TWO_THIRDS, (2, 1, 0), 0, True),  # exactly two thirds of for and against
        (Majority.TWO_THIRDS, (2, 1, 3), 0, True),
        (Majority.TWO_THIRDS, (3, 2, 0), 0, False),
        (Majority.TWO_THIRDS_PRESENT, (2, 1, 0), 0, True),  # two thirds of the three present
        (Majority.TWO_THIRDS_PRESENT, (2, 0, 0), 1, True),  # one present did not vote
        (Majority.TWO_THIRDS_PRESENT, (2, 1, 0), 1, False),  # 2 of 4 present
        (Majority.TWO_THIRDS_PRESENT, (4, 0, 1), 1, True),  # 4 of 6 present
    ],
)
def test_each_majority_on_its_boundary(majority, votes, silent, adopted):
    votes_for, against, abstain = votes
    members(votes_for + against + abstain + silent)
    assembly = assembly_convened(quorum_percent=Decimal("0"), resolutions=1)
    Resolution.objects.filter(assembly=assembly).update(majority=majority)
    voting_open(assembly=assembly)
    voices = voices_in_order(assembly)
    ballots = (
        [VoteChoice.FOR] * votes_for
        + [VoteChoice.AGAINST] * against
        + [VoteChoice.ABSTAIN] * abstain
    )
    for voice, choice in zip(voices, ballots, strict=False):
        ballot_cast(voice=voice, choices=choices_of(assembly, choice), channel=BallotChannel.ONLINE)
    for voice in voices[len(ballots) :]:
        attendance_record(voice=voice, attendance=Attendance.ROOM, by=None)

    result = assembly_results(assembly=assembly).resolutions[0]

    assert (result.votes_for, result.against, result.abstain) == votes
    assert result.adopted is adopted


def test_abstentions_alone_adopt_nothing_but_are_counted():
    members(3)
    assembly = assembly_convened(quorum_percent=Decimal("0"), resolutions=1)
    voting_open(assembly=assembly)
    for voice in voices_in_order(assembly):
        ballot_cast(
            voice=voice,
            choices=choices_of(assembly, VoteChoice.ABSTAIN),
            channel=BallotChannel.ROOM,
        )

    for majority in Majority.values:
        Resolution.objects.filter(assembly=assembly).update(majority=majority)
        result = assembly_results(assembly=assembly).resolutions[0]
        assert (result.votes_for, result.against, result.abstain) == (0, 0, 3)
        assert result.adopted is False, majority


def test_malformed_choices_are_refused_and_move_no_counter():
    members(1)
    assembly = assembly_convened()
    other = assembly_convened(title="Une autre assemblée")
    voting_open(assembly=assembly)
    voice = assembly.voices.get()
    first, second = assembly.resolutions.order_by("position").values_list("pk", flat=True)
    foreign = other.resolutions.values_list("pk", flat=True).first()

    for choices in (
        {first: VoteChoice.FOR},
        {first: VoteChoice.FOR, second: "maybe"},
        {first: VoteChoice.FOR, second: VoteChoice.FOR, foreign: VoteChoice.FOR},
        {first: VoteChoice.FOR, foreign: VoteChoice.FOR},
    ):
        with pytest.raises(ValidationError, match="Répondez à chaque résolution"):
            ballot_cast(voice=voice, choices=choices, channel=BallotChannel.ONLINE)
    with pytest.raises(ValidationError, match="Moyen de vote inconnu"):
        ballot_cast(voice=voice, choices=choices_of(assembly), channel="post")

    assert not ResolutionTally.objects.filter(count__gt=0).exists()
    assert not hasattr(voice, "ballot") or not voice.ballot


# --- A second convocation -----------------------------------------------------------------------


def test_a_second_convocation_after_a_failed_quorum_has_its_own_quorum_and_adopts():
    members(10)
    first = assembly_convened(
        quorum_percent=Decimal("50"), second_quorum_percent=Decimal("10"), resolutions=1
    )
    voting_open(assembly=first)
    ballot_cast(
        voice=voices_in_order(first)[0], choices=choices_of(first), channel=BallotChannel.ONLINE
    )
    with pytest.raises(ValidationError, match="n’est pas clos"):
        assembly_second_convocation(assembly=first, starts_at=first.starts_at, by=None)
    voting_close(assembly=first)
    assert assembly_results(assembly=first).quorum_met is False
    assert assembly_results(assembly=first).resolutions[0].adopted is False

    second = assembly_second_convocation(
        assembly=first, starts_at=first.starts_at + dt.timedelta(days=20), by=None
    )
    with pytest.raises(ValidationError, match="existe déjà"):
        assembly_second_convocation(assembly=first, starts_at=second.starts_at, by=None)
    assert second.quorum_percent == Decimal("10")
    assert second.first_convocation == first
    assembly_convene(assembly=second, by=None)
    voting_open(assembly=second)
    ballot_cast(
        voice=voices_in_order(second)[0], choices=choices_of(second), channel=BallotChannel.ONLINE
    )

    results = assembly_results(assembly=second)
    assert (results.eligible, results.present) == (10, 1)  # exactly 10 %
    assert results.quorum_met is True
    assert results.resolutions[0].adopted is True
    voting_close(assembly=second)
    with pytest.raises(ValidationError, match="déjà une seconde convocation"):
        assembly_second_convocation(assembly=second, starts_at=second.starts_at, by=None)


def test_no_second_convocation_when_the_quorum_was_met():
    members(2)
    assembly = assembly_convened(quorum_percent=Decimal("50"))
    voting_open(assembly=assembly)
    ballot_cast(
        voice=voices_in_order(assembly)[0],
        choices=choices_of(assembly),
        channel=BallotChannel.ONLINE,
    )
    voting_close(assembly=assembly)

    with pytest.raises(ValidationError, match="Le quorum a été atteint"):
        assembly_second_convocation(assembly=assembly, starts_at=assembly.starts_at, by=None)


# --- Who votes ----------------------------------------------------------------------------------


def membership_with_term(*, start: dt.date, end: dt.date, paid_on: dt.date | None):
    membership = MembershipFactory(cluster=cluster())
    TermFactory(
        membership=membership,
        start_date=start,
        end_date=end,
        is_paid=paid_on is not None,
        paid_on=paid_on,
    )
    ContactFactory(organisation=membership.organisation, role=ContactRole.PRIMARY)
    return membership


def voters(assembly) -> set[int]:
    return set(assembly.voices.values_list("organisation_id", flat=True))


@pytest.mark.parametrize(
    ("eligibility", "with_grace"),
    [(Eligibility.CURRENT, False), (Eligibility.CURRENT_OR_GRACE, True)],
)
def test_current_and_grace_on_the_day_of_the_convocation(eligibility, with_grace):
    today = timezone.localdate()
    current = member_in_good_standing()
    grace_days = cluster().grace_days
    in_grace = membership_with_term(
        start=today - dt.timedelta(days=365),
        end=today - dt.timedelta(days=grace_days),
        paid_on=today - dt.timedelta(days=365),
    )
    lapsed = membership_with_term(
        start=today - dt.timedelta(days=366),
        end=today - dt.timedelta(days=grace_days + 1),
        paid_on=today - dt.timedelta(days=366),
    )
    unpaid = membership_with_term(start=today, end=today + dt.timedelta(days=364), paid_on=None)

    assembly = assembly_convened(eligibility=eligibility)

    expected = {current.organisation_id} | ({in_grace.organisation_id} if with_grace else set())
    assert voters(assembly) == expected
    assert lapsed.organisation_id not in voters(assembly)
    assert unpaid.organisation_id not in voters(assembly)


def test_paid_by_the_cut_off_gives_a_voice_paid_a_day_late_does_not():
    today = timezone.localdate()
    day = today + dt.timedelta(days=20)
    cut_off = today - dt.timedelta(days=5)
    covering = {"start": day - dt.timedelta(days=100), "end": day + dt.timedelta(days=265)}
    on_time = membership_with_term(**covering, paid_on=cut_off)
    late = membership_with_term(**covering, paid_on=cut_off + dt.timedelta(days=1))
    unpaid = membership_with_term(**covering, paid_on=None)
    ended_before = membership_with_term(
        start=day - dt.timedelta(days=365), end=day - dt.timedelta(days=1), paid_on=cut_off
    )

    assembly = assembly_convened(eligibility=Eligibility.PAID_BY, eligibility_paid_by=cut_off)

    assert voters(assembly) == {on_time.organisation_id}
    assert {late.organisation_id, unpaid.organisation_id, ended_before.organisation_id}.isdisjoint(
        voters(assembly)
    )


def test_paid_by_reads_the_assembly_day_in_paris_for_an_assembly_just_after_midnight():
    today = timezone.localdate()
    day = today + dt.timedelta(days=20)
    cut_off = today - dt.timedelta(days=1)
    # Its term starts on the assembly's day, which is still the eve in UTC at 00:30 in Paris.
    starting = membership_with_term(start=day, end=day + dt.timedelta(days=364), paid_on=cut_off)
    assembly = Assembly.objects.create(
        cluster=cluster(),
        kind=AssemblyKind.EXTRAORDINARY,
        title="Assemblée de minuit",
        starts_at=dt.datetime.combine(day, dt.time(0, 30), tzinfo=PARIS),
        eligibility=Eligibility.PAID_BY,
        eligibility_paid_by=cut_off,
    )
    Resolution.objects.create(assembly=assembly, title="Fusion")

    assembly_convene(assembly=assembly, by=None)

    assert voters(assembly) == {starting.organisation_id}


def test_the_list_is_frozen_at_the_convocation_whatever_is_paid_or_cancelled_after():
    today = timezone.localdate()
    voting = member_in_good_standing()
    unpaid = membership_with_term(
        start=today - dt.timedelta(days=10), end=today + dt.timedelta(days=354), paid_on=None
    )
    assembly = assembly_convened()

    Term.objects.filter(membership=voting).update(cancelled_on=today)
    Term.objects.filter(membership=unpaid).update(is_paid=True, paid_on=today)

    assert voters(assembly) == {voting.organisation_id}
    assert assembly_results(assembly=assembly).eligible == 1
    voting_open(assembly=assembly)
    ballot_cast(
        voice=assembly.voices.get(), choices=choices_of(assembly), channel=BallotChannel.ONLINE
    )
    assert assembly_results(assembly=assembly).resolutions[0].votes_for == 1


# --- Proxies ------------------------------------------------------------------------------------


def test_a_proxy_revoked_then_given_to_another_or_the_giver_votes_itself():
    members(4)
    assembly = assembly_convened(max_proxies=1)
    holder, other_holder, giver, second_giver = voices_in_order(assembly)
    proxy = proxy_give(giver=giver, holder=holder, by=None)
    with pytest.raises(ValidationError, match="a déjà donné un pouvoir"):
        proxy_give(giver=giver, holder=other_holder, by=None)
    with pytest.raises(ValidationError, match="déjà été révoqué"):
        proxy_revoke(proxy=proxy_revoke(proxy=proxy, by=None, reason="Erreur"), by=None)
    proxy_give(giver=giver, holder=other_holder, by=None)
    # The first holder is free again for another giver: the revoked proxy does not count.
    proxy_give(giver=second_giver, holder=holder, by=None)
    proxy_revoke(proxy=assembly.proxies.get(giver=second_giver, revoked_at__isnull=True), by=None)
    voting_open(assembly=assembly)

    with pytest.raises(ValidationError, match="seul son mandataire"):
        ballot_cast(
            voice=giver, choices=choices_of(assembly), channel=BallotChannel.ONLINE, holder=holder
        )
    ballot_cast(
        voice=giver,
        choices=choices_of(assembly),
        channel=BallotChannel.ONLINE,
        holder=other_holder,
    )
    ballot_cast(voice=second_giver, choices=choices_of(assembly), channel=BallotChannel.ONLINE)
    assert assembly.proxies.count() == 3
    results = assembly_results(assembly=assembly)
    assert (results.present, results.represented) == (2, 1)
    assert results.resolutions[0].votes_for == 2


def test_no_chain_of_proxies():
    members(3)
    assembly = assembly_convened()
    holder, giver, third = voices_in_order(assembly)
    proxy_give(giver=giver, holder=holder, by=None)

    with pytest.raises(ValidationError, match="ne peut pas donner le sien"):
        proxy_give(giver=holder, holder=third, by=None)
    with pytest.raises(ValidationError, match="ne peut pas en recevoir"):
        proxy_give(giver=third, holder=giver, by=None)
    with pytest.raises(ValidationError, match="à lui-même"):
        proxy_give(giver=third, holder=third, by=None)
    assert assembly.proxies.count() == 1


def test_a_proxy_to_a_holder_of_another_assembly_is_refused():
    members(2)
    assembly = assembly_convened()
    other = assembly_convened(title="Une autre assemblée")

    with pytest.raises(ValidationError, match="pas convoqué à cette assemblée"):
        proxy_give(giver=voices_in_order(assembly)[0], holder=voices_in_order(other)[1], by=None)


def test_a_proxy_given_to_a_member_struck_off_is_revoked_and_the_giver_gives_another():
    members(3)
    assembly = assembly_convened()
    holder, giver, other = voices_in_order(assembly)
    proxy = proxy_give(giver=giver, holder=holder, by=None)

    revoked = voice_strike_off(voice=holder, reason="Radiée pour non-paiement", by=None)

    assert [revoked_proxy.pk for revoked_proxy in revoked] == [proxy.pk]
    proxy.refresh_from_db()
    assert "Radiée pour non-paiement" in proxy.revoked_reason
    with pytest.raises(ValidationError, match="n’est plus sur la liste"):
        proxy_give(giver=other, holder=holder, by=None)
    proxy_give(giver=giver, holder=other, by=None)
    assert assembly_results(assembly=assembly).eligible == 2


def test_a_holder_struck_off_during_the_vote_leaves_its_giver_to_vote_itself():
    members(3)
    assembly = assembly_convened()
    holder, giver, _other = voices_in_order(assembly)
    proxy_give(giver=giver, holder=holder, by=None)
    voting_open(assembly=assembly)

    voice_strike_off(voice=holder, reason="Exclusion", by=None)

    with pytest.raises(ValidationError, match="n’est plus sur la liste"):
        ballot_cast(voice=holder, choices=choices_of(assembly), channel=BallotChannel.ONLINE)
    ballot_cast(voice=giver, choices=choices_of(assembly), channel=BallotChannel.ONLINE)
    results = assembly_results(assembly=assembly)
    assert (results.eligible, results.present, results.represented) == (2, 1, 0)


def test_a_holder_who_voted_for_its_giver_can_no_longer_be_struck_off_nor_marked_absent():
    members(2)
    assembly = assembly_convened()
    holder, giver = voices_in_order(assembly)
    proxy_give(giver=giver, holder=holder, by=None)
    voting_open(assembly=assembly)
    ballot_cast(
        voice=giver, choices=choices_of(assembly), channel=BallotChannel.ONLINE, holder=holder
    )

    with pytest.raises(ValidationError, match="a déjà voté"):
        voice_strike_off(voice=holder, reason="Démission", by=None)
    with pytest.raises(ValidationError, match="a voté"):
        attendance_record(voice=holder, attendance=Attendance.ABSENT, by=None)

    results = assembly_results(assembly=assembly)
    assert (results.eligible, results.present, results.represented) == (2, 1, 1)
    assert results.resolutions[0].votes_for == 1


def test_a_proxy_to_the_chair_is_represented():
    members(4)
    assembly = assembly_convened(quorum_percent=Decimal("50"))
    giver, second_giver, *_rest = voices_in_order(assembly)
    proxy_give(giver=giver, holder=None, by=None)
    proxy_give(giver=second_giver, holder=None, by=None)
    voting_open(assembly=assembly)
    ballot_cast(voice=giver, choices=choices_of(assembly), channel=BallotChannel.ROOM, chair=True)

    results = assembly_results(assembly=assembly)
    assert (results.present, results.represented) == (0, 2)
    assert results.quorum_met is True
    assert results.resolutions[0].votes_for == 1


def test_a_voice_whose_holder_never_came_is_not_represented():
    members(3)
    assembly = assembly_convened()
    holder, giver, _other = voices_in_order(assembly)
    proxy_give(giver=giver, holder=holder, by=None)

    assert assembly_results(assembly=assembly).represented == 0
    attendance_record(voice=holder, attendance=Attendance.ONLINE, by=None)
    assert (
        assembly_results(assembly=assembly).present,
        assembly_results(assembly=assembly).represented,
    ) == (1, 1)
    with pytest.raises(ValidationError, match="elle est représentée"):
        attendance_record(voice=giver, attendance=Attendance.ROOM, by=None)


def test_a_voice_struck_off_does_not_count_in_the_eligible():
    members(4)
    assembly = assembly_convened(quorum_percent=Decimal("50"))
    struck, present, *_rest = voices_in_order(assembly)
    attendance_record(voice=present, attendance=Attendance.ROOM, by=None)
    assert assembly_results(assembly=assembly).quorum_met is False  # 1 of 4

    voice_strike_off(voice=struck, reason="Liquidation judiciaire", by=None)
    with pytest.raises(ValidationError, match="déjà été radiée"):
        voice_strike_off(voice=struck, reason="Encore", by=None)

    results = assembly_results(assembly=assembly)
    assert (results.eligible, results.present) == (3, 1)
    assert results.quorum_met is False  # 1 of 3, under half
    attendance_record(voice=_rest[0], attendance=Attendance.ROOM, by=None)
    assert assembly_results(assembly=assembly).quorum_met is True  # 2 of 3
