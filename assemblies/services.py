"""Writes of the assemblies: convening (the voices frozen), proxies, opening and closing the
vote, attendance in the room, ballots, the second convocation.

Every write that a double click, a second tab or two proxy holders at once could repeat takes the
assembly's row lock first, then the rows it changes, always in that order, so that writes wait
for each other rather than deadlock: the list, the proxies, the attendance and the close lock
the assembly's row for update and follow one another; ballots share it, and run side by side
but for the rows two of them write (the voice's and its holder's, locked in the order of their
ids, then the counters, in the order of the resolutions). A ballot counts once:
:class:`~assemblies.models.Ballot` is one row per voice, and the counters of the resolutions are
incremented in the same transaction.
"""

from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from assemblies.mails import convocations_record
from assemblies.models import (
    Assembly,
    AssemblyState,
    Attendance,
    Ballot,
    BallotChannel,
    OpenChoice,
    Proxy,
    Resolution,
    ResolutionTally,
    Signatory,
    Voice,
    VoteChoice,
    VoterDesignation,
)
from assemblies.selectors import (
    assembly_results,
    memberships_eligible,
    proxies_active,
    voters_of,
)
from members.models import Contact, Organisation
from members.services.organisations import organisation_managed_by

VOICE_LINK_SALT = "assemblies.voice_link"


def voice_link_token(*, voice: Voice) -> str:
    """The signed token of the personal link of ``voice``, for its voter's e-mail."""
    email = voice.voter.email.strip().lower() if voice.voter else ""
    return signing.dumps([voice.pk, email], salt=VOICE_LINK_SALT)


def voice_link_read(*, token: str) -> tuple[int, str]:
    """The voice id and e-mail that ``token`` names; raise :class:`signing.BadSignature` when
    :func:`voice_link_token` did not make it."""
    value = signing.loads(token, salt=VOICE_LINK_SALT)
    try:
        voice_id, email = value
        return int(voice_id), str(email)
    except (TypeError, ValueError) as exc:
        raise signing.BadSignature("Malformed voice link.") from exc


def voice_url(*, voice: Voice) -> str:
    """The absolute personal link of ``voice`` (the convocation's), on ``settings.SITE_URL``."""
    path = reverse("assemblies:assembly_link", kwargs={"token": voice_link_token(voice=voice)})
    return settings.SITE_URL.rstrip("/") + path


def _assembly_lock(assembly_id: int) -> Assembly:
    return Assembly.objects.select_for_update().get(pk=assembly_id)


def _assembly_share(assembly_id: int) -> Assembly:
    """The assembly, its row locked in share mode until the end of the transaction (Django has
    no share lock: raw SQL). SQLite has no row locks, and needs none: its transactions write
    one at a time (``transaction_mode`` IMMEDIATE)."""
    if connection.vendor != "postgresql":
        return Assembly.objects.get(pk=assembly_id)
    return Assembly.objects.raw(
        "SELECT * FROM assemblies_assembly WHERE id = %s FOR SHARE", [assembly_id]
    )[0]


def _voices_lock(*voices: Voice | None) -> dict[int, Voice]:
    """Lock the rows of ``voices`` (those given) in the order of their ids; return them fresh,
    by id. Only the voices' rows: a lock on the joined assembly's row too would be taken after
    theirs, the other way round from every other write, and two such writes deadlock."""
    return {
        locked.pk: locked
        for locked in Voice.objects.select_for_update(of=("self",))
        .select_related("assembly", "organisation")
        .filter(pk__in=[voice.pk for voice in voices if voice is not None])
        .order_by("pk")
    }


@transaction.atomic
def assembly_preparation_check(*, assembly: Assembly) -> None:
    """Refuse (:class:`ValidationError`) a change of ``assembly``'s rules, agenda or documents
    once it is convened: the convocation announced them. The assembly's row stays locked until
    the change commits, so that a convocation in another tab waits for it rather than freezing
    a list under rules about to change."""
    state = Assembly.objects.select_for_update().values_list("state", flat=True).get(pk=assembly.pk)
    if state != AssemblyState.DRAFT:
        raise ValidationError(
            _(
                "L’assemblée a été convoquée : ses règles, son ordre du jour et ses documents ne "
                "changent plus."
            )
        )


