"""Reads of the assemblies: who may vote when the convocation goes, who votes for an
organisation, and the results of an assembly as its rules compute them."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from assemblies.models import (
    Assembly,
    AssemblyDocument,
    AssemblyMail,
    AssemblyMailKind,
    AssemblyState,
    Attendance,
    Ballot,
    Eligibility,
    Majority,
    OpenChoice,
    Proxy,
    Resolution,
    Voice,
    VoteChoice,
    VoterDesignation,
)
from members.models import Contact, ContactRole, Membership, MembershipStatus, Term
from members.selectors import (
    clusters_managed_by,
    clusters_visible_to,
    contacts_of,
    memberships_with_status,
    organisations_of,
)


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
    # The assembly's day in Paris: an assembly at 00:30 is still the eve in UTC.
    assembly_day = timezone.localdate(assembly.starts_at)
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


def voices_present(*, assembly: Assembly) -> QuerySet[Voice]:
    """The voices of ``assembly`` that attend (in the room or online) and gave no proxy."""
    return (
        voices_on_list(assembly=assembly)
        .exclude(attendance=Attendance.ABSENT)
        .exclude(Exists(proxies_active(assembly=assembly).filter(giver=OuterRef("pk"))))
    )


def proxies_counted(*, assembly: Assembly) -> QuerySet[Proxy]:
    """The proxies that make their giver represented: held by the chair, or by a voice on the
    list that attends."""
    return proxies_active(assembly=assembly).filter(
        Q(holder__isnull=True)
        | Q(
            holder__struck_off_at__isnull=True,
            holder__attendance__in=[Attendance.ROOM, Attendance.ONLINE],
        )
    )


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
    """A resolution's counts and outcome; all ``None`` while a secret ballot is open (see
    :func:`assembly_results`)."""

    resolution: Resolution
    votes_for: int | None
    against: int | None
    abstain: int | None
    adopted: bool | None

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
    the ``eligible`` ones. Nothing is adopted without the quorum. ``withheld`` while a secret
    ballot is open: the counts are not read until the close."""

    eligible: int
    present: int
    represented: int
    quorum_met: bool
    resolutions: list[ResolutionResult]
    withheld: bool = False

    def as_json(self) -> dict:
        return {
            "eligible": self.eligible,
            "present": self.present,
            "represented": self.represented,
            "quorum_met": self.quorum_met,
            "resolutions": [result.as_json() for result in self.resolutions],
        }


def assembly_results(*, assembly: Assembly) -> AssemblyResults:
    """The attendance, quorum and per-resolution results of ``assembly``, by its rules.

    While a secret ballot is open its counts are withheld (``None``): read between two ballots,
    they would tell what the second one chose."""
    eligible = voices_on_list(assembly=assembly).count()
    present = voices_present(assembly=assembly).count()
    represented = proxies_counted(assembly=assembly).count()
    quorum_met = (present + represented) * 100 >= assembly.quorum_percent * eligible
    withheld = assembly.secret_ballot and assembly.state == AssemblyState.VOTING
    if withheld:
        resolutions = assembly.resolutions.order_by("position", "pk")
        return AssemblyResults(
            eligible,
            present,
            represented,
            quorum_met,
            [ResolutionResult(resolution, None, None, None, None) for resolution in resolutions],
            withheld=True,
        )
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


def voices_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Voice]:
    """The voices of the organisations ``user`` is a contact of, at assemblies convened (never
    one in preparation): what the member area may show them."""
    return Voice.objects.filter(organisation__in=organisations_of(user)).exclude(
        assembly__state=AssemblyState.DRAFT
    )


