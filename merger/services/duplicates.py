"""The duplicate review: the pairs of organisation records that may be one company are stored
for the committee, which merges a pair (one record survives, the other stays as its alias) or
says it is not a duplicate, never to be proposed again. A merge is undone as long as the merger
has not executed the organisation's transfer."""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Contact, Membership, Organisation

from ..matching import Candidate, duplicate_candidates
from ..models import (
    Decision,
    DuplicatePair,
    Merger,
    MergerNotice,
    OrganisationMerge,
    TransferDecision,
    TransferProposal,
)
from .mergers import reason_required
from .proposals import proposals_refresh

State = DuplicatePair.State
#: The fields of a contact that a merge keeps, to put it back if the merge is undone.
CONTACT_FIELDS = (*Contact.DETAILS, "user_id")


@dataclass(frozen=True)
class DuplicateRefresh:
    """What :func:`duplicates_refresh` found: the ``pairs`` open for review, best first, of
    which ``created`` are new; ``removed`` open pairs no longer matched (a record corrected)."""

    pairs: list[Candidate]
    created: int
    removed: int

    def as_json(self) -> dict:
        return {"pairs": [candidate.as_json() for candidate in self.pairs]}


@transaction.atomic
def duplicates_refresh() -> DuplicateRefresh:
    """Find the possible duplicates afresh (:func:`merger.matching.duplicate_candidates`) and
    store them for review: new pairs are added, open ones get their new score and reasons, open
    ones no longer found are removed. Pairs merged or judged "not a duplicate" stay as they are
    and are never proposed again."""
    judged = set(
        DuplicatePair.objects.exclude(state=State.OPEN).values_list(
            "organisation_a_id", "organisation_b_id"
        )
    )
    candidates = duplicate_candidates(excluded=judged)
    found = {(c.a.pk, c.b.pk): c for c in candidates}
    open_pairs = {
        (pair.organisation_a_id, pair.organisation_b_id): pair
        for pair in DuplicatePair.objects.select_for_update().filter(state=State.OPEN)
    }
    gone = [pair.pk for key, pair in open_pairs.items() if key not in found]
    DuplicatePair.objects.filter(pk__in=gone).delete()
    now = timezone.now()
    changed = []
    for key, pair in open_pairs.items():
        candidate = found.get(key)
        if candidate and (pair.score, pair.reasons) != (candidate.score, list(candidate.reasons)):
            pair.score, pair.reasons, pair.updated_at = (
                candidate.score,
                list(candidate.reasons),
                now,
            )
            changed.append(pair)
    DuplicatePair.objects.bulk_update(changed, ["score", "reasons", "updated_at"])
    new = DuplicatePair.objects.bulk_create(
        DuplicatePair(
            organisation_a_id=a,
            organisation_b_id=b,
            score=candidate.score,
            reasons=list(candidate.reasons),
        )
        for (a, b), candidate in found.items()
        if (a, b) not in open_pairs
    )
    return DuplicateRefresh(pairs=candidates, created=len(new), removed=len(gone))


def _merger_of(organisations: list[Organisation]) -> Merger | None:
    return Merger.objects.filter(proposals__organisation__in=organisations).distinct().first()


def _refuse_once_executed(organisations: list[Organisation], what: str) -> None:
    executed = TransferProposal.objects.filter(
        organisation__in=organisations, decision=Decision.EXECUTED
    ).select_related("organisation")
    for proposal in executed[:1]:
        raise ValidationError(
            _("Le transfert de « %(name)s » au successeur est exécuté : %(what)s.")
            % {"name": proposal.organisation.name, "what": what}
        )


def _proposals_follow(*, survivor: Organisation, absorbed: Organisation) -> None:
    """The absorbed record's proposals go to the survivor with their history: its proposal
    itself if the survivor has none, else its decisions and notices."""
    for proposal in TransferProposal.objects.filter(organisation=absorbed):
        kept = TransferProposal.objects.filter(
            merger_id=proposal.merger_id, organisation=survivor
        ).first()
        if kept is None:
            proposal.organisation = survivor
            proposal.save(update_fields=["organisation", "updated_at"])
            continue
        TransferDecision.objects.filter(proposal=proposal).update(proposal=kept)
        MergerNotice.objects.filter(proposal=proposal).update(proposal=kept)
        proposal.delete()


def _proposals_refresh(organisations: list[Organisation], *, by: AbstractBaseUser) -> None:
    merger = _merger_of(organisations)
    if merger is not None:
        as_of = (
            TransferProposal.objects.filter(merger=merger)
            .order_by("-updated_at")
            .values_list("as_of", flat=True)
            .first()
        )
        proposals_refresh(
            merger=merger, as_of=as_of, by=by, organisation_ids=[o.pk for o in organisations]
        )


def _pair_open_locked(pair: DuplicatePair) -> DuplicatePair:
    """``pair`` read again and locked for its review; a :class:`ValidationError` unless it is
    still open (somebody may have decided meanwhile)."""
    pair = DuplicatePair.objects.select_for_update().get(pk=pair.pk)
    if pair.state != State.OPEN:
        raise ValidationError(
            _("Ce doublon n’est plus à examiner (%(state)s).")
            % {"state": pair.get_state_display().lower()}
        )
    return pair


