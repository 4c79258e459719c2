"""The demo's general assemblies, held through the assemblies' services with dates in the past:
in June, each source cluster's extraordinary assembly adopting the merger's principle
unanimously (most members in the room, some represented by proxies), its minutes signed; and an
annual ordinary assembly convened today, 20 days before its date, whose online vote is open, the
demo member convened and not having voted yet, so that a visitor can try. Creates only what is
missing."""

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.base_user import AbstractBaseUser

from assemblies.models import (
    Assembly,
    AssemblyKind,
    Ballot,
    BallotChannel,
    Majority,
    Proxy,
    Resolution,
    Signatory,
    VoteChoice,
)
from assemblies.services import (
    assembly_convene,
    ballot_cast,
    minutes_sign,
    proxy_give,
    voting_close,
    voting_open,
)
from members.models import Cluster, Contact, Membership, MembershipStatus
from members.selectors import memberships_with_status

SEED = 3136
PARIS = ZoneInfo("Europe/Paris")

PRINCIPLE = "Principe de constitution d’un grand cluster numérique par la fusion des deux clusters"
PRINCIPLE_TEXT = (
    "L’assemblée générale extraordinaire adopte le principe de constitution d’un grand cluster "
    "numérique par la fusion des deux clusters, DigitalPlace et FrenchSouth.digital, et donne "
    "mandat au conseil d’administration pour en préparer les modalités avec l’autre association."
)

#: Each source cluster's extraordinary assembly: its day of June, its place, who chaired it and
#: who took the minutes.
EXTRAORDINARY = {
    "digitalplace": {
        "day": 4,
        "place": "Toulouse, Cité de l’espace, avenue Jean Gonord",
        "chair_name": "Bernard Castan",
        "secretary_name": "Isabelle Mercier",
    },
    "frenchsouth": {
        "day": 9,
        "place": "Montpellier, Halle Tropisme, 121 rue Fontcouverte",
        "chair_name": "Nathalie Roques",
        "secretary_name": "Olivier Baylet",
    },
}
PRESENT_SHARE = 0.45  # of the voices, in the room at the extraordinary assemblies
REPRESENTED_SHARE = 0.15  # of the voices, represented by a proxy (a third of them by the chair)

#: The clusters whose annual ordinary assembly the demo holds, the first where the demo member's
#: organisation is in good standing on the day of the convocation: its DigitalPlace membership
#: waits for the payment the demo member makes, its FrenchSouth.digital one is recent.
ANNUAL_CLUSTERS = ("digitalplace", "frenchsouth")
ANNUAL_VOTED_ONLINE_SHARE = 0.2


@dataclass
class DemoAssemblies:
    """What :func:`assemblies_demo_seed` left: the resolutions of the merger's principle, by
    source cluster slug, and the rows it created per kind."""

    principles: dict[str, Resolution] = field(default_factory=dict)
    created: dict[str, int] = field(
        default_factory=lambda: {"assemblies": 0, "proxies": 0, "ballots": 0}
    )


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS)


def _staff(cluster: Cluster) -> AbstractBaseUser | None:
    """The cluster's staff user who convenes and records, as the demo's logins have one."""
    return cluster.staff.order_by("pk").first()


def _counted(created: dict[str, int], assembly: Assembly) -> None:
    created["assemblies"] += 1
    created["proxies"] += Proxy.objects.filter(assembly=assembly).count()
    created["ballots"] += Ballot.objects.filter(voice__assembly=assembly).count()


def extraordinary_assembly_ensure(
    *, cluster: Cluster, today: date, rng: random.Random, created: dict[str, int]
) -> Resolution:
    """``cluster``'s extraordinary assembly of June adopting the merger's principle: held the
    last June whose assembly's minutes were signed before ``today``; convened 25 days before,
    most members present in the room, some represented, all voting for; closed and signed."""
    existing = Resolution.objects.filter(
        assembly__cluster=cluster, assembly__kind=AssemblyKind.EXTRAORDINARY, title=PRINCIPLE
    ).first()
    if existing is not None:
        return existing
    details = EXTRAORDINARY[cluster.slug]
    held = date(today.year, 6, details["day"])
    if held + timedelta(days=5) >= today:
        held = held.replace(year=today.year - 1)
    starts_at = _at(held, 18)
    staff = _staff(cluster)
    assembly = Assembly.objects.create(
        cluster=cluster,
        kind=AssemblyKind.EXTRAORDINARY,
        title="Assemblée générale extraordinaire sur le projet de fusion",
        starts_at=starts_at,
        place=details["place"],
        chair_name=details["chair_name"],
        secretary_name=details["secretary_name"],
        quorum_percent=Decimal("50"),
        second_quorum_percent=Decimal("25"),
    )
    resolution = Resolution.objects.create(
        assembly=assembly,
        position=1,
        title=PRINCIPLE,
        text=PRINCIPLE_TEXT,
        majority=Majority.TWO_THIRDS_PRESENT,
    )
    convened_at = _at(held - timedelta(days=25), 10)
    voices = assembly_convene(assembly=assembly, by=staff, now=convened_at, notify=False)
    rng.shuffle(voices)
    present = voices[: round(len(voices) * PRESENT_SHARE)]
    givers = voices[len(present) : len(present) + round(len(voices) * REPRESENTED_SHARE)]
    proxies = []
    for index, giver in enumerate(givers):
        # A third to the chair, the others each to a different member present.
        holder = None if index % 3 == 0 else present[index]
        proxies.append(proxy_give(giver=giver, holder=holder, by=staff))
    Proxy.objects.filter(pk__in=[proxy.pk for proxy in proxies]).update(
        given_at=convened_at + timedelta(days=10)
    )
    voting_open(assembly=assembly, now=starts_at + timedelta(minutes=40))
    unanimous = {resolution.pk: VoteChoice.FOR}
    for voice in present:
        ballot_cast(voice=voice, choices=unanimous, channel=BallotChannel.ROOM, recorded_by=staff)
    for proxy in proxies:
        ballot_cast(
            voice=proxy.giver,
            choices=unanimous,
            channel=BallotChannel.ROOM,
            holder=proxy.holder,
            chair=proxy.holder is None,
            recorded_by=staff,
        )
    Ballot.objects.filter(voice__assembly=assembly).update(cast_at=starts_at + timedelta(hours=1))
    voting_close(assembly=assembly, now=starts_at + timedelta(hours=1, minutes=10))
    # The minutes, read back and signed by the chair and the secretary in the following days.
    minutes_sign(
        assembly=assembly, role=Signatory.CHAIR, by=staff, now=_at(held + timedelta(days=2), 11)
    )
    minutes_sign(
        assembly=assembly,
        role=Signatory.SECRETARY,
        by=staff,
        now=_at(held + timedelta(days=3), 9),
    )
    _counted(created, assembly)
    return resolution


