"""The consultation on the successor's name: reads (who may propose and vote, the candidates,
the result) and writes (opening, phases, proposals, moderation, ballots, the name given).

Who takes part: each organisation with a current membership (:func:`members.selectors.
memberships_with_status`) in one of the merger's source clusters, once, even when it is a member
of both. For it acts a primary contact or the voter it designated
(:class:`~assemblies.models.VoterDesignation`).

Locks: every write takes the consultation's row first (``select_for_update``), so that a phase
change waits for the proposals and ballots in flight and none is taken after it, the number of an
organisation's proposals is counted once at a time, and a double click or a second tab casting
the same ballot is refused by the second write. A ballot writes one :class:`~assemblies.models.
NameBallot` (who voted) and rewrites every counter of the consultation, incrementing those of the
names approved; nothing written ties the two, not even the row versions PostgreSQL keeps.
"""

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    PositiveIntegerField,
    Q,
    QuerySet,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from assemblies.models import (
    ConsultationPhase,
    NameBallot,
    NameConsultation,
    NameProposal,
    NameTally,
    ProposalStatus,
    VoterDesignation,
)
from members.models import Contact, ContactRole, Membership, MembershipStatus, Organisation
from members.selectors import contacts_of, memberships_with_status
from merger.models import Merger, MergerEvent
from merger.services.mergers import merger_log

#: The phases in the order the committee moves them.
PHASES = list(ConsultationPhase.values)
#: The phases in which staff moderate the proposals.
MODERATION_PHASES = (ConsultationPhase.PROPOSALS, ConsultationPhase.MODERATION)
NAME_MAX = 100
REASON_MAX = 500


# Reads -------------------------------------------------------------------------------------


def name_normalised(name: str) -> str:
    """``name`` without case, accents, spaces or punctuation: "Grand  Cluster" and
    "grand-cluster" are the same name written twice."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())


def organisations_eligible(
    *, consultation: NameConsultation, on: date | None = None
) -> QuerySet[Organisation]:
    """The organisations that propose and vote in ``consultation`` on ``on`` (today): a current
    membership in one of the merger's source clusters; never a record merged into another."""
    current = memberships_with_status(
        on=on,
        queryset=Membership.objects.filter(
            cluster__in=consultation.merger.sources.all(), organisation=OuterRef("pk")
        ),
    ).filter(status=MembershipStatus.CURRENT)
    return Organisation.objects.filter(Exists(current), merged_into__isnull=True)


def contact_acting_for(
    *, user: AbstractBaseUser | AnonymousUser, organisation: Organisation
) -> Contact | None:
    """The contact ``user`` is at ``organisation`` if it acts for it in the consultation (a
    primary contact, or the voter the organisation designated), else ``None``."""
    designated = VoterDesignation.objects.filter(organisation=organisation, contact=OuterRef("pk"))
    return (
        contacts_of(user)
        .filter(organisation=organisation)
        .filter(Q(role=ContactRole.PRIMARY) | Exists(designated))
        .first()
    )


def consultations_for_members() -> QuerySet[NameConsultation]:
    """The consultations the member area points to: the latest of each merger (in progress, or
    its result published)."""
    latest = NameConsultation.objects.filter(merger=OuterRef("merger")).order_by("-opened_at")
    return NameConsultation.objects.filter(pk=latest.values("pk")[:1]).select_related(
        "merger__successor"
    )


def consultation_in_progress(*, merger: Merger) -> NameConsultation | None:
    """``merger``'s consultation whose result is not published yet, if any (one at most)."""
    return (
        NameConsultation.objects.filter(merger=merger)
        .exclude(phase=ConsultationPhase.PUBLISHED)
        .first()
    )


def candidates(*, consultation: NameConsultation) -> QuerySet[NameProposal]:
    """The names put to the vote: the proposals accepted, by name."""
    return consultation.proposals.filter(status=ProposalStatus.ACCEPTED).order_by(
        "normalised_name", "pk"
    )


def proposals_of(
    *, consultation: NameConsultation, organisation: Organisation
) -> QuerySet[NameProposal]:
    """``organisation``'s proposals in ``consultation``, with what became of them."""
    return (
        consultation.proposals.filter(organisation=organisation)
        .select_related("merged_into")
        .order_by("proposed_at", "pk")
    )


def proposals_counted(*, consultation: NameConsultation, organisation: Organisation) -> int:
    """How many proposals of ``organisation`` count towards its limit: all but those refused."""
    return (
        consultation.proposals.filter(organisation=organisation)
        .exclude(status=ProposalStatus.REFUSED)
        .count()
    )


