"""An assembly's writes under concurrency, on PostgreSQL: one ballot per voice whichever way and
however often it arrives, every voice counted once when all vote at once, nothing counted after
the close, proxies within their bound, one list for two convocations sent at once, and a voice
that voted is never struck off."""

import threading
import time
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum

from assemblies.models import Ballot, BallotChannel, ResolutionTally, Voice, VoteChoice
from assemblies.selectors import assembly_results
from assemblies.services import (
    assembly_convene,
    ballot_cast,
    proxy_give,
    voice_strike_off,
    voting_close,
    voting_open,
)
from tests.assemblies.helpers import assembly_convened, assembly_draft, member_in_good_standing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql")]


def at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run each of ``calls`` in its own thread with its own database connection, all released
    at the same moment; return what each returned or raised, in order."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            start.wait()
            outcomes[index] = calls[index]()
        except Exception as exc:  # looked at in the test's thread
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads), "a thread is still waiting"
    return outcomes


def choices_of(assembly, choice: str = VoteChoice.FOR) -> dict[int, str]:
    return {pk: choice for pk in assembly.resolutions.values_list("pk", flat=True)}


def counters(assembly) -> dict[tuple[int, str], int]:
    return {
        (tally.resolution.position, tally.choice): tally.count
        for tally in ResolutionTally.objects.filter(resolution__assembly=assembly).select_related(
            "resolution"
        )
    }


def refusals(outcomes: list[object]) -> list[str]:
    """What each failed call said: a refusal's message, or any other error as it was raised."""
    return [
        " ".join(outcome.messages) if isinstance(outcome, ValidationError) else repr(outcome)
        for outcome in outcomes
        if isinstance(outcome, Exception)
    ]


def test_eight_ballots_of_one_voice_at_once_online_and_in_the_room_make_one():
    member_in_good_standing()
    assembly = assembly_convened()
    voice = assembly.voices.get()
    voting_open(assembly=assembly)
    channels = [BallotChannel.ONLINE, BallotChannel.ROOM] * 4
    choices = [VoteChoice.FOR, VoteChoice.AGAINST, VoteChoice.ABSTAIN, VoteChoice.FOR] * 2

    outcomes = at_once(
        [
            lambda channel=channel, choice=choice: ballot_cast(
                voice=Voice.objects.get(pk=voice.pk),
                choices=choices_of(assembly, choice),
                channel=channel,
            )
            for channel, choice in zip(channels, choices, strict=True)
        ]
    )

    assert Ballot.objects.filter(voice=voice).count() == 1
    assert [type(outcome) for outcome in outcomes].count(Ballot) == 1
    assert all("a déjà voté" in refusal for refusal in refusals(outcomes))
    assert len(refusals(outcomes)) == 7
    assert sum(counters(assembly).values()) == 2  # one choice on each of the two resolutions
    assert set(counters(assembly).values()) <= {0, 1}


def test_voices_and_proxy_holders_voting_at_once_are_each_counted_once():
    members = [member_in_good_standing() for _ in range(8)]
    for round_ in range(4):
        assembly = assembly_convened(title=f"Assemblée {round_}")
        voices = {
            voice.organisation_id: voice for voice in assembly.voices.select_related("assembly")
        }
        holder, other_holder, *rest = (voices[m.organisation_id] for m in members)
        first_giver, second_giver, third_giver, to_chair, alone, also_alone = rest
        proxy_give(giver=first_giver, holder=holder, by=None)
        proxy_give(giver=second_giver, holder=holder, by=None)
        proxy_give(giver=third_giver, holder=other_holder, by=None)
        proxy_give(giver=to_chair, holder=None, by=None)
        voting_open(assembly=assembly)
        choices = choices_of(assembly)
        ballots = [
            (holder, {}),
            (first_giver, {"holder": holder}),
            (second_giver, {"holder": holder}),
            (other_holder, {}),
            (third_giver, {"holder": other_holder}),
            (to_chair, {"chair": True}),
            (alone, {}),
            (also_alone, {}),
        ]

        outcomes = at_once(
            [
                lambda voice=voice, how=how, choices=choices: ballot_cast(
                    voice=voice,
                    choices=choices,
                    channel=BallotChannel.ONLINE,
                    **how,
                )
                for voice, how in ballots
            ]
        )

        assert refusals(outcomes) == [], f"round {round_}"
        assert Ballot.objects.filter(voice__assembly=assembly).count() == 8
        assert counters(assembly)[1, VoteChoice.FOR] == 8
        assert counters(assembly)[2, VoteChoice.FOR] == 8
        results = assembly_results(assembly=assembly)
        assert (results.eligible, results.present, results.represented) == (8, 4, 4)