@transaction.atomic
def assembly_convene(
    *,
    assembly: Assembly,
    by: AbstractBaseUser | None,
    now: datetime | None = None,
    notify: bool = True,
) -> list[Voice]:
    """Freeze the list of ``assembly``'s voices (the memberships in good standing on the day,
    by the assembly's rule, each with its voter), record the convocation of each voice with a
    voter in the ledger (:func:`assemblies.mails.convocations_record`: e-mailed once committed,
    or, without ``notify``, recorded as sent at ``now``, for the demo data) and mark it
    convened; return the voices.

    Refused (:class:`ValidationError`) when it is convened already, has no resolution, or is
    closer than its notice period."""
    now = now or timezone.now()
    assembly = _assembly_lock(assembly.pk)
    if assembly.state != AssemblyState.DRAFT:
        raise ValidationError(_("Cette assemblée a déjà été convoquée."))
    if not assembly.resolutions.exists():
        raise ValidationError(_("L’ordre du jour est vide : ajoutez au moins une résolution."))
    today = timezone.localdate(now)
    days = (timezone.localdate(assembly.starts_at) - today).days
    if days < assembly.notice_days:
        raise ValidationError(
            _(
                "L’assemblée a lieu dans %(days)s jours : les statuts demandent une convocation "
                "%(notice)s jours avant au moins."
            )
            % {"days": days, "notice": assembly.notice_days}
        )
    memberships = list(
        memberships_eligible(assembly=assembly, on=today).select_related("organisation")
    )
    voters = voters_of(organisation_ids=[membership.organisation_id for membership in memberships])
    voices = Voice.objects.bulk_create(
        Voice(
            assembly=assembly,
            organisation_id=membership.organisation_id,
            membership=membership,
            voter=voters.get(membership.organisation_id),
            language=getattr(voters.get(membership.organisation_id), "language", "") or "",
        )
        for membership in memberships
    )
    convocations_record(voices=voices, now=now, notify=notify)
    assembly.state = AssemblyState.CONVENED
    assembly.convened_at = now
    assembly.convened_by = by
    assembly.save(update_fields=["state", "convened_at", "convened_by", "updated_at"])
    return voices


def _has_voted(voice: Voice) -> bool:
    """Whether ``voice`` voted, for itself or, as a proxy holder, for another: its presence
    then stands, the ballots it cast counting on it."""
    return Ballot.objects.filter(Q(voice=voice) | Q(cast_by_holder=voice)).exists()


def _voice_usable(voice: Voice, *, role: str) -> None:
    if voice.struck_off_at is not None:
        raise ValidationError(
            _("%(organisation)s n’est plus sur la liste des votants (%(role)s).")
            % {"organisation": voice.organisation, "role": role}
        )


