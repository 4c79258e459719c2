"""Executing the merger: each approved proposal becomes one successor membership that keeps the
organisation's seniority and the period it already paid; its source memberships are marked
transferred. Atomic per organisation and idempotent: a second run creates nothing."""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from kombu.exceptions import OperationalError

from members.formatting import money, short_date
from members.mailing import REQUEUE_AFTER
from members.models import Cluster, CreditNoteOrigin, Invoice, Membership, Plan, Site, Term
from members.services.billing import credit_note_issue
from members.services.renewals import renewal_period
from members.services.years import FirstTerm, first_term
from members.texts import Text, text_store

from ..models import Decision, Merger, MergerEvent, MergerExecution, TransferProposal
from ..selectors import (
    PaidBeyond,
    TransferFacts,
    paid_beyond,
    proposals_search,
    proposals_to_execute,
    transfer_facts,
)
from .mergers import merger_log

#: What the facts of a decision are called, to say which ones changed since.
FACT_LABELS = {
    "memberships": gettext_lazy("adhésions sources"),
    "successor_plan": gettext_lazy("formule du successeur"),
    "member_since": gettext_lazy("adhérent depuis"),
    "paid_through": gettext_lazy("payée jusqu’au"),
    "credit": gettext_lazy("avoir"),
    "old_member_numbers": gettext_lazy("anciens n° d’adhérent"),
    "flags": gettext_lazy("signalements"),
}


@dataclass(frozen=True)
class SuccessorMembership:
    """One membership of the successor, made (or, in a dry run, to be made) from a proposal."""

    proposal_id: int
    organisation_id: int
    organisation: str
    member_number: str
    member_since: date | None
    plan: str
    start_date: date
    end_date: date
    is_paid: bool
    fee: Decimal
    credit: Decimal
    old_member_numbers: str
    site: str
    #: Aligned on the successor's year: what the days already paid took off the first term's
    #: fee (``credit`` is then what they were worth beyond it, credited back).
    deduction: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class ExecutionFailure:
    organisation_id: int
    organisation: str
    #: Why, as a stored text (``members.texts``): ``str()`` in the active language.
    message: Text


@dataclass
class ExecutionResult:
    """What :func:`merger_execute` did (or would do, in a ``dry_run``): the successor
    memberships ``executed``, the proposals ``skipped`` (already executed) and those that
    ``failed``, each with the reason."""

    dry_run: bool
    effective_date: date
    executed: list[SuccessorMembership] = field(default_factory=list)
    skipped: int = 0
    failed: list[ExecutionFailure] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "executed": len(self.executed),
            "skipped": self.skipped,
            "failed": [
                {"organisation": failure.organisation_id, "message": str(failure.message)}
                for failure in self.failed
            ],
        }

    def as_event(self) -> dict:
        """:meth:`as_json` as the merger's history keeps it: the reasons as codes and values."""
        return {
            **self.as_json(),
            "failed": [
                {"organisation": failure.organisation_id, "message": failure.message.stored()}
                for failure in self.failed
            ],
        }


def member_number_format(*, merger: Merger, number: int) -> str:
    """The successor's member number of rank ``number``: ``GC-0001``."""
    successor = merger.successor
    prefix = successor.member_number_prefix or successor.slug[:2].upper()
    return f"{prefix}-{number:04d}"


