"""The source clusters' extraordinary general assemblies, held through the assemblies' services
(convened, voted, closed, minutes signed), and their adoption of the merger recorded."""

import datetime as dt

from assemblies.models import (
    Assembly,
    AssemblyKind,
    AssemblyState,
    Resolution,
    ResolutionTally,
    Signatory,
    VoteChoice,
)
from assemblies.services import (
    assembly_convene,
    ballot_cast,
    minutes_sign,
    voting_close,
    voting_open,
)
from merger.models import Merger, MergerAdoption
from merger.selectors import merger_sources_not_adopted
from merger.services import merger_adoption_record
from tests.assemblies.helpers import PARIS, member_in_good_standing
from tests.factories import cluster

PRINCIPLE = "Principe de constitution d’un grand cluster numérique par la fusion des deux clusters"


def assembly_held(
    slug: str = "digitalplace",
    *,
    year: int = 2000,
    kind: str = AssemblyKind.EXTRAORDINARY,
    choices: tuple[str, ...] = (VoteChoice.FOR, VoteChoice.FOR),
    close: bool = True,
    sign: bool = True,
) -> Resolution:
    """The resolution of the merger's principle, put to an assembly of ``slug`` held on 15 June
    ``year`` (convened 20 May) by members in good standing that year, one per ballot of
    ``choices``; the vote closed and the minutes signed unless told otherwise (minutes are
    signed only once the vote is closed). A year long past
    keeps these members out of the merger's proposals."""
    members = {member_in_good_standing(slug, year=year).pk for _choice in choices}
    assembly = Assembly.objects.create(
        cluster=cluster(slug),
        kind=kind,
        title="Assemblée générale extraordinaire"
        if kind == AssemblyKind.EXTRAORDINARY
        else "Assemblée générale ordinaire",
        starts_at=dt.datetime(year, 6, 15, 18, tzinfo=PARIS),
        place="Toulouse",
        chair_name="Claire Durand",
        secretary_name="Paul Lefebvre",
    )
    resolution = Resolution.objects.create(assembly=assembly, position=1, title=PRINCIPLE)
    voices = assembly_convene(
        assembly=assembly, by=None, now=dt.datetime(year, 5, 20, 10, tzinfo=PARIS)
    )
    opened = dt.datetime(year, 6, 15, 18, tzinfo=PARIS)
    voting_open(assembly=assembly, now=opened)
    # The members of an assembly held earlier that year are convened too: they stay absent.
    voting = [voice for voice in voices if voice.membership_id in members]
    for voice, choice in zip(voting, choices, strict=True):
        ballot_cast(voice=voice, choices={resolution.pk: choice}, channel="room")
    if close:
        voting_close(assembly=assembly, now=opened + dt.timedelta(hours=1))
        if sign:
            for days, role in enumerate(Signatory.values, start=2):
                minutes_sign(
                    assembly=assembly, role=role, by=None, now=opened + dt.timedelta(days=days)
                )
    resolution.refresh_from_db()
    return resolution


def assembly_on_record(slug: str) -> Resolution:
    """The merger's principle adopted by an extraordinary assembly of ``slug`` in June 2000, as
    its record stands once closed and signed, the counts written as the minutes give them: the
    tests of the merger that only need it adopted get no members of that assembly in their
    data (its members would be lapsed members of the source cluster)."""
    held = dt.datetime(2000, 6, 15, 18, tzinfo=PARIS)
    assembly = Assembly.objects.create(
        cluster=cluster(slug),
        kind=AssemblyKind.EXTRAORDINARY,
        title="Assemblée générale extraordinaire",
        starts_at=held,
        quorum_percent=0,
        state=AssemblyState.CLOSED,
        convened_at=held - dt.timedelta(days=20),
        voting_opened_at=held,
        voting_closed_at=held + dt.timedelta(hours=1),
        chair_signed_at=held + dt.timedelta(days=2),
        secretary_signed_at=held + dt.timedelta(days=3),
    )
    resolution = Resolution.objects.create(assembly=assembly, position=1, title=PRINCIPLE)
    ResolutionTally.objects.create(resolution=resolution, choice=VoteChoice.FOR, count=1)
    return resolution


def adoptions_recorded(merger: Merger) -> list[MergerAdoption]:
    """The adoption of ``merger`` by each source cluster's assembly recorded where it lacks."""
    return [
        merger_adoption_record(merger=merger, resolution=assembly_on_record(source.slug), by=None)
        for source in merger_sources_not_adopted(merger=merger)
    ]