@transaction.atomic
def proxy_give(
    *,
    giver: Voice,
    holder: Voice | None,
    by: AbstractBaseUser | None,
) -> Proxy:
    """``giver`` gives its voice to ``holder`` (another voice of the same assembly), or to the
    chair when ``holder`` is ``None``; refused (:class:`ValidationError`, saying why) once the
    vote is open, when ``giver`` gave one already or holds proxies itself, when ``holder`` gave
    its own voice away, is not on the list, or holds the most proxies the statutes allow."""
    assembly = _assembly_lock(giver.assembly_id)
    giver = Voice.objects.select_related("organisation").get(pk=giver.pk)
    if assembly.state != AssemblyState.CONVENED:
        raise ValidationError(
            _("Les pouvoirs se donnent entre la convocation et l’ouverture du vote.")
        )
    _voice_usable(giver, role=_("mandant"))
    active = proxies_active(assembly=assembly)
    if active.filter(giver=giver).exists():
        raise ValidationError(
            _("%(organisation)s a déjà donné un pouvoir : révoquez-le d’abord.")
            % {"organisation": giver.organisation}
        )
    if active.filter(holder=giver).exists():
        raise ValidationError(
            _(
                "%(organisation)s détient des pouvoirs d’autres membres : elle ne peut pas donner "
                "le sien."
            )
            % {"organisation": giver.organisation}
        )
    if holder is not None:
        holder = Voice.objects.select_related("organisation").get(pk=holder.pk)
        if holder.assembly_id != assembly.pk:
            raise ValidationError(_("Ce mandataire n’est pas convoqué à cette assemblée."))
        if holder.pk == giver.pk:
            raise ValidationError(_("Un membre ne peut pas se donner pouvoir à lui-même."))
        _voice_usable(holder, role=_("mandataire"))
        if active.filter(giver=holder).exists():
            raise ValidationError(
                _("%(organisation)s a donné son propre pouvoir : elle ne peut pas en recevoir.")
                % {"organisation": holder.organisation}
            )
        if active.filter(holder=holder).count() >= assembly.max_proxies:
            raise ValidationError(
                _(
                    "%(organisation)s détient déjà %(count)s pouvoirs, le plus que les statuts "
                    "permettent."
                )
                % {"organisation": holder.organisation, "count": assembly.max_proxies}
            )
    return Proxy.objects.create(assembly=assembly, giver=giver, holder=holder, given_by=by)


@transaction.atomic
def proxy_revoke(
    *,
    proxy: Proxy,
    by: AbstractBaseUser | None,
    reason: str = "",
    now: datetime | None = None,
) -> Proxy:
    """Revoke ``proxy``, until the vote opens; refused once it is open, or when the proxy was
    revoked already."""
    assembly = _assembly_lock(proxy.assembly_id)
    proxy = Proxy.objects.get(pk=proxy.pk)
    if proxy.revoked_at is not None:
        raise ValidationError(_("Ce pouvoir a déjà été révoqué."))
    if assembly.state != AssemblyState.CONVENED:
        raise ValidationError(_("Le vote est ouvert : les pouvoirs ne peuvent plus être révoqués."))
    proxy.revoked_at = now or timezone.now()
    proxy.revoked_by = by
    proxy.revoked_reason = reason
    proxy.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    return proxy