def successor_term_period(
    *, facts: TransferFacts, effective: date, annual_fee: Decimal
) -> tuple[date, date, bool, Decimal]:
    """The first term of the successor membership: (start, end, paid, fee).

    Paid through a day after the effective date, the member keeps that period, paid (its fee
    went to the source cluster). Otherwise (in grace, or waiting for a payment on the effective
    date) its first successor year is to pay: from the effective date to the end of the
    membership year, on the anniversary of what it paid, that holds it, at the successor plan's
    ``annual_fee`` for the share of that year it covers.
    """
    if facts.paid_through and facts.paid_through >= effective:
        return effective, facts.paid_through, True, Decimal("0.00")
    anchor = facts.paid_through or effective - timedelta(days=1)
    start, end = renewal_period(after=Term(end_date=anchor), today=effective)
    share = Decimal((end - effective).days + 1) / Decimal((end - start).days + 1)
    return effective, end, False, (annual_fee * share).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Alignment:
    """The first successor term of a merger that aligns on the successor's membership year:
    ``term``, from the effective date to the end of the successor's year at the fee its
    proration rule gives; the ``paid`` source terms running past the effective date, whose
    value is deducted from that fee (both clusters' when both were paid); the ``fee`` left to
    pay, and the ``excess`` of that value over the fee, which is credited back on the source
    invoices (:func:`_excess_credit`)."""

    term: FirstTerm
    paid: tuple[PaidBeyond, ...]
    deduction: Decimal
    fee: Decimal
    excess: Decimal

    def as_json(self) -> dict:
        return {
            "first_term": self.term.as_json(),
            "paid_beyond": [line.as_json() for line in self.paid],
            "deduction": str(self.deduction),
            "fee": str(self.fee),
            "excess": str(self.excess),
        }


def successor_term_aligned(
    *, successor: Cluster, annual_fee: Decimal, effective: date, paid: list[PaidBeyond]
) -> Alignment:
    """The first successor term aligned on ``successor``'s membership year from ``effective``,
    at a plan of ``annual_fee``, for a member whose paid source terms past that date are
    ``paid``: the prorated fee minus what those days are worth, down to nothing, the rest being
    the excess to credit back."""
    term = first_term(cluster=successor, annual_fee=annual_fee, start=effective)
    worth = sum((line.value for line in paid), Decimal("0.00"))
    deduction = min(worth, term.fee)
    return Alignment(
        term=term,
        paid=tuple(paid),
        deduction=deduction,
        fee=term.fee - deduction,
        excess=worth - deduction,
    )


def _changes(decided: dict, now: dict) -> list:
    return [label for key, label in FACT_LABELS.items() if decided.get(key) != now.get(key)]


#: Organisations executed per transaction: their source memberships are locked and their facts
#: computed together, then each one is written under a savepoint of its own.
CHUNK_SIZE = 200


def merger_execute_check(*, merger: Merger) -> None:
    """Raise :class:`ValidationError` unless ``merger`` may be executed: its date is fixed
    (scheduled) or it is effective already."""
    if merger.status not in (Merger.Status.SCHEDULED, Merger.Status.EFFECTIVE):
        raise ValidationError(
            _(
                "La fusion est « %(status)s » : arrêtez d’abord sa date d’effet (statut « date "
                "arrêtée ») avant d’exécuter les transferts."
            )
            % {"status": merger.get_status_display()}
        )


#: Called after each chunk an execution commits: (proposals done, proposals in all, the result
#: so far).
Progress = Callable[[int, int, "ExecutionResult"], None]