def proposal_duplicates(*, proposal: NameProposal) -> QuerySet[NameProposal]:
    """The other proposals of ``proposal``'s consultation with the same normalised name, not
    merged nor refused: what moderation should merge."""
    return (
        proposal.consultation.proposals.filter(normalised_name=proposal.normalised_name)
        .exclude(pk=proposal.pk)
        .exclude(status__in=[ProposalStatus.MERGED, ProposalStatus.REFUSED])
        .order_by("proposed_at", "pk")
    )


@dataclass(frozen=True)
class ResultLine:
    """One name of the vote: its approvals, and how many organisations proposed it (itself and
    the proposals merged into it)."""

    candidate: NameProposal
    approvals: int
    proposed_by: int


@dataclass(frozen=True)
class ConsultationResult:
    """The result of an approval vote: the names by approvals (most first), the ``winners``
    (more than one is a tie, which the committee decides), the ballots cast and the
    organisations eligible today."""

    lines: list[ResultLine]
    ballots: int
    eligible: int

    @property
    def winners(self) -> list[ResultLine]:
        if not self.lines or self.lines[0].approvals == 0:
            return []
        return [line for line in self.lines if line.approvals == self.lines[0].approvals]

    @property
    def tie(self) -> bool:
        return len(self.winners) > 1


def consultation_result(*, consultation: NameConsultation) -> ConsultationResult:
    """The counts of ``consultation``'s vote, name by name (in three queries)."""
    rows = (
        candidates(consultation=consultation)
        .select_related("tally")
        .annotate(merged_count=Count("merged"))
    )
    lines = sorted(
        (
            ResultLine(
                candidate=row,
                approvals=getattr(getattr(row, "tally", None), "count", 0),
                proposed_by=1 + row.merged_count,
            )
            for row in rows
        ),
        key=lambda line: (-line.approvals, line.candidate.normalised_name),
    )
    return ConsultationResult(
        lines=lines,
        ballots=consultation.ballots.count(),
        eligible=organisations_eligible(consultation=consultation).count(),
    )


# Writes ------------------------------------------------------------------------------------


def _consultation_lock(consultation: NameConsultation) -> NameConsultation:
    return (
        NameConsultation.objects.select_for_update(of=("self",))
        .select_related("merger")
        .get(pk=consultation.pk)
    )


def _phase_required(consultation: NameConsultation, *phases: str, message: str) -> None:
    if consultation.phase not in phases:
        raise ValidationError(message)


@transaction.atomic
def name_consultation_open(
    *,
    merger: Merger,
    by: AbstractBaseUser | None,
    proposals_per_organisation: int = 3,
    title: str = "",
    introduction: str = "",
    proposals_until: date | None = None,
    voting_from: date | None = None,
    voting_until: date | None = None,
) -> NameConsultation:
    """Open a consultation on the name of ``merger``'s successor, proposals first; refused while
    another one of the merger is in progress."""
    Merger.objects.select_for_update().get(pk=merger.pk)
    if consultation_in_progress(merger=merger) is not None:
        raise ValidationError(_("Une consultation sur le nom est déjà en cours pour cette fusion."))
    if proposals_per_organisation < 1:
        raise ValidationError(_("Chaque organisation doit pouvoir proposer au moins un nom."))
    consultation = NameConsultation(
        merger=merger,
        introduction=introduction,
        proposals_per_organisation=proposals_per_organisation,
        proposals_until=proposals_until,
        voting_from=voting_from,
        voting_until=voting_until,
        opened_by=by,
    )
    if title:
        consultation.title = title
    consultation.save()
    return consultation


@transaction.atomic
def name_consultation_advance(
    *, consultation: NameConsultation, by: AbstractBaseUser | None, now: datetime | None = None
) -> NameConsultation:
    """Move ``consultation`` to its next phase (proposals → moderation → vote → closed →
    published). The vote opens only once every proposal is moderated and two names at least are
    accepted; the counters of the names are created then, at zero."""
    now = now or timezone.now()
    consultation = _consultation_lock(consultation)
    if consultation.phase == ConsultationPhase.PUBLISHED:
        raise ValidationError(_("Le résultat de cette consultation est déjà publié."))
    following = PHASES[PHASES.index(consultation.phase) + 1]
    if following == ConsultationPhase.MODERATION:
        consultation.moderation_started_at = now
    elif following == ConsultationPhase.VOTING:
        pending = consultation.proposals.filter(status=ProposalStatus.PENDING).count()
        if pending:
            raise ValidationError(
                ngettext(
                    "%(count)s proposition attend encore sa modération.",
                    "%(count)s propositions attendent encore leur modération.",
                    pending,
                )
                % {"count": pending}
            )
        names = list(candidates(consultation=consultation))
        if len(names) < 2:
            raise ValidationError(_("Il faut au moins deux noms retenus pour ouvrir le vote."))
        NameTally.objects.bulk_create(NameTally(candidate=name) for name in names)
        consultation.voting_opened_at = now
    elif following == ConsultationPhase.CLOSED:
        consultation.voting_closed_at = now
    else:
        consultation.published_at = now
    consultation.phase = following
    consultation.save()
    return consultation


