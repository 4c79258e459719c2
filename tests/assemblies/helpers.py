"""Assemblies to test with: members in good standing, an assembly convened on them."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

from assemblies.models import Assembly, AssemblyKind, Resolution
from assemblies.services import assembly_convene
from members.models import ContactRole, Membership
from tests.factories import ContactFactory, MembershipFactory, TermFactory, cluster

PARIS = ZoneInfo("Europe/Paris")


def member_in_good_standing(slug: str = "digitalplace", *, year: int | None = None) -> Membership:
    """A membership of the cluster ``slug`` with a paid term covering the whole ``year`` (this
    year by default) and a primary contact."""
    membership = MembershipFactory(cluster=cluster(slug))
    TermFactory(membership=membership, year=year or timezone.localdate().year)
    ContactFactory(organisation=membership.organisation, role=ContactRole.PRIMARY)
    return membership


def assembly_draft(
    slug: str = "digitalplace", *, days_ahead: int = 20, resolutions: int = 2, **rules
) -> Assembly:
    """An assembly of the cluster ``slug`` ``days_ahead`` days from now at 18:00, in
    preparation, with ``resolutions`` resolutions and the statutory ``rules`` given."""
    day = timezone.localdate() + dt.timedelta(days=days_ahead)
    assembly = Assembly.objects.create(
        cluster=cluster(slug),
        kind=rules.pop("kind", AssemblyKind.ORDINARY),
        title=rules.pop("title", "Assemblée générale ordinaire"),
        starts_at=dt.datetime.combine(day, dt.time(18), tzinfo=PARIS),
        place="Toulouse",
        chair_name="Claire Durand",
        secretary_name="Paul Lefebvre",
        **rules,
    )
    for position in range(1, resolutions + 1):
        Resolution.objects.create(
            assembly=assembly, position=position, title=f"Résolution {position}"
        )
    return assembly


def assembly_convened(slug: str = "digitalplace", **rules) -> Assembly:
    """An assembly convened: its voices frozen from the members in good standing today."""
    assembly = assembly_draft(slug, **rules)
    assembly_convene(assembly=assembly, by=None)
    assembly.refresh_from_db()
    return assembly