@transaction.atomic
def voice_strike_off(
    *, voice: Voice, reason: str, by: AbstractBaseUser | None, now: datetime | None = None
) -> list[Proxy]:
    """Strike ``voice`` off the list after the convocation (a resignation, an exclusion), with
    ``reason``; the proxies it gave or held are revoked with that reason, and returned, so that
    those who gave one to it may vote or give another. Refused once it has voted."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Indiquez le motif de la radiation."))
    assembly = _assembly_lock(voice.assembly_id)
    voice = Voice.objects.get(pk=voice.pk)
    if assembly.state not in (AssemblyState.CONVENED, AssemblyState.VOTING):
        raise ValidationError(_("La liste des votants ne change plus une fois le vote clos."))
    if voice.struck_off_at is not None:
        raise ValidationError(_("Cette voix a déjà été radiée de la liste."))
    if _has_voted(voice):
        raise ValidationError(_("Cette voix a déjà voté : elle ne peut plus être radiée."))
    voice.struck_off_at = now
    voice.struck_off_reason = reason
    voice.save(update_fields=["struck_off_at", "struck_off_reason"])
    revoked = list(Proxy.objects.filter(Q(giver=voice) | Q(holder=voice), revoked_at__isnull=True))
    for proxy in revoked:
        proxy.revoked_at = now
        proxy.revoked_by = by
        proxy.revoked_reason = _("Radiée de la liste des votants : %(reason)s") % {"reason": reason}
        proxy.save(update_fields=["revoked_at", "revoked_by", "revoked_reason"])
    return revoked


@transaction.atomic
def voting_open(*, assembly: Assembly, now: datetime | None = None) -> Assembly:
    """Open the vote of the convened ``assembly``: proxies are fixed from then on."""
    assembly = _assembly_lock(assembly.pk)
    if assembly.state != AssemblyState.CONVENED:
        raise ValidationError(_("Le vote ne peut s’ouvrir que sur une assemblée convoquée."))
    ResolutionTally.objects.bulk_create(
        ResolutionTally(resolution=resolution, choice=choice)
        for resolution in assembly.resolutions.all()
        for choice in VoteChoice.values
    )
    assembly.state = AssemblyState.VOTING
    assembly.voting_opened_at = now or timezone.now()
    assembly.save(update_fields=["state", "voting_opened_at", "updated_at"])
    return assembly


@transaction.atomic
def voting_close(*, assembly: Assembly, now: datetime | None = None) -> Assembly:
    """Close the vote of ``assembly``: the ballot in flight is waited for (it holds the
    assembly's row), none is taken after.

    The counters are written once more, unchanged: PostgreSQL stamps a row with the transaction
    that last wrote it, and a counter's stamp would otherwise be the last ballot that chose it,
    the same stamp as that ballot's row."""
    assembly = _assembly_lock(assembly.pk)
    if assembly.state != AssemblyState.VOTING:
        raise ValidationError(_("Le vote n’est pas ouvert."))
    ResolutionTally.objects.filter(resolution__assembly=assembly).update(count=F("count"))
    assembly.state = AssemblyState.CLOSED
    assembly.voting_closed_at = now or timezone.now()
    assembly.save(update_fields=["state", "voting_closed_at", "updated_at"])
    return assembly


@transaction.atomic
def attendance_record(
    *, voice: Voice, attendance: str, by: AbstractBaseUser | None, now: datetime | None = None
) -> Voice:
    """Record ``voice``'s ``attendance`` (:class:`Attendance`), as staff note it in the room;
    refused for a voice that gave a proxy (it is represented) or, to mark it absent, that voted."""
    _assembly_lock(voice.assembly_id)
    voice = _voices_lock(voice)[voice.pk]
    if attendance not in Attendance.values:
        raise ValidationError(_("Présence inconnue : %(value)s.") % {"value": attendance})
    if voice.assembly.state not in (AssemblyState.CONVENED, AssemblyState.VOTING):
        raise ValidationError(
            _("La présence se note pendant l’assemblée, avant la clôture du vote.")
        )
    _voice_usable(voice, role=_("présence"))
    if (
        attendance != Attendance.ABSENT
        and proxies_active(assembly=voice.assembly).filter(giver=voice).exists()
    ):
        raise ValidationError(
            _("%(organisation)s a donné un pouvoir : elle est représentée.")
            % {"organisation": voice.organisation}
        )
    if attendance == Attendance.ABSENT and _has_voted(voice):
        raise ValidationError(_("Cette voix a voté : elle ne peut pas être notée absente."))
    voice.attendance = attendance
    voice.attendance_recorded_at = now or timezone.now()
    voice.attendance_recorded_by = by
    voice.save(update_fields=["attendance", "attendance_recorded_at", "attendance_recorded_by"])
    return voice


@transaction.atomic
def ballot_cast(
    *,
    voice: Voice,
    choices: Mapping[int, str],
    channel: str,
    holder: Voice | None = None,
    chair: bool = False,
    recorded_by: AbstractBaseUser | None = None,
) -> Ballot:
    """Cast ``voice``'s one ballot: ``choices`` maps each resolution's id to a
    :class:`VoteChoice`. A voice that gave a proxy votes through its ``holder`` (or the
    ``chair``), any other by itself; the attendance of whoever votes online becomes "online".
    Refused (:class:`ValidationError`) when the vote is not open, the voice voted already (by
    any channel), is struck off, or the choices do not answer every resolution exactly once.

    For a secret ballot only the counters of the choices move: nothing written ties the choices
    to this ballot."""
    # The assembly's row shared: ballots go side by side, each waiting for another only on the
    # rows both write; the writes that lock it for update (the close, the list, the
    # attendance) wait for the ballots in flight, and new ballots for them.
    assembly = _assembly_share(voice.assembly_id)
    # The voice and the holder voting for it, before the counters: a holder's own ballot and
    # one it casts for its giver wait for each other rather than deadlock.
    voice = _voices_lock(voice, holder)[voice.pk]
    if assembly.state != AssemblyState.VOTING:
        raise ValidationError(_("Le vote n’est pas ouvert."))
    _voice_usable(voice, role=_("vote"))
    if Ballot.objects.filter(voice=voice).exists():
        raise ValidationError(
            _("%(organisation)s a déjà voté.") % {"organisation": voice.organisation}
        )
    if channel not in BallotChannel.values:
        raise ValidationError(_("Moyen de vote inconnu : %(value)s.") % {"value": channel})
    proxy = proxies_active(assembly=assembly).filter(giver=voice).first()
    if proxy is None and (holder is not None or chair):
        raise ValidationError(
            _("%(organisation)s n’a pas donné de pouvoir : elle vote elle-même.")
            % {"organisation": voice.organisation}
        )
    if proxy is not None:
        by_holder = holder is not None and proxy.holder_id == holder.pk
        by_chair = chair and proxy.holder_id is None
        if not (by_holder or by_chair):
            raise ValidationError(
                _("%(organisation)s a donné pouvoir : seul son mandataire vote pour elle.")
                % {"organisation": voice.organisation}
            )
    resolutions = list(Resolution.objects.filter(assembly=assembly).order_by("pk"))
    expected = {resolution.pk for resolution in resolutions}
    if set(choices) != expected or any(
        value not in VoteChoice.values for value in choices.values()
    ):
        raise ValidationError(_("Répondez à chaque résolution : pour, contre ou abstention."))
    ballot = Ballot.objects.create(
        voice=voice,
        channel=channel,
        cast_by_holder=holder if proxy is not None else None,
        cast_by_chair=chair and proxy is not None,
        recorded_by=recorded_by,
    )
    for resolution in resolutions:
        ResolutionTally.objects.filter(resolution=resolution, choice=choices[resolution.pk]).update(
            count=F("count") + 1
        )
    if not assembly.secret_ballot:
        OpenChoice.objects.bulk_create(
            OpenChoice(ballot=ballot, resolution=resolution, choice=choices[resolution.pk])
            for resolution in resolutions
        )
    attending = Attendance.ONLINE if channel == BallotChannel.ONLINE else Attendance.ROOM
    who = holder if proxy is not None else (None if chair else voice)
    if who is not None:
        Voice.objects.filter(pk=who.pk, attendance=Attendance.ABSENT).update(attendance=attending)
    return ballot


@transaction.atomic
def assembly_second_convocation(
    *, assembly: Assembly, starts_at: datetime, by: AbstractBaseUser | None
) -> Assembly:
    """The assembly convened again, in preparation, when ``assembly``'s vote closed without
    its quorum: the same agenda and rules, on ``starts_at``, with the quorum of a second
    convocation. Refused if the quorum was met, the vote is not closed, or it exists already."""
    assembly = _assembly_lock(assembly.pk)
    if assembly.state != AssemblyState.CLOSED:
        raise ValidationError(_("Le vote de la première convocation n’est pas clos."))
    if assembly.first_convocation_id is not None:
        raise ValidationError(_("Cette assemblée est déjà une seconde convocation."))
    if assembly.second_convocations.exists():
        raise ValidationError(_("La seconde convocation de cette assemblée existe déjà."))
    if assembly_results(assembly=assembly).quorum_met:
        raise ValidationError(_("Le quorum a été atteint : pas de seconde convocation."))
    second = Assembly.objects.create(
        cluster=assembly.cluster,
        kind=assembly.kind,
        title=_("%(title)s (seconde convocation)") % {"title": assembly.title},
        starts_at=starts_at,
        place=assembly.place,
        online_url=assembly.online_url,
        first_convocation=assembly,
        notice_days=assembly.notice_days,
        quorum_percent=assembly.second_quorum_percent,
        second_quorum_percent=assembly.second_quorum_percent,
        max_proxies=assembly.max_proxies,
        secret_ballot=assembly.secret_ballot,
        eligibility=assembly.eligibility,
        eligibility_paid_by=assembly.eligibility_paid_by,
        chair_name=assembly.chair_name,
        secretary_name=assembly.secretary_name,
    )
    Resolution.objects.bulk_create(
        Resolution(
            assembly=second,
            position=resolution.position,
            title=resolution.title,
            text=resolution.text,
            majority=resolution.majority,
        )
        for resolution in assembly.resolutions.order_by("position")
    )
    return second


@transaction.atomic
def voter_designate(
    *, organisation: Organisation, contact: Contact, by: AbstractBaseUser
) -> VoterDesignation:
    """``by``, a primary contact of ``organisation``, designates ``contact`` (one of its
    contacts) to vote for it: at the assemblies to come, and at those convened whose vote is not
    open yet (their voices' voter changes; a proxy given stays given). Refused
    (:class:`PermissionDenied`) to anyone else, and (:class:`ValidationError`) for a contact of
    another organisation."""
    if not organisation_managed_by(organisation=organisation, user=by):
        raise PermissionDenied(
            _("Seuls les contacts principaux de l’organisation désignent son votant.")
        )
    if contact.organisation_id != organisation.pk:
        raise ValidationError(
            _("%(contact)s n’est pas un contact de %(organisation)s.")
            % {"contact": contact, "organisation": organisation}
        )
    designation, _created = VoterDesignation.objects.update_or_create(
        organisation=organisation, defaults={"contact": contact, "designated_by": by}
    )
    # The voice's row lock orders this after a ballot or a vote opening in flight.
    voices = Voice.objects.select_for_update().filter(
        organisation=organisation, assembly__state=AssemblyState.CONVENED
    )
    Voice.objects.filter(pk__in=list(voices.values_list("pk", flat=True))).update(
        voter=contact, language=contact.language or ""
    )
    return designation


@transaction.atomic
def minutes_sign(
    *, assembly: Assembly, role: str, by: AbstractBaseUser | None, now: datetime | None = None
) -> Assembly:
    """Record that the chair or the secretary (``role``, a :class:`Signatory`) named in
    ``assembly`` signed its minutes, at ``now``, as ``by`` entered it. Refused
    (:class:`ValidationError`) before the vote is closed, for a role the assembly names nobody
    in, or when that signature is recorded already (a double click, a second tab)."""
    if role not in Signatory.values:
        raise ValidationError(_("Signataire inconnu : %(value)s.") % {"value": role})
    assembly = _assembly_lock(assembly.pk)
    if assembly.state != AssemblyState.CLOSED:
        raise ValidationError(_("Le procès-verbal se signe une fois le vote clos."))
    label = Signatory(role).label
    if not getattr(assembly, f"{role}_name").strip():
        raise ValidationError(
            _("L’assemblée ne nomme pas de %(role)s : indiquez son nom avant la signature.")
            % {"role": str(label).lower()}
        )
    if getattr(assembly, f"{role}_signed_at") is not None:
        raise ValidationError(
            _("Le procès-verbal est déjà signé par le %(role)s.") % {"role": str(label).lower()}
        )
    setattr(assembly, f"{role}_signed_at", now or timezone.now())
    setattr(assembly, f"{role}_signed_by", by)
    assembly.save(update_fields=[f"{role}_signed_at", f"{role}_signed_by", "updated_at"])
    return assembly
