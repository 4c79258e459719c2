"""Transfer proposals: made and refreshed from the members' facts, and decided by the committee,
every decision logged; two committee members deciding one proposal at once, one wins and the
other is told."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from members.formatting import short_date, short_datetime

from ..models import (
    DECISIONS,
    Decision,
    Merger,
    MergerEvent,
    TransferDecision,
    TransferProposal,
)
from ..selectors import TransferFacts, proposals_flagged, transfer_facts
from .mergers import merger_log, plan_mapping_ensure, reason_required

#: The fields of a proposal that its facts fill.
FACT_FIELDS = (
    "origin",
    "members_of_both",
    "successor_plan_id",
    "member_since",
    "paid_through",
    "credit",
    "old_member_numbers",
    "no_siret",
    "unpaid",
    "plan_unmapped",
    "objection",
)
#: Decisions whose facts are kept as they were decided: a change flags them.
DECIDED = (Decision.APPROVED, Decision.REJECTED)

Through = TransferProposal.source_memberships.through


@dataclass(frozen=True)
class ProposalRefresh:
    """What :func:`proposals_refresh` did, as of ``as_of``: ``proposals`` of the merger in all,
    ``created`` and ``updated`` (their facts changed), ``removed`` (undecided, their
    organisation no longer has anything to transfer), ``members_of_both`` and ``flagged``
    (among all proposals)."""

    as_of: date
    proposals: int
    created: int
    updated: int
    removed: int
    members_of_both: int
    flagged: int

    def as_json(self) -> dict:
        return {
            "proposals": self.proposals,
            "created": self.created,
            "updated": self.updated,
            "members_of_both": self.members_of_both,
            "flagged": self.flagged,
        }

    def summary(self) -> str:
        """What was done, in a sentence: the admin's message and the command's output."""
        return _(
            "Propositions établies au %(date)s : %(proposals)d en tout, %(created)d "
            "nouvelle(s), %(updated)d mise(s) à jour, %(removed)d retirée(s) ; %(both)d "
            "membre(s) des deux clusters, %(flagged)d signalée(s)."
        ) % {
            "date": short_date(self.as_of),
            "proposals": self.proposals,
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "both": self.members_of_both,
            "flagged": self.flagged,
        }


def _facts_apply(proposal: TransferProposal, facts: TransferFacts | None) -> bool:
    """Give ``proposal`` ``facts`` (none: nothing left to transfer); return whether they
    changed. A decided proposal whose facts differ from those of its decision is flagged."""
    snapshot = facts.as_json() if facts else {}
    changed = snapshot != proposal.facts
    if facts is not None:
        for name in FACT_FIELDS:
            setattr(proposal, name, getattr(facts, name))
    else:
        proposal.successor_plan_id = proposal.member_since = proposal.paid_through = None
        proposal.unpaid = proposal.plan_unmapped = False
        proposal.credit = 0
    proposal.facts = snapshot
    proposal.facts_changed = proposal.decision in DECIDED and snapshot != proposal.decided_facts
    return changed


def _memberships_set(proposals: dict[int, TransferProposal], facts: dict) -> None:
    """Point each of ``proposals`` (by id) to the source memberships of its ``facts``, in bulk."""
    if not proposals:
        return
    Through.objects.filter(transferproposal_id__in=proposals).delete()
    Through.objects.bulk_create(
        Through(transferproposal_id=pk, membership_id=membership_id)
        for pk, proposal in proposals.items()
        for membership_id in facts.get(proposal.organisation_id, {}).get("memberships", [])
    )


@transaction.atomic
def proposals_refresh(
    *,
    merger: Merger,
    as_of: date | None = None,
    by: AbstractBaseUser | None = None,
    organisation_ids: list[int] | None = None,
) -> ProposalRefresh:
    """Create or refresh one transfer proposal per organisation holding a source membership of
    ``merger`` that is current, in grace or pending on ``as_of`` (default: the planned date);
    of ``organisation_ids`` only, if given (after a merge of two records).

    Undecided proposals (pending, deferred) take the new facts; decided ones keep their decision
    and are flagged when their facts moved since it. A proposal whose organisation no longer has
    anything to transfer is removed if nobody decided or wrote about it, else kept, flagged.
    Executed proposals never change. Refreshes run one at a time (the merger's row is locked).
    """
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    as_of = as_of or merger.planned_date
    plan_mapping_ensure(merger=merger)
    facts = transfer_facts(merger=merger, on=as_of, organisation_ids=organisation_ids)
    proposals = TransferProposal.objects.filter(merger=merger).exclude(decision=Decision.EXECUTED)
    if organisation_ids is not None:
        proposals = proposals.filter(organisation_id__in=organisation_ids)
    existing = {p.organisation_id: p for p in proposals.select_for_update()}
    now = timezone.now()

    new = []
    for organisation_id, organisation_facts in facts.items():
        if organisation_id in existing:
            continue
        proposal = TransferProposal(merger=merger, organisation_id=organisation_id, as_of=as_of)
        _facts_apply(proposal, organisation_facts)
        new.append(proposal)
    TransferProposal.objects.bulk_create(new)

    updated, removed, moved = 0, [], {}
    for organisation_id, proposal in existing.items():
        organisation_facts = facts.get(organisation_id)
        if organisation_facts is None and _forgettable(proposal):
            removed.append(proposal.pk)
            continue
        before = proposal.facts.get("memberships")
        if _facts_apply(proposal, organisation_facts):
            updated += 1
        if proposal.facts.get("memberships") != before:
            moved[proposal.pk] = proposal
        proposal.as_of = as_of
        proposal.updated_at = now
    TransferProposal.objects.filter(pk__in=removed).delete()
    kept = [p for p in existing.values() if p.pk not in removed]
    TransferProposal.objects.bulk_update(
        kept, [*FACT_FIELDS, "facts", "facts_changed", "as_of", "updated_at"]
    )
    snapshots = {organisation_id: f.as_json() for organisation_id, f in facts.items()}
    _memberships_set({p.pk: p for p in new} | moved, snapshots)

    everything = TransferProposal.objects.filter(merger=merger)
    result = ProposalRefresh(
        as_of=as_of,
        proposals=everything.count(),
        created=len(new),
        updated=updated,
        removed=len(removed),
        members_of_both=everything.filter(members_of_both=True).count(),
        flagged=proposals_flagged(everything).count(),
    )
    merger_log(
        merger=merger,
        kind=MergerEvent.Kind.PROPOSED,
        by=by,
        as_of=as_of.isoformat(),
        **result.as_json(),
        removed=result.removed,
    )
    return result


def _forgettable(proposal: TransferProposal) -> bool:
    """Whether a proposal can go without losing anything: nobody decided it or was told of it."""
    return (
        proposal.decision == Decision.PENDING
        and not proposal.decisions.exists()
        and not proposal.notices.exists()
    )


# --- Decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionConflict:
    """A proposal that a decision did not change, and why. ``repeated``: the same person had
    already taken the same decision on it (a form sent twice: a double click, a second tab)."""

    proposal: TransferProposal
    message: str
    repeated: bool = False


@dataclass
class DecisionResult:
    """What :func:`transfer_decide` did: the proposals ``decided``, and those it left as they
    were (``conflicts``), each with the reason."""

    decided: list[TransferProposal] = field(default_factory=list)
    conflicts: list[DecisionConflict] = field(default_factory=list)


@transaction.atomic
def transfer_decide(
    *,
    proposal_ids: Iterable[int],
    decision: str,
    by: AbstractBaseUser,
    reason: str,
    versions: dict[int, int] | None = None,
) -> DecisionResult:
    """Approve, reject or defer the proposals ``proposal_ids`` on behalf of ``by``, with
    ``reason``; each decision is logged with the facts it was taken on.

    ``versions`` are the proposals' versions as ``by`` saw them (the admin's pages send them):
    a proposal decided meanwhile by somebody else is left as it is, and the conflict says who
    decided what and when. The rows are locked, so of two members deciding at once, the second
    sees the first's decision. Executed proposals never change. Raise :class:`ValidationError`
    for an unknown decision or a missing reason, :class:`PermissionDenied` when ``by`` may not
    decide transfers (the committee's permission ``merger.decide_transferproposal``; the admin and
    the command ask it first, to answer in their own way).
    """
    if not by.has_perm("merger.decide_transferproposal"):
        raise PermissionDenied(
            _("« %(by)s » n’est pas un utilisateur autorisé à décider des transferts.") % {"by": by}
        )
    if decision not in DECISIONS:
        raise ValidationError(
            _("Décision inconnue « %(decision)s » (décisions : %(known)s).")
            % {"decision": decision, "known": ", ".join(DECISIONS)}
        )
    reason = reason_required(reason)
    versions = versions or {}
    result = DecisionResult()
    locked = (
        TransferProposal.objects.select_for_update(of=("self",))
        .select_related("organisation", "decided_by")
        .filter(pk__in=list(proposal_ids))
        .order_by("pk")
    )
    now = timezone.now()
    decisions = []
    for proposal in locked:
        if proposal.decision == Decision.EXECUTED:
            result.conflicts.append(
                DecisionConflict(
                    proposal, _("Transfert déjà exécuté : la décision ne change plus.")
                )
            )
            continue
        seen = versions.get(proposal.pk)
        if seen is not None and seen != proposal.version and _repeated(proposal, decision, by):
            result.conflicts.append(
                DecisionConflict(
                    proposal,
                    _("Déjà décidée ainsi par vous le %(at)s : rien n’a été changé.")
                    % {"at": short_datetime(proposal.decided_at)},
                    repeated=True,
                )
            )
            continue
        if seen is not None and seen != proposal.version:
            result.conflicts.append(
                DecisionConflict(
                    proposal,
                    _(
                        "Décidée entre-temps par %(by)s le %(at)s : %(decision)s (%(reason)s). "
                        "Rien n’a été changé ; relisez-la avant de décider à nouveau."
                    )
                    % {
                        "by": proposal.decided_by,
                        "at": short_datetime(proposal.decided_at),
                        "decision": proposal.get_decision_display().lower(),
                        "reason": proposal.decision_reason,
                    },
                )
            )
            continue
        decisions.append(
            TransferDecision(
                proposal=proposal,
                decision=decision,
                previous=proposal.decision,
                by=by,
                reason=reason,
                facts=proposal.facts,
            )
        )
        result.decided.append(proposal)
    # One statement for all: the decision is taken on each proposal's facts as they stand.
    TransferProposal.objects.filter(pk__in=[p.pk for p in result.decided]).update(
        decision=decision,
        decided_by=by,
        decided_at=now,
        decision_reason=reason,
        decided_facts=F("facts"),
        facts_changed=False,
        version=F("version") + 1,
        updated_at=now,
    )
    for proposal in result.decided:
        proposal.decision, proposal.decided_by, proposal.decided_at = decision, by, now
        proposal.decision_reason, proposal.decided_facts = reason, proposal.facts
        proposal.facts_changed, proposal.version = False, proposal.version + 1
    TransferDecision.objects.bulk_create(decisions)
    return result


def _repeated(proposal: TransferProposal, decision: str, by: AbstractBaseUser) -> bool:
    """Whether ``proposal`` already holds ``decision``, taken by ``by``."""
    return proposal.decision == decision and proposal.decided_by_id == by.pk