@transaction.atomic
def duplicate_merge(
    *, pair: DuplicatePair, survivor: Organisation, by: AbstractBaseUser, reason: str
) -> OrganisationMerge:
    """Merge the two records of ``pair`` into ``survivor`` (one of them): the other one's
    memberships (with their terms and invoices) and contacts move to it, and it stays as an
    alias of the survivor, so that old references still find the company. A contact whose
    e-mail the survivor already has is kept in the merge's record and removed. Transfer
    proposals follow, with their history, and are refreshed.

    Refused (:class:`ValidationError`) when the pair is not open, both records are members of
    one cluster (an organisation has one membership per cluster), or a transfer is executed.
    """
    reason = reason_required(reason)
    pair = _pair_open_locked(pair)
    ids = {pair.organisation_a_id, pair.organisation_b_id}
    if survivor.pk not in ids:
        raise ValidationError({"survivor": _("Choisissez l’une des deux fiches du doublon.")})
    records = {o.pk: o for o in Organisation.objects.select_for_update().filter(pk__in=ids)}
    survivor, absorbed = records[survivor.pk], records[(ids - {survivor.pk}).pop()]
    if survivor.merged_into_id or absorbed.merged_into_id:
        raise ValidationError(_("L’une des deux fiches est déjà rattachée à une autre."))
    _refuse_once_executed([survivor, absorbed], _("les fiches ne se fusionnent plus"))
    clashes = list(
        Membership.objects.filter(
            organisation=absorbed, cluster__memberships__organisation=survivor
        )
        .select_related("cluster")
        .order_by("cluster__name")
    )
    if clashes:
        raise ValidationError(
            _(
                "Les deux fiches sont adhérentes de %(clusters)s : une organisation n’a qu’une "
                "adhésion par cluster. Résiliez ou corrigez d’abord l’une des deux adhésions."
            )
            % {"clusters": ", ".join(m.cluster.name for m in clashes)}
        )
    membership_ids = list(
        Membership.objects.filter(organisation=absorbed).order_by("pk").values_list("pk", flat=True)
    )
    Membership.objects.filter(pk__in=membership_ids).update(
        organisation=survivor, updated_at=timezone.now()
    )
    taken = set(Contact.objects.filter(organisation=survivor).values_list("email", flat=True))
    contacts = list(Contact.objects.filter(organisation=absorbed).order_by("pk"))
    moved = [c.pk for c in contacts if c.email not in taken]
    removed = [
        {name: getattr(c, name) for name in CONTACT_FIELDS} for c in contacts if c.email in taken
    ]
    Contact.objects.filter(pk__in=moved).update(organisation=survivor, updated_at=timezone.now())
    Contact.objects.filter(organisation=absorbed).delete()
    absorbed.merged_into = survivor
    absorbed.save(update_fields=["merged_into", "updated_at"])
    merge = OrganisationMerge.objects.create(
        pair=pair,
        survivor=survivor,
        absorbed=absorbed,
        membership_ids=membership_ids,
        contact_ids=moved,
        removed_contacts=removed,
        by=by,
        reason=reason,
    )
    pair.state = State.MERGED
    pair.decided_by, pair.decided_at, pair.decision_reason = by, timezone.now(), reason
    pair.save(update_fields=["state", "decided_by", "decided_at", "decision_reason", "updated_at"])
    # Other pairs of the absorbed record are moot: found again with the survivor if they hold.
    DuplicatePair.objects.filter(
        Q(organisation_a=absorbed) | Q(organisation_b=absorbed), state=State.OPEN
    ).delete()
    _proposals_follow(survivor=survivor, absorbed=absorbed)
    _proposals_refresh([survivor, absorbed], by=by)
    return merge


@transaction.atomic
def duplicate_merge_undo(
    *, merge: OrganisationMerge, by: AbstractBaseUser, reason: str
) -> OrganisationMerge:
    """Undo ``merge``: the memberships and contacts that moved go back to the absorbed record
    (those still on the survivor), the contacts removed are put back, the record is no longer
    an alias, and the pair is open for review again. Refused once the transfer of either record
    is executed."""
    reason = reason_required(reason)
    merge = OrganisationMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.undone_at is not None:
        raise ValidationError(_("Cette fusion de fiches est déjà annulée."))
    records = {
        o.pk: o
        for o in Organisation.objects.select_for_update().filter(
            pk__in=[merge.survivor_id, merge.absorbed_id]
        )
    }
    survivor, absorbed = records[merge.survivor_id], records[merge.absorbed_id]
    _refuse_once_executed([survivor], _("la fusion des fiches ne s’annule plus"))
    now = timezone.now()
    Membership.objects.filter(pk__in=merge.membership_ids, organisation=survivor).update(
        organisation=absorbed, updated_at=now
    )
    Contact.objects.filter(pk__in=merge.contact_ids, organisation=survivor).update(
        organisation=absorbed, updated_at=now
    )
    taken = set(Contact.objects.filter(organisation=absorbed).values_list("email", flat=True))
    Contact.objects.bulk_create(
        Contact(organisation=absorbed, **fields)
        for fields in merge.removed_contacts
        if fields["email"] not in taken
    )
    absorbed.merged_into = None
    absorbed.save(update_fields=["merged_into", "updated_at"])
    merge.undone_by, merge.undone_at, merge.undo_reason = by, now, reason
    merge.save(update_fields=["undone_by", "undone_at", "undo_reason"])
    if merge.pair_id:
        DuplicatePair.objects.filter(pk=merge.pair_id).update(
            state=State.OPEN, decided_by=None, decided_at=None, decision_reason="", updated_at=now
        )
    _proposals_refresh([survivor, absorbed], by=by)
    return merge


@transaction.atomic
def duplicate_dismiss(*, pair: DuplicatePair, by: AbstractBaseUser, reason: str) -> DuplicatePair:
    """Record that ``pair`` is not one company: it is never proposed again."""
    reason = reason_required(reason)
    pair = _pair_open_locked(pair)
    pair.state = State.NOT_DUPLICATE
    pair.decided_by, pair.decided_at, pair.decision_reason = by, timezone.now(), reason
    pair.save(update_fields=["state", "decided_by", "decided_at", "decision_reason", "updated_at"])
    return pair