def merger_execute(
    *,
    merger: Merger,
    by: AbstractBaseUser | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ExecutionResult:
    """Turn each approved proposal of ``merger`` into one successor membership, on the planned
    date (the effective date once set), or in a ``dry_run`` say what it would make.

    Proposals are executed :data:`CHUNK_SIZE` at a time, oldest members first, each chunk in a
    transaction that locks them and their organisations' source memberships (a renewal waits),
    so that the facts computed then are those written; each organisation is written under a
    savepoint: all of it or nothing. The facts must be those the committee approved, else the
    proposal is flagged and left for a new decision. The successor membership keeps the
    earliest member-since and the latest paid-through (:func:`successor_term_period`), gets the
    next member number and the site of the same name; the source memberships are marked
    transferred, on the effective date, to it. A proposal already executed is skipped: a second
    run creates nothing. The first execution makes the merger effective. Raise
    :class:`ValidationError` unless the merger's date is fixed (scheduled) or it is effective.
    """
    merger_execute_check(merger=merger)
    effective = merger.effective_date or merger.planned_date
    result = ExecutionResult(dry_run=dry_run, effective_date=effective)
    proposals = TransferProposal.objects.filter(
        merger=merger, decision__in=[Decision.APPROVED, Decision.EXECUTED]
    )
    result.skipped = proposals.filter(decision=Decision.EXECUTED).count()
    approved = list(proposals_to_execute(merger=merger).values_list("pk", flat=True))
    context = _execution_context(merger=merger, effective=effective, dry_run=dry_run)
    number = merger.last_member_number
    for start in range(0, len(approved), CHUNK_SIZE):
        chunk = approved[start : start + CHUNK_SIZE]
        with transaction.atomic():
            outcomes, number = _chunk_execute(chunk, number=number, **context)
        for outcome in outcomes:
            if isinstance(outcome, SuccessorMembership):
                result.executed.append(outcome)
            else:
                result.failed.append(outcome)
        result.skipped += len(chunk) - len(outcomes)
        if progress is not None:
            progress(start + len(chunk), len(approved), result)
    if not dry_run and (result.executed or result.failed):
        _merger_executed(merger=merger, by=by, effective=effective, result=result)
    return result


def _execution_context(*, merger: Merger, effective: date, dry_run: bool) -> dict:
    """What executing each chunk of ``merger``'s proposals needs besides them."""
    return {
        "merger": merger,
        "successor": merger.successor if merger.align_on_successor_year else None,
        "effective": effective,
        "plans": {plan.pk: plan for plan in Plan.objects.filter(cluster=merger.successor_id)},
        "sites": {site.name: site for site in Site.objects.filter(cluster=merger.successor_id)},
        "dry_run": dry_run,
    }


@transaction.atomic
def _merger_executed(
    *, merger: Merger, by: AbstractBaseUser | None, effective: date, result: ExecutionResult
) -> None:
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    before = merger.status
    if result.executed and merger.status != Merger.Status.EFFECTIVE:
        merger.status = Merger.Status.EFFECTIVE
        merger.effective_date = effective
        merger.save(update_fields=["status", "effective_date", "updated_at"])
    event = merger_log(
        merger=merger,
        kind=MergerEvent.Kind.EXECUTED,
        by=by,
        **result.as_event(),
    )
    event.status_before, event.status_after = before, merger.status
    event.save(update_fields=["status_before", "status_after"])


def _chunk_execute(
    proposal_ids: list[int],
    *,
    merger: Merger,
    successor: Cluster | None,
    effective: date,
    plans: dict[int, Plan],
    sites: dict[str, Site],
    number: int,
    dry_run: bool,
) -> tuple[list[SuccessorMembership | ExecutionFailure], int]:
    """Execute the proposals ``proposal_ids`` (in the caller's transaction): their outcomes, in
    order, and the last member number given. Proposals no longer approved (decided again
    meanwhile) have none. With a ``successor``, the first terms align on its membership year
    (:func:`successor_term_aligned`)."""
    proposals = TransferProposal.objects.filter(pk__in=proposal_ids, decision=Decision.APPROVED)
    if not dry_run:
        proposals = proposals.select_for_update(of=("self",))
    by_pk = {p.pk: p for p in proposals.select_related("organisation")}
    proposals = [by_pk[pk] for pk in proposal_ids if pk in by_pk]
    organisation_ids = [proposal.organisation_id for proposal in proposals]
    if not dry_run:
        # A renewal locks its membership first: it waits, and the facts below stay true.
        list(
            Membership.objects.select_for_update()
            .filter(organisation_id__in=organisation_ids, cluster__in=merger.sources.all())
            .values_list("pk", flat=True)
        )
        locked = Merger.objects.select_for_update().get(pk=merger.pk)
        number = locked.last_member_number
    facts = transfer_facts(merger=merger, on=effective, organisation_ids=organisation_ids)
    members_already = dict(
        Membership.objects.filter(
            organisation_id__in=organisation_ids, cluster=merger.successor_id
        ).values_list("organisation_id", "member_number")
    )
    paid = (
        paid_beyond(
            membership_ids=[pk for one in facts.values() for pk in one.membership_ids],
            since=effective,
        )
        if successor is not None
        else {}
    )
    outcomes = []
    for proposal in proposals:
        outcome = _proposal_check(
            proposal,
            facts=facts.get(proposal.organisation_id),
            effective=effective,
            plans=plans,
            member_number=members_already.get(proposal.organisation_id),
            dry_run=dry_run,
        )
        if isinstance(outcome, ExecutionFailure):
            outcomes.append(outcome)
            continue
        number += 1
        organisation_facts, plan = outcome
        alignment = None
        if successor is not None:
            alignment = successor_term_aligned(
                successor=successor,
                annual_fee=plan.annual_fee,
                effective=effective,
                paid=[
                    line for pk in organisation_facts.membership_ids for line in paid.get(pk, [])
                ],
            )
            start, end, fee = alignment.term.start, alignment.term.end, alignment.fee
            is_paid = not fee
        else:
            start, end, is_paid, fee = successor_term_period(
                facts=organisation_facts, effective=effective, annual_fee=plan.annual_fee
            )
        site = next((sites[name] for name in organisation_facts.sites if name in sites), None)
        row = SuccessorMembership(
            proposal_id=proposal.pk,
            organisation_id=proposal.organisation_id,
            organisation=proposal.organisation.name,
            member_number=member_number_format(merger=merger, number=number),
            member_since=organisation_facts.member_since,
            plan=plan.name,
            start_date=start,
            end_date=end,
            is_paid=is_paid,
            fee=fee,
            credit=alignment.excess if alignment else organisation_facts.credit,
            old_member_numbers=organisation_facts.old_member_numbers,
            site=site.name if site else "",
            deduction=alignment.deduction if alignment else Decimal("0.00"),
        )
        if not dry_run:
            with transaction.atomic():
                _successor_write(
                    proposal,
                    row=row,
                    facts=organisation_facts,
                    plan=plan,
                    site=site,
                    effective=effective,
                    merger=merger,
                    alignment=alignment,
                )
        outcomes.append(row)
    if not dry_run:
        locked.last_member_number = number
        locked.save(update_fields=["last_member_number"])
    return outcomes, number


def _proposal_check(
    proposal: TransferProposal,
    *,
    facts: TransferFacts | None,
    effective: date,
    plans: dict[int, Plan],
    member_number: str | None,
    dry_run: bool,
) -> tuple[TransferFacts, Plan] | ExecutionFailure:
    """The facts and plan ``proposal`` executes with, or why it cannot (a decided proposal
    whose facts moved is flagged, unless in a dry run)."""
    organisation = proposal.organisation

    def failure(message: Text) -> ExecutionFailure:
        return ExecutionFailure(organisation.pk, organisation.name, message)

    now_facts = facts.as_json() if facts else {}
    if now_facts != proposal.decided_facts:
        if not dry_run:
            proposal.facts = now_facts
            proposal.facts_changed = True
            proposal.save(update_fields=["facts", "facts_changed", "updated_at"])
        if facts is None:
            return failure(Text("merger.execution_nothing_to_transfer", date=effective))
        return failure(
            Text(
                "merger.execution_facts_changed",
                changes=_changes(proposal.decided_facts, now_facts),
            )
        )
    plan = plans.get(facts.successor_plan_id)
    if plan is None:
        return failure(Text("merger.execution_no_plan"))
    if member_number:
        return failure(Text("merger.execution_already_member", number=member_number))
    return facts, plan


def _successor_write(
    proposal: TransferProposal,
    *,
    row: SuccessorMembership,
    facts: TransferFacts,
    plan: Plan,
    site: Site | None,
    effective: date,
    merger: Merger,
    alignment: Alignment | None,
) -> None:
    """Write the successor membership ``row`` of ``proposal`` and mark its sources transferred;
    aligned, credit back the ``alignment``'s excess and keep its computation on the proposal."""
    credited = _excess_credit(alignment, member_number=row.member_number) if alignment else []
    membership = Membership.objects.create(
        organisation_id=proposal.organisation_id,
        cluster_id=merger.successor_id,
        member_number=row.member_number,
        member_since=row.member_since,
        site=site,
        notes=_transfer_note(
            facts=facts, effective=effective, alignment=alignment, credited=credited
        ),
    )
    Term.objects.create(
        membership=membership,
        plan=plan,
        start_date=row.start_date,
        end_date=row.end_date,
        fee=row.fee,
        is_paid=row.is_paid,
        paid_on=(facts.paid_on or effective) if row.is_paid else None,
    )
    now = timezone.now()
    Membership.objects.filter(pk__in=facts.membership_ids).update(
        transferred_on=effective, transferred_to=membership, updated_at=now
    )
    proposal.decision = Decision.EXECUTED
    proposal.successor_membership = membership
    proposal.executed_at = now
    if alignment is not None:
        left = alignment.excess - sum((amount for _n, amount in credited), Decimal("0.00"))
        proposal.alignment = alignment.as_json() | {
            "credit_notes": [
                {"number": number, "amount": str(amount)} for number, amount in credited
            ],
            "not_credited": str(left),
        }
    proposal.save(
        update_fields=[
            "decision",
            "successor_membership",
            "executed_at",
            "alignment",
            "updated_at",
        ]
    )


def _excess_credit(alignment: Alignment, *, member_number: str) -> list[tuple[str, Decimal]]:
    """Credit back the ``alignment``'s excess (days paid beyond what the first successor term
    costs) on the invoices of the source terms paid past the effective date, the latest first,
    each for at most what its days beyond are worth and what is left on it: (number, amount) of
    each credit note issued (origin "merger"; the source invoice, paid, is then overpaid by as
    much, to refund). A term without an invoice (imported) cannot be credited: what is left is
    said in the note and the proposal's computation."""
    left = alignment.excess
    lines = [line for line in alignment.paid if line.invoice_id]
    if left <= 0 or not lines:
        return []
    invoices = {
        invoice.pk: invoice
        for invoice in Invoice.objects.filter(
            pk__in=[line.invoice_id for line in lines], cancelled_on__isnull=True
        ).annotate(credited=Coalesce(Sum("credit_notes__amount"), Decimal("0.00")))
    }
    credited = []
    for line in sorted(lines, key=lambda line: (line.end, line.start), reverse=True):
        invoice = invoices.get(line.invoice_id)
        if left <= 0 or invoice is None:
            continue
        amount = min(left, line.value, invoice.amount - invoice.credited)
        if amount <= 0:
            continue
        with translation.override(settings.LANGUAGE_CODE):
            reason = _(
                "Fusion : %(days)s jours payés au-delà de la date d’effet (%(date)s), au-delà "
                "de la cotisation de la première période au successeur (adhésion %(number)s)."
            ) % {
                "days": line.days,
                "date": short_date(alignment.term.start),
                "number": member_number,
            }
        note = credit_note_issue(
            invoice=invoice, reason=reason, amount=amount, origin=CreditNoteOrigin.MERGER
        )
        credited.append((note.number, amount))
        left -= amount
    return credited


def _transfer_note(
    *,
    facts: TransferFacts,
    effective: date,
    alignment: Alignment | None = None,
    credited: list[tuple[str, Decimal]] = (),
) -> str:
    note = _("Transférée par la fusion le %(date)s ; anciens n° d’adhérent : %(numbers)s.") % {
        "date": short_date(effective),
        "numbers": facts.old_member_numbers,
    }
    if alignment is not None:
        note += " " + _(
            "Première période alignée sur l’année du successeur : %(gross)s au prorata, moins "
            "%(deduction)s déjà payés aux clusters sources au-delà de la date d’effet, reste "
            "%(fee)s."
        ) % {
            "gross": money(alignment.term.fee),
            "deduction": money(alignment.deduction),
            "fee": money(alignment.fee),
        }
        if credited:
            note += " " + _("Avoirs émis pour le surplus : %(notes)s.") % {
                "notes": ", ".join(f"{number} ({money(amount)})" for number, amount in credited)
            }
        not_credited = alignment.excess - sum((amount for _n, amount in credited), Decimal(0))
        if not_credited > 0:
            note += " " + _("Surplus sans facture à créditer : %(amount)s.") % {
                "amount": money(not_credited)
            }
        return note
    if facts.credit:
        note += " " + _("Avoir de %(credit)s : payé aux deux clusters pour la même période.") % {
            "credit": money(facts.credit)
        }
    return note


# --- The execution from the admin: its preview, and its run by a Celery worker -------------------


@dataclass(frozen=True)
class ExecutionPreview:
    """A page of the execution's preview: ``page`` (of the matching approved proposals' ids,
    :class:`django.core.paginator.Page`) and its ``rows``, the successor membership each would
    become or why it cannot, in the execution's order."""

    page: Page
    rows: list[SuccessorMembership | ExecutionFailure]


def merger_execution_preview(
    *, merger: Merger, search: str = "", page_number: int = 1, per_page: int = 50
) -> ExecutionPreview:
    """The page ``page_number`` (the last one if beyond) of the approved proposals of ``merger``
    whose organisation's name, SIRET, old or future member number match ``search``, each as the
    execution would make it now (a dry run of those only: nothing is written).

    A successor membership's number is its rank among all the approved proposals: the number it
    gets unless a proposal before it cannot be executed. The cost is that of the page's rows,
    whatever the number of proposals."""
    merger_execute_check(merger=merger)
    ordered = proposals_to_execute(merger=merger)
    ordered_ids = list(ordered.values_list("pk", flat=True))
    ranks = {pk: rank for rank, pk in enumerate(ordered_ids, start=1)}
    matching = list(proposals_search(ordered, search).values_list("pk", flat=True))
    rank = _member_number_rank(merger=merger, text=search)
    if rank is not None and rank <= len(ordered_ids):
        by_rank = ordered_ids[rank - 1]
        if by_rank not in matching:
            matching = sorted([*matching, by_rank], key=ranks.__getitem__)
    page = Paginator(matching, per_page).get_page(page_number)
    effective = merger.effective_date or merger.planned_date
    with transaction.atomic():
        outcomes, _number = _chunk_execute(
            list(page.object_list),
            number=0,
            **_execution_context(merger=merger, effective=effective, dry_run=True),
        )
    rows = [
        replace(
            outcome,
            member_number=member_number_format(
                merger=merger, number=merger.last_member_number + ranks[outcome.proposal_id]
            ),
        )
        if isinstance(outcome, SuccessorMembership)
        else outcome
        for outcome in outcomes
    ]
    return ExecutionPreview(page=page, rows=rows)


def _member_number_rank(*, merger: Merger, text: str) -> int | None:
    """The rank among the approved proposals of the successor's member number ``text``
    (``GC-0012``, any case), if it is one still to give."""
    prefix = member_number_format(merger=merger, number=0).rsplit("-", 1)[0]
    found = re.fullmatch(rf"{re.escape(prefix)}-0*(\d{{1,9}})", text.strip(), re.IGNORECASE)
    if not found:
        return None
    rank = int(found[1]) - merger.last_member_number
    return rank if rank > 0 else None


@transaction.atomic
def merger_execution_start(
    *, merger: Merger, by: AbstractBaseUser | None, key: uuid.UUID
) -> tuple[MergerExecution, bool]:
    """Ask a Celery worker to execute ``merger``'s approved proposals, once the confirmation
    ``key`` (one per confirmation page shown) commits: the execution, and whether this call
    created it.

    A key already used (a double click, the page posted again) gives its execution; an
    execution still queued or running (a second tab) is that one: a merger runs one at a
    time, which a constraint backs. One still waiting for a worker after
    :data:`members.mailing.REQUEUE_AFTER` lost its task: it is queued again. Raise
    :class:`ValidationError` when the merger may not be executed or nothing is left to
    execute."""
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    same = MergerExecution.objects.filter(key=key).first()
    if same is not None:
        if same.merger_id != merger.pk:
            raise ValidationError(_("Cette confirmation est celle d’une autre fusion."))
        return same, False
    running = MergerExecution.objects.filter(
        merger=merger, state__in=MergerExecution.UNFINISHED
    ).first()
    if running is not None:
        if running.state == MergerExecution.State.QUEUED and (
            running.created_at < timezone.now() - REQUEUE_AFTER
        ):
            # Its task was lost (a broker emptied): queued again, it runs once all the same.
            transaction.on_commit(lambda: _execution_queue(running))
        return running, False
    merger_execute_check(merger=merger)
    total = proposals_to_execute(merger=merger).count()
    if not total:
        raise ValidationError(
            _("Aucune proposition approuvée n’attend son exécution : rien n’a été lancé.")
        )
    execution = MergerExecution.objects.create(
        merger=merger,
        key=key,
        by=by,
        effective_date=merger.effective_date or merger.planned_date,
        total=total,
    )
    transaction.on_commit(lambda: _execution_queue(execution))
    return execution, True


def _execution_queue(execution: MergerExecution) -> None:
    # The task wraps this module's service: imported when one is queued.
    from merger.tasks import merger_execution_run as task

    try:
        task.delay(execution.pk)
    except OperationalError as error:
        MergerExecution.objects.filter(pk=execution.pk).update(
            state=MergerExecution.State.FAILED,
            error=_("La file des tâches (Celery) est injoignable : rien n’a été exécuté. %(error)s")
            % {"error": error},
            finished_at=timezone.now(),
        )


def merger_execution_run(*, execution_id: int) -> MergerExecution:
    """Run the execution ``execution_id`` (what its Celery task does), recording its progress
    after each chunk and its outcome at the end. An execution over already is left as it is;
    one interrupted (a worker lost) runs again, and :func:`merger_execute` skips what it did.
    """
    with transaction.atomic():
        execution = (
            MergerExecution.objects.select_for_update(of=("self",))
            .select_related("merger__successor", "by")
            .get(pk=execution_id)
        )
        if execution.finished:
            return execution
        execution.state = MergerExecution.State.RUNNING
        execution.started_at = execution.started_at or timezone.now()
        execution.save(update_fields=["state", "started_at"])
    figures = MergerExecution.objects.filter(pk=execution.pk)

    def progress(done: int, total: int, result: ExecutionResult) -> None:
        figures.update(done=done, total=total, **_execution_figures(result))

    try:
        result = merger_execute(merger=execution.merger, by=execution.by, progress=progress)
    except Exception as error:
        message = " ".join(error.messages) if isinstance(error, ValidationError) else repr(error)
        figures.update(
            state=MergerExecution.State.FAILED, error=message, finished_at=timezone.now()
        )
        if not isinstance(error, ValidationError):
            raise
    else:
        figures.update(
            state=MergerExecution.State.DONE,
            finished_at=timezone.now(),
            done=F("total"),
            **_execution_figures(result),
        )
    execution.refresh_from_db()
    return execution


def _execution_figures(result: ExecutionResult) -> dict:
    return {
        "executed": len(result.executed),
        "skipped": result.skipped,
        "failures": [
            {
                "organisation": failure.organisation_id,
                "name": failure.organisation,
                # As a code and its values: read in the language of whoever reads the outcome.
                "message": text_store(failure.message),
            }
            for failure in result.failed
        ],
    }
