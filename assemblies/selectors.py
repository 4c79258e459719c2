"""Reads of the assemblies: who may vote when the convocation goes, who votes for an
organisation, and the results of an assembly as its rules compute them."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Exists, OuterRef, Q, QuerySet

from assemblies.models import (
    Assembly,
    Attendance,
    Eligibility,
    Majority,
    Proxy,
    Resolution,
    Voice,
    VoteChoice,
    VoterDesignation,
)
from members.models import Contact, ContactRole, Membership, MembershipStatus, Term
from members.selectors import memberships_with_status


def memberships_eligible(*, assembly: Assembly, on: date) -> QuerySet[Membership]:
    """The memberships of ``assembly``'s cluster that give a voice when the convocation is sent
    on ``on``, by the assembly's rule (:class:`Eligibility`); never an organisation merged into
    another record."""
    memberships = memberships_with_status(
        on=on,
        queryset=Membership.objects.filter(
            cluster_id=assembly.cluster_id, organisation__merged_into__isnull=True
        ),
    )
    if assembly.eligibility == Eligibility.CURRENT:
        return memberships.filter(status=MembershipStatus.CURRENT)
    if assembly.eligibility == Eligibility.CURRENT_OR_GRACE:
        return memberships.filter(status__in=[MembershipStatus.CURRENT, MembershipStatus.GRACE])
    assembly_day = assembly.starts_at.date()
    paid_in_time = Term.objects.filter(
        membership=OuterRef("pk"),
        cancelled_on__isnull=True,
        is_paid=True,
        paid_on__lte=assembly.eligibility_paid_by,
        start_date__lte=assembly_day,
        end_date__gte=assembly_day,
    )
    return memberships.filter(Exists(paid_in_time)).exclude(
        status__in=[MembershipStatus.CANCELLED, MembershipStatus.TRANSFERRED]
    )


def voters_of(*, organisation_ids: list[int]) -> dict[int, Contact]:
    """The contact who votes for each organisation of ``organisation_ids``: the one it
    designated (:class:`VoterDesignation`) if still its contact, else its first primary contact
    by name, else its first contact; an organisation without any contact is left out."""
    designated = {
        designation.organisation_id: designation.contact
        for designation in VoterDesignation.objects.filter(
            organisation_id__in=organisation_ids
        ).select_related("contact")
        if designation.contact.organisation_id == designation.organisation_id
    }
    voters: dict[int, Contact] = {}
    contacts = Contact.objects.filter(organisation_id__in=organisation_ids).order_by(
        "organisation_id", "-role", "last_name", "first_name", "pk"
    )
    for contact in contacts:
        if contact.organisation_id in designated:
            voters[contact.organisation_id] = designated[contact.organisation_id]
        elif contact.organisation_id not in voters or (
            contact.role == ContactRole.PRIMARY
            and voters[contact.organisation_id].role != ContactRole.PRIMARY
        ):
            voters[contact.organisation_id] = contact
    return voters


def voices_on_list(*, assembly: Assembly) -> QuerySet[Voice]:
    """The voices of ``assembly`` that count: frozen at the convocation and not struck off."""
    return assembly.voices.filter(struck_off_at__isnull=True)


def proxies_active(*, assembly: Assembly) -> QuerySet[Proxy]:
    """The proxies of ``assembly`` not revoked, between voices still on the list."""
    return assembly.proxies.filter(revoked_at__isnull=True, giver__struck_off_at__isnull=True)


def majority_reached(
    *, majority: str, votes_for: int, against: int, abstain: int, present_or_represented: int
) -> bool:
    """Whether ``votes_for`` carry a resolution needing ``majority`` (:class:`Majority`)."""
    if majority == Majority.SIMPLE:
        return votes_for > against
    if majority == Majority.ABSOLUTE:
        return 2 * votes_for > votes_for + against + abstain
    if majority == Majority.TWO_THIRDS:
        return votes_for > 0 and 3 * votes_for >= 2 * (votes_for + against)
    if majority == Majority.TWO_THIRDS_PRESENT:
        return votes_for > 0 and 3 * votes_for >= 2 * present_or_represented
    raise ValueError(f"Unknown majority {majority!r}")


@dataclass(frozen=True)
class ResolutionResult:
    resolution: Resolution
    votes_for: int
    against: int
    abstain: int
    adopted: bool

    def as_json(self) -> dict:
        return {
            "title": self.resolution.title,
            "for": self.votes_for,
            "against": self.against,
            "abstain": self.abstain,
            "adopted": self.adopted,
        }


@dataclass(frozen=True)
class AssemblyResults:
    """An assembly's attendance and results: ``present`` voices attend (in the room or online)
    and gave no proxy, ``represented`` voices gave a proxy to a voice that attends or to the
    chair; the quorum is met when present and represented voices reach the assembly's share of
    the ``eligible`` ones. Nothing is adopted without the quorum."""

    eligible: int
    present: int
    represented: int
    quorum_met: bool
    resolutions: list[ResolutionResult]

    def as_json(self) -> dict:
        return {
            "eligible": self.eligible,
            "present": self.present,
            "represented": self.represented,
            "quorum_met": self.quorum_met,
            "resolutions": [result.as_json() for result in self.resolutions],
        }


def assembly_results(*, assembly: Assembly) -> AssemblyResults:
    """The attendance, quorum and per-resolution results of ``assembly``, by its rules."""
    voices = voices_on_list(assembly=assembly)
    proxies = proxies_active(assembly=assembly)
    eligible = voices.count()
    present = (
        voices.exclude(attendance=Attendance.ABSENT)
        .exclude(Exists(proxies.filter(giver=OuterRef("pk"))))
        .count()
    )
    represented = proxies.filter(
        Q(holder__isnull=True)
        | Q(
            holder__struck_off_at__isnull=True,
            holder__attendance__in=[Attendance.ROOM, Attendance.ONLINE],
        )
    ).count()
    quorum_met = (present + represented) * 100 >= assembly.quorum_percent * eligible
    counts: dict[tuple[int, str], int] = {}
    resolutions = list(assembly.resolutions.order_by("position", "pk").prefetch_related("tallies"))
    for resolution in resolutions:
        for tally in resolution.tallies.all():
            counts[resolution.pk, tally.choice] = tally.count
    results = []
    for resolution in resolutions:
        votes_for = counts.get((resolution.pk, VoteChoice.FOR), 0)
        against = counts.get((resolution.pk, VoteChoice.AGAINST), 0)
        abstain = counts.get((resolution.pk, VoteChoice.ABSTAIN), 0)
        adopted = quorum_met and majority_reached(
            majority=resolution.majority,
            votes_for=votes_for,
            against=against,
            abstain=abstain,
            present_or_represented=present + represented,
        )
        results.append(ResolutionResult(resolution, votes_for, against, abstain, adopted))
    return AssemblyResults(eligible, present, represented, quorum_met, results)


@dataclass(frozen=True)
class VoiceSheetLine:
    """One voice as staff read it on the list of voices and in the room: the voice (with its
    organisation, membership, voter and ballot loaded), the active proxy it gave, the active
    proxies it holds."""

    voice: Voice
    proxy_given: Proxy | None
    proxies_held: list[Proxy]

    @property
    def voted(self) -> bool:
        return hasattr(self.voice, "ballot")

    @property
    def struck_off(self) -> bool:
        return self.voice.struck_off_at is not None

    @property
    def represented(self) -> bool:
        return self.proxy_given is not None


def voice_sheet(*, assembly: Assembly) -> list[VoiceSheetLine]:
    """Every voice of ``assembly`` (struck off ones included, marked), by organisation name,
    each with its active proxies given and held: two queries, whatever the number of voices."""
    voices = list(
        assembly.voices.select_related("organisation", "membership", "voter", "ballot").order_by(
            "organisation__name", "pk"
        )
    )
    given: dict[int, Proxy] = {}
    held: dict[int, list[Proxy]] = {}
    by_pk = {voice.pk: voice for voice in voices}
    for proxy in proxies_active(assembly=assembly).order_by("given_at", "pk"):
        # The voices are loaded already: the proxy's giver and holder are taken from them.
        proxy.giver = by_pk[proxy.giver_id]
        if proxy.holder_id is not None:
            proxy.holder = by_pk[proxy.holder_id]
            held.setdefault(proxy.holder_id, []).append(proxy)
        given[proxy.giver_id] = proxy
    return [VoiceSheetLine(voice, given.get(voice.pk), held.get(voice.pk, [])) for voice in voices]