def test_the_close_racing_ballots_counts_none_after_it():
    for _ in range(7):
        member_in_good_standing()
    assembly = assembly_convened()
    voting_open(assembly=assembly)
    voices = list(assembly.voices.all())

    outcomes = at_once(
        [lambda: voting_close(assembly=assembly)]
        + [
            lambda voice=voice: ballot_cast(
                voice=voice, choices=choices_of(assembly), channel=BallotChannel.ROOM
            )
            for voice in voices
        ]
    )

    assembly.refresh_from_db()
    assert assembly.voting_closed_at is not None and not isinstance(outcomes[0], Exception)
    assert all("n’est pas ouvert" in refusal for refusal in refusals(outcomes))
    ballots = Ballot.objects.filter(voice__assembly=assembly)
    assert ballots.count() == len(voices) - len(refusals(outcomes))
    assert all(ballot.cast_at <= assembly.voting_closed_at for ballot in ballots)
    for position in (1, 2):
        total = ResolutionTally.objects.filter(
            resolution__assembly=assembly, resolution__position=position
        ).aggregate(total=Sum("count"))["total"]
        assert total == ballots.count()
    with pytest.raises(ValidationError, match="n’est pas ouvert"):
        ballot_cast(voice=voices[0], choices=choices_of(assembly), channel=BallotChannel.ROOM)


def test_proxies_given_at_once_to_one_holder_never_exceed_its_maximum():
    for _ in range(9):
        member_in_good_standing()
    assembly = assembly_convened(max_proxies=2)
    holder, *givers = assembly.voices.order_by("pk")

    outcomes = at_once(
        [lambda giver=giver: proxy_give(giver=giver, holder=holder, by=None) for giver in givers]
    )

    assert assembly.proxies.filter(holder=holder, revoked_at__isnull=True).count() == 2
    assert len(refusals(outcomes)) == 6
    assert all("le plus que les statuts" in refusal for refusal in refusals(outcomes))


def test_two_convocations_sent_at_once_make_one_list():
    members = [member_in_good_standing() for _ in range(5)]
    assembly = assembly_draft()

    outcomes = at_once([lambda: assembly_convene(assembly=assembly, by=None)] * 4)

    assert refusals(outcomes) == ["Cette assemblée a déjà été convoquée."] * 3
    assert assembly.voices.count() == len(members)


def test_a_voice_struck_off_while_its_ballot_is_being_cast_is_refused_not_both():
    member_in_good_standing()
    assembly = assembly_convened()
    voice = assembly.voices.get()
    voting_open(assembly=assembly)
    ballot_in_flight = threading.Event()
    outcomes: dict[str, object] = {}

    def vote() -> None:
        try:
            # The ballot's transaction is still open when the strike-off arrives.
            with transaction.atomic():
                ballot_cast(voice=voice, choices=choices_of(assembly), channel=BallotChannel.ROOM)
                ballot_in_flight.set()
                time.sleep(0.5)
        finally:
            connection.close()

    def strike_off() -> None:
        try:
            outcomes["strike_off"] = voice_strike_off(voice=voice, reason="Démission", by=None)
        except ValidationError as exc:
            outcomes["strike_off"] = exc
        finally:
            connection.close()

    voter = threading.Thread(target=vote)
    voter.start()
    assert ballot_in_flight.wait(5)
    striker = threading.Thread(target=strike_off)
    striker.start()
    voter.join(10)
    striker.join(10)

    voice.refresh_from_db()
    assert Ballot.objects.filter(voice=voice).exists()
    assert voice.struck_off_at is None
    assert "a déjà voté" in " ".join(outcomes["strike_off"].messages)
    results = assembly_results(assembly=assembly)
    assert results.eligible == 1 and results.resolutions[0].votes_for == 1