def _name_cleaned(name: str) -> str:
    name = " ".join((name or "").split())
    if not name_normalised(name):
        raise ValidationError({"name": _("Indiquez un nom.")})
    if len(name) > NAME_MAX:
        raise ValidationError(
            {"name": _("Un nom tient en %(max)s caractères au plus.") % {"max": NAME_MAX}}
        )
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise ValidationError({"name": _("Le nom contient des caractères invisibles.")})
    return name


def _eligible_required(consultation: NameConsultation, organisation: Organisation) -> None:
    if not organisations_eligible(consultation=consultation).filter(pk=organisation.pk).exists():
        raise ValidationError(
            _(
                "%(organisation)s n’est pas membre à jour de cotisation d’un des clusters "
                "qui fusionnent : elle ne prend pas part à la consultation."
            )
            % {"organisation": organisation}
        )


@transaction.atomic
def name_propose(
    *,
    consultation: NameConsultation,
    organisation: Organisation,
    contact: Contact | None,
    name: str,
    reason: str,
) -> NameProposal:
    """``organisation`` (a member in good standing) proposes ``name`` with a short ``reason``,
    through ``contact``; refused outside the proposals phase, beyond the consultation's number of
    proposals per organisation (those refused aside), or for a name it proposed already."""
    name = _name_cleaned(name)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": _("Dites en quelques mots pourquoi ce nom.")})
    if len(reason) > REASON_MAX:
        raise ValidationError(
            {"reason": _("La raison tient en %(max)s caractères au plus.") % {"max": REASON_MAX}}
        )
    consultation = _consultation_lock(consultation)
    _phase_required(
        consultation,
        ConsultationPhase.PROPOSALS,
        message=_("Les propositions de noms sont closes."),
    )
    _eligible_required(consultation, organisation)
    if (
        proposals_counted(consultation=consultation, organisation=organisation)
        >= consultation.proposals_per_organisation
    ):
        raise ValidationError(
            _("%(organisation)s a déjà proposé %(count)s noms, le plus que la consultation permet.")
            % {"organisation": organisation, "count": consultation.proposals_per_organisation}
        )
    normalised = name_normalised(name)[:NAME_MAX]
    if consultation.proposals.filter(
        organisation=organisation, normalised_name=normalised
    ).exists():
        raise ValidationError(
            {"name": _("%(organisation)s a déjà proposé ce nom.") % {"organisation": organisation}}
        )
    return NameProposal.objects.create(
        consultation=consultation,
        organisation=organisation,
        name=name,
        normalised_name=normalised,
        reason=reason,
        proposed_by=contact,
    )