def voice_acted_for_by(*, voice: Voice, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether ``user`` is ``voice``'s voter: the one contact who gives, revokes and casts for
    its organisation."""
    return voice.voter_id is not None and contacts_of(user).filter(pk=voice.voter_id).exists()


def documents_readable_by(
    user: AbstractBaseUser | AnonymousUser,
) -> QuerySet[AssemblyDocument]:
    """The documents of the assemblies ``user`` may read: those its organisations are convened
    to (their voice not struck off), and as staff those of the clusters it sees."""
    convened = Voice.objects.filter(
        assembly=OuterRef("assembly"),
        organisation__in=organisations_of(user),
        struck_off_at__isnull=True,
    ).exclude(assembly__state=AssemblyState.DRAFT)
    return AssemblyDocument.objects.filter(
        Q(Exists(convened)) | Q(assembly__cluster__in=clusters_visible_to(user))
    )


@dataclass(frozen=True)
class VoiceSituation:
    """What an organisation did at an assembly, as its members see it: whether its voice voted,
    the proxy it gave (``gave_to_chair`` when to the chair) and the voices it holds by proxy,
    with whether each has voted."""

    voice: Voice
    voted: bool
    proxy_given: Proxy | None
    proxies_held: list[Proxy]
    held_voted: frozenset[int]

    @property
    def gave_to_chair(self) -> bool:
        return self.proxy_given is not None and self.proxy_given.holder_id is None

    @property
    def held_to_vote(self) -> list[Proxy]:
        """The proxies held whose voice has not voted yet."""
        return [p for p in self.proxies_held if p.giver_id not in self.held_voted]


def voice_situations(*, voices: QuerySet[Voice]) -> list[VoiceSituation]:
    """The :class:`VoiceSituation` of each of ``voices``, in a fixed number of queries whatever
    their number, by assembly date (latest first), then organisation."""
    voices = list(
        voices.select_related("assembly", "assembly__cluster", "organisation", "voter").order_by(
            "-assembly__starts_at", "organisation__name", "pk"
        )
    )
    ids = [voice.pk for voice in voices]
    active = Proxy.objects.filter(revoked_at__isnull=True, giver__struck_off_at__isnull=True)
    given = {
        proxy.giver_id: proxy
        for proxy in active.filter(giver_id__in=ids).select_related("holder__organisation")
    }
    held: dict[int, list[Proxy]] = {}
    for proxy in active.filter(holder_id__in=ids).select_related("giver__organisation"):
        held.setdefault(proxy.holder_id, []).append(proxy)
    givers = [proxy.giver_id for proxies in held.values() for proxy in proxies]
    voted = set(Ballot.objects.filter(voice_id__in=ids + givers).values_list("voice_id", flat=True))
    return [
        VoiceSituation(
            voice=voice,
            voted=voice.pk in voted,
            proxy_given=given.get(voice.pk),
            proxies_held=sorted(held.get(voice.pk, []), key=lambda p: p.giver.organisation.name),
            held_voted=frozenset(p.giver_id for p in held.get(voice.pk, []) if p.giver_id in voted),
        )
        for voice in voices
    ]


def proxy_holders_offered(*, voice: Voice) -> QuerySet[Voice]:
    """The voices ``voice`` may give its proxy to, by name: the others on the list of its
    assembly that gave none themselves and hold fewer proxies than the statutes allow."""
    assembly = voice.assembly
    active = proxies_active(assembly=assembly)
    return (
        voices_on_list(assembly=assembly)
        .exclude(pk=voice.pk)
        .exclude(Exists(active.filter(giver=OuterRef("pk"))))
        .annotate(held=Count("proxies_held", filter=Q(proxies_held__revoked_at__isnull=True)))
        .filter(held__lt=assembly.max_proxies)
        .select_related("organisation")
        .order_by("organisation__name", "pk")
    )


def open_choices_of(*, voice: Voice) -> dict[int, str]:
    """The choices of ``voice``'s ballot by resolution id, for an open ballot (empty for a
    secret one, whose choices nothing links to a ballot)."""
    return dict(
        OpenChoice.objects.filter(ballot__voice=voice).values_list("resolution_id", "choice")
    )


def voices_without_voter(*, assemblies: QuerySet[Assembly] | None = None) -> QuerySet[Voice]:
    """The voices on the list (of ``assemblies``, default all) that have no voter: their
    organisation had no contact when the convocation went, so nobody was e-mailed; staff write
    to them otherwise."""
    voices = Voice.objects.filter(voter__isnull=True, struck_off_at__isnull=True)
    if assemblies is not None:
        voices = voices.filter(assembly__in=assemblies)
    return voices


def reminder_step_due(*, assembly: Assembly, on: date) -> int | None:
    """The reminder step (days before ``assembly``) due on ``on``, if any: the latest step whose
    day has come, so that after missed days only that one goes; none before a step's day, none
    on a step whose day was the day of the convocation or before it (the convocation itself is
    news enough), none once the assembly's day has passed."""
    day = timezone.localdate(assembly.starts_at)
    left = (day - on).days
    if left < 0 or assembly.convened_at is None:
        return None
    convened_on = timezone.localdate(assembly.convened_at)
    due = [
        days
        for days in assembly.reminder_steps
        if days >= left and day - timedelta(days=days) > convened_on
    ]
    return min(due) if due else None


def voices_to_remind(*, assembly: Assembly, days_before: int) -> QuerySet[Voice]:
    """The voices of ``assembly`` to remind at the step ``days_before``: on the list, with a
    voter, that have neither voted nor given a proxy still active, and have had no reminder at
    this step or a later one."""
    return (
        voices_on_list(assembly=assembly)
        .filter(voter__isnull=False)
        .exclude(Exists(Ballot.objects.filter(voice=OuterRef("pk"))))
        .exclude(Exists(Proxy.objects.filter(giver=OuterRef("pk"), revoked_at__isnull=True)))
        .exclude(
            Exists(
                AssemblyMail.objects.filter(
                    voice=OuterRef("pk"),
                    kind=AssemblyMailKind.REMINDER,
                    days_before__lte=days_before,
                )
            )
        )
    )


def assemblies_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Assembly]:
    """The assemblies of the clusters ``user`` sees as staff (the committee: all of them)."""
    return Assembly.objects.filter(cluster__in=clusters_visible_to(user))


def assemblies_managed_by(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Assembly]:
    """The assemblies of the clusters ``user`` is staff of (a superuser: all of them)."""
    return Assembly.objects.filter(cluster__in=clusters_managed_by(user))


def assemblies_convening(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Assembly]:
    """The assemblies that convened an organisation ``user`` is a contact of."""
    return Assembly.objects.filter(
        Exists(
            Voice.objects.filter(assembly=OuterRef("pk"), organisation__in=organisations_of(user))
        )
    )


def minutes_signed(queryset: QuerySet[Assembly]) -> QuerySet[Assembly]:
    """The assemblies of ``queryset`` whose minutes both the chair and the secretary signed."""
    return queryset.filter(chair_signed_at__isnull=False, secretary_signed_at__isnull=False)


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