ANNUAL_RESOLUTIONS = (
    ("Approbation des comptes de l’exercice {last_year}", Majority.SIMPLE),
    ("Approbation du rapport moral du président", Majority.SIMPLE),
    ("Élection de Mme Camille Garnier au conseil d’administration", Majority.SIMPLE),
    ("Élection de M. Thomas Roussel au conseil d’administration", Majority.SIMPLE),
    ("Montant des cotisations {next_year} : inchangé", Majority.SIMPLE),
)


def _annual_cluster(*, clusters: dict[str, Cluster], member: Contact, on: date) -> Cluster:
    """The first of :data:`ANNUAL_CLUSTERS` where ``member``'s organisation is in good standing
    on ``on``, so that the demo member is convened; the first one otherwise."""
    current = set(
        memberships_with_status(
            on=on, queryset=Membership.objects.filter(organisation_id=member.organisation_id)
        )
        .filter(status=MembershipStatus.CURRENT)
        .values_list("cluster__slug", flat=True)
    )
    slug = next((slug for slug in ANNUAL_CLUSTERS if slug in current), ANNUAL_CLUSTERS[0])
    return clusters[slug]


def annual_assembly_ensure(
    *,
    clusters: dict[str, Cluster],
    member: Contact,
    today: date,
    rng: random.Random,
    created: dict[str, int],
) -> Assembly:
    """This year's ordinary assembly, in 20 days: convened today (the demo member's
    organisation may have joined its cluster lately), its online vote opened with the
    convocation, some organisations having voted, two proxies given, and ``member``'s
    organisation convened and not having voted."""
    title = f"Assemblée générale ordinaire {today.year}"
    existing = Assembly.objects.filter(kind=AssemblyKind.ORDINARY, title=title).first()
    if existing is not None:
        return existing
    cluster = _annual_cluster(clusters=clusters, member=member, on=today)
    staff = _staff(cluster)
    assembly = Assembly.objects.create(
        cluster=cluster,
        kind=AssemblyKind.ORDINARY,
        title=title,
        starts_at=_at(today + timedelta(days=20), 18),
        place=EXTRAORDINARY[cluster.slug]["place"],
        online_url="https://visio.example/ag-ordinaire",
        chair_name=EXTRAORDINARY[cluster.slug]["chair_name"],
        secretary_name=EXTRAORDINARY[cluster.slug]["secretary_name"],
    )
    resolutions = Resolution.objects.bulk_create(
        Resolution(
            assembly=assembly,
            position=position,
            title=wording.format(last_year=today.year - 1, next_year=today.year + 1),
            majority=majority,
        )
        for position, (wording, majority) in enumerate(ANNUAL_RESOLUTIONS, start=1)
    )
    voices = assembly_convene(assembly=assembly, by=staff, notify=False)
    others = [voice for voice in voices if voice.organisation_id != member.organisation_id]
    rng.shuffle(others)
    givers, holders = others[:2], others[2:4]
    for giver, holder in zip(givers, holders, strict=True):
        proxy_give(giver=giver, holder=holder, by=None)
    voting_open(assembly=assembly)
    voted_online = others[4 : 4 + round(len(voices) * ANNUAL_VOTED_ONLINE_SHARE)]
    for voice in voted_online:
        choices = {
            resolution.pk: rng.choices(
                [VoteChoice.FOR, VoteChoice.ABSTAIN, VoteChoice.AGAINST], weights=[85, 10, 5]
            )[0]
            for resolution in resolutions
        }
        ballot_cast(voice=voice, choices=choices, channel=BallotChannel.ONLINE)
    _counted(created, assembly)
    return assembly


def assemblies_demo_seed(
    *, clusters: dict[str, Cluster], member: Contact, today: date
) -> DemoAssemblies:
    """The demo's assemblies, created where missing: each source cluster's extraordinary
    assembly of June adopting the merger's principle, and this year's annual ordinary assembly
    with its vote open, ``member`` (the demo member) convened."""
    rng = random.Random(SEED)
    result = DemoAssemblies()
    for slug, cluster in clusters.items():
        result.principles[slug] = extraordinary_assembly_ensure(
            cluster=cluster, today=today, rng=rng, created=result.created
        )
    annual_assembly_ensure(
        clusters=clusters, member=member, today=today, rng=rng, created=result.created
    )
    return result