@transaction.atomic
def name_proposal_moderate(
    *,
    proposal: NameProposal,
    status: str,
    by: AbstractBaseUser | None,
    into: NameProposal | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> NameProposal:
    """Moderate ``proposal``, until the vote opens: accept it (a name of the vote), merge it
    ``into`` an accepted proposal of the same consultation (the same name written twice: the
    organisations that proposed it all count as its authors), or refuse it with a ``reason`` that
    its organisation reads. Proposals merged into a proposal that is merged or refused follow it.
    """
    now = now or timezone.now()
    consultation = _consultation_lock(proposal.consultation)
    _phase_required(
        consultation,
        *MODERATION_PHASES,
        message=_("Le vote est ouvert : les propositions ne se modèrent plus."),
    )
    proposal = NameProposal.objects.select_for_update().get(pk=proposal.pk)
    reason = (reason or "").strip()
    if status == ProposalStatus.MERGED:
        if into is None:
            raise ValidationError({"into": _("Choisissez la proposition à laquelle regrouper.")})
        into = NameProposal.objects.get(pk=into.pk)
        if into.consultation_id != consultation.pk or into.pk == proposal.pk:
            raise ValidationError(
                {"into": _("Regroupez avec une autre proposition du même appel.")}
            )
        if into.status != ProposalStatus.ACCEPTED:
            raise ValidationError(
                {"into": _("Regroupez avec une proposition retenue pour le vote.")}
            )
    elif status == ProposalStatus.REFUSED:
        if not reason:
            raise ValidationError(
                {"refusal_reason": _("Indiquez le motif du refus : l’organisation le lira.")}
            )
    elif status != ProposalStatus.ACCEPTED:
        raise ValidationError(_("Décision de modération inconnue : %(value)s.") % {"value": status})
    fields = {
        "status": status,
        "merged_into": into if status == ProposalStatus.MERGED else None,
        "refusal_reason": reason if status == ProposalStatus.REFUSED else "",
        "moderated_by": by,
        "moderated_at": now,
    }
    for field, value in fields.items():
        setattr(proposal, field, value)
    proposal.save(update_fields=list(fields))
    followers = NameProposal.objects.filter(merged_into=proposal)
    if status == ProposalStatus.MERGED:
        followers.update(merged_into=into)
    elif status == ProposalStatus.REFUSED:
        followers.update(
            status=status,
            merged_into=None,
            refusal_reason=reason,
            moderated_by=by,
            moderated_at=now,
        )
    return proposal


@transaction.atomic
def name_ballot_cast(
    *, consultation: NameConsultation, organisation: Organisation, approved: Iterable[int]
) -> NameBallot:
    """``organisation``'s one ballot: it approves the names whose ids are ``approved`` (one at
    least, any number). Refused when the vote is not open, the organisation is not a member in
    good standing of a source cluster, has voted already, or names a proposal that is not on the
    ballot. Only the counters of the names approved move; nothing ties them to the ballot."""
    consultation = _consultation_lock(consultation)
    _phase_required(consultation, ConsultationPhase.VOTING, message=_("Le vote n’est pas ouvert."))
    _eligible_required(consultation, organisation)
    if NameBallot.objects.filter(consultation=consultation, organisation=organisation).exists():
        raise ValidationError(_("%(organisation)s a déjà voté.") % {"organisation": organisation})
    approved = sorted(set(approved))
    if not approved:
        raise ValidationError(_("Approuvez au moins un nom."))
    on_ballot = set(candidates(consultation=consultation).values_list("pk", flat=True))
    if not set(approved) <= on_ballot:
        raise ValidationError(_("Ce bulletin approuve un nom qui n’est pas soumis au vote."))
    ballot = NameBallot.objects.create(consultation=consultation, organisation=organisation)
    # Every counter is rewritten, approved or not: the row versions PostgreSQL keeps (the
    # transaction id of each row's last write, its place in the table) then tell nothing of
    # which names this ballot approved.
    NameTally.objects.filter(candidate__consultation=consultation).update(
        count=Case(
            When(candidate_id__in=approved, then=F("count") + 1),
            default=F("count"),
            output_field=PositiveIntegerField(),
        )
    )
    return ballot


@transaction.atomic
def successor_name_set(
    *,
    consultation: NameConsultation,
    candidate: NameProposal,
    by: AbstractBaseUser | None,
    reason: str = "",
    now: datetime | None = None,
) -> NameConsultation:
    """The committee gives the merger's successor the name ``candidate`` of the published
    result: the successor cluster is renamed, and so is the merger where its name says the
    successor's; logged in the merger's history. A name other than the most approved (or one of
    those tied) needs a ``reason``. Every page, e-mail and PDF reads the cluster's name."""
    consultation = _consultation_lock(consultation)
    _phase_required(
        consultation,
        ConsultationPhase.PUBLISHED,
        message=_("Le nom se donne une fois le résultat publié."),
    )
    if consultation.name_chosen:
        raise ValidationError(
            _("Le successeur a déjà reçu son nom : « %(name)s ».")
            % {"name": consultation.name_chosen}
        )
    candidate = NameProposal.objects.get(pk=candidate.pk)
    if candidate.consultation_id != consultation.pk or candidate.status != ProposalStatus.ACCEPTED:
        raise ValidationError(_("Choisissez un des noms soumis au vote."))
    winners = {line.candidate.pk for line in consultation_result(consultation=consultation).winners}
    reason = (reason or "").strip()
    if candidate.pk not in winners and not reason:
        raise ValidationError(
            {"reason": _("Ce nom n’est pas le plus approuvé : indiquez le motif de ce choix.")}
        )
    merger = (
        Merger.objects.select_for_update()
        .select_related("successor")
        .get(pk=consultation.merger_id)
    )
    successor = merger.successor
    old_name, new_name = successor.name, candidate.name
    successor.name = new_name
    successor.save(update_fields=["name"])
    if old_name and old_name in merger.name:
        merger.name = merger.name.replace(old_name, new_name)
        merger.save(update_fields=["name", "updated_at"])
    merger_log(
        merger=merger,
        kind=MergerEvent.Kind.RENAMED,
        by=by,
        reason=reason,
        old_name=old_name,
        new_name=new_name,
        consultation=consultation.pk,
    )
    consultation.name_chosen = new_name
    consultation.name_chosen_at = now or timezone.now()
    consultation.name_chosen_by = by
    consultation.save(update_fields=["name_chosen", "name_chosen_at", "name_chosen_by"])
    return consultation
