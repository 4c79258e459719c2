"""A secret ballot read straight from the database's tables: who voted is there, what each chose
is not, nor the order of the ballots; an open ballot keeps each voice's choice."""

import pytest
from django.db import connection

from assemblies.models import Ballot, BallotChannel, OpenChoice, ResolutionTally, VoteChoice
from assemblies.services import ballot_cast, voting_close, voting_open
from tests.assemblies.helpers import assembly_convened, member_in_good_standing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("postgresql")]

FIRST = (VoteChoice.FOR, VoteChoice.AGAINST)
SECOND = (VoteChoice.AGAINST, VoteChoice.ABSTAIN)
THIRD = (VoteChoice.FOR, VoteChoice.FOR)


def columns(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            [table],
        )
        return dict(cursor.fetchall())


def vote(members, *, secret: bool, swapped: bool):
    """An assembly of ``members`` (three), each voting on two resolutions in turn, the first
    two's choices swapped if ``swapped``; return it, closed."""
    assembly = assembly_convened(secret_ballot=secret, title=f"AG {secret} {swapped}")
    voting_open(assembly=assembly)
    positions = dict(assembly.resolutions.values_list("position", "pk"))
    order = [SECOND, FIRST, THIRD] if swapped else [FIRST, SECOND, THIRD]
    for membership, choices in zip(members, order, strict=True):
        voice = assembly.voices.get(organisation_id=membership.organisation_id)
        ballot_cast(
            voice=voice,
            choices={positions[1]: choices[0], positions[2]: choices[1]},
            channel=BallotChannel.ONLINE,
        )
    voting_close(assembly=assembly)
    return assembly


def tally_rows(assembly) -> list[tuple]:
    """Every column of the counters' rows of ``assembly`` as the database holds them, in the
    order of their ids, the ids and the resolutions' ids counted from the assembly's first so
    that two assemblies compare."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tally.* FROM assemblies_resolutiontally tally "
            "JOIN assemblies_resolution resolution ON resolution.id = tally.resolution_id "
            "WHERE resolution.assembly_id = %s ORDER BY tally.id",
            [assembly.pk],
        )
        names = [column.name for column in cursor.description]
        found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    first_id = found[0]["id"]
    first_resolution = min(row["resolution_id"] for row in found)
    return [
        row | {"id": row["id"] - first_id, "resolution_id": row["resolution_id"] - first_resolution}
        for row in found
    ]


def stamps(table: str, *, key: str, parent: str, assembly) -> set[str]:
    """The ids of the transactions that last wrote the rows of ``table`` belonging to
    ``assembly`` (PostgreSQL's ``xmin``), through the column ``key`` to the table ``parent``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text FROM {table} "
            f"WHERE {key} IN (SELECT id FROM {parent} WHERE assembly_id = %s)",
            [assembly.pk],
        )
        return {row[0] for row in cursor.fetchall()}


def test_two_voters_swapping_their_secret_choices_leave_the_same_rows():
    members = [member_in_good_standing() for _ in range(3)]

    as_cast = vote(members, secret=True, swapped=False)
    swapped = vote(members, secret=True, swapped=True)

    assert tally_rows(as_cast) == tally_rows(swapped)
    for assembly in (as_cast, swapped):
        assert not OpenChoice.objects.filter(ballot__voice__assembly=assembly).exists()
        assert Ballot.objects.filter(voice__assembly=assembly).count() == 3
    counts = {
        (tally.resolution.position, tally.choice): tally.count
        for tally in ResolutionTally.objects.filter(resolution__assembly=as_cast)
    }
    assert counts == {
        (1, VoteChoice.FOR): 2,
        (1, VoteChoice.AGAINST): 1,
        (1, VoteChoice.ABSTAIN): 0,
        (2, VoteChoice.FOR): 1,
        (2, VoteChoice.AGAINST): 1,
        (2, VoteChoice.ABSTAIN): 1,
    }


def test_the_tables_of_a_secret_ballot_hold_no_link_between_a_voter_and_a_choice():
    assert set(columns("assemblies_ballot")) == {
        "id",
        "voice_id",
        "channel",
        "cast_by_holder_id",
        "cast_by_chair",
        "recorded_by_id",
        "cast_at",
    }
    assert columns("assemblies_resolutiontally") == {
        "id": "bigint",
        "resolution_id": "bigint",
        "choice": "character varying",
        "count": "integer",
    }
    with connection.cursor() as cursor:
        relations = connection.introspection.get_relations(cursor, "assemblies_resolutiontally")
    assert relations == {"resolution_id": ("id", "assemblies_resolution")}


def test_the_order_of_secret_ballots_cannot_be_read_from_the_counters():
    members = [member_in_good_standing() for _ in range(3)]
    assembly = assembly_convened(secret_ballot=True)
    voting_open(assembly=assembly)
    ids_before = sorted(
        ResolutionTally.objects.filter(resolution__assembly=assembly).values_list("pk", flat=True)
    )
    positions = dict(assembly.resolutions.values_list("position", "pk"))
    for membership, choices in zip(members, [FIRST, SECOND, THIRD], strict=True):
        ballot_cast(
            voice=assembly.voices.get(organisation_id=membership.organisation_id),
            choices={positions[1]: choices[0], positions[2]: choices[1]},
            channel=BallotChannel.ONLINE,
        )
    voting_close(assembly=assembly)

    # The counters were all made when the vote opened, before any ballot: their ids say nothing.
    tallies = ResolutionTally.objects.filter(resolution__assembly=assembly)
    assert sorted(tallies.values_list("pk", flat=True)) == ids_before
    # PostgreSQL stamps each row with the transaction that last wrote it (xmin): a counter's
    # stamp must not be the last ballot that chose it.
    ballot_stamps = stamps(
        "assemblies_ballot", key="voice_id", parent="assemblies_voice", assembly=assembly
    )
    tally_stamps = stamps(
        "assemblies_resolutiontally",
        key="resolution_id",
        parent="assemblies_resolution",
        assembly=assembly,
    )
    assert len(ballot_stamps) == 3
    assert tally_stamps.isdisjoint(ballot_stamps)


def test_an_open_ballot_keeps_each_voices_choice():
    members = [member_in_good_standing() for _ in range(3)]

    assembly = vote(members, secret=False, swapped=True)

    kept = {
        (choice.ballot.voice.organisation_id, choice.resolution.position): choice.choice
        for choice in OpenChoice.objects.filter(ballot__voice__assembly=assembly).select_related(
            "ballot__voice", "resolution"
        )
    }
    first, second, third = (membership.organisation_id for membership in members)
    assert kept == {
        (first, 1): SECOND[0],
        (first, 2): SECOND[1],
        (second, 1): FIRST[0],
        (second, 2): FIRST[1],
        (third, 1): THIRD[0],
        (third, 2): THIRD[1],
    }
