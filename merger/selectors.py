"""Reads of the merger: the facts a transfer proposal is made of, the merger's report, and what
the admin's pages show (a proposal's source records, a duplicate's records, counts).

The facts of every organisation are computed together, in a constant number of queries (the
memberships with their status from :func:`members.selectors.memberships_with_status`, their
terms, the plan mapping, the objections), never one query per organisation.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

from django.conf import settings
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assemblies.models import Assembly, AssemblyKind, AssemblyState, Resolution
from assemblies.selectors import ResolutionResult, assembly_results
from members.formatting import long_date, money, short_date
from members.models import (
    Cluster,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    Plan,
    Term,
)
from members.selectors import memberships_with_status

from .models import (
    FLAGS,
    UNDECIDED,
    Decision,
    DuplicatePair,
    Merger,
    MergerAdoption,
    MergerExecution,
    MergerNotice,
    OrganisationMerge,
    PlanMapping,
    TransferProposal,
)

#: The statuses of a source membership that make a transfer proposal.
TRANSFERABLE = (MembershipStatus.CURRENT, MembershipStatus.GRACE, MembershipStatus.PENDING)
#: The origin of an organisation that was a member of more than one source cluster.
BOTH = "both"
CENT = Decimal("0.01")
#: The flags that are facts of the organisation (a proposal's ``facts_changed`` is not).
FACT_FLAGS = ("no_siret", "unpaid", "plan_unmapped", "objection")


def merger_current() -> Merger | None:
    """The merger, when there is one (the product runs one merger at a time)."""
    return Merger.objects.select_related("successor").order_by("pk").first()


@dataclass(frozen=True)
class TransferFacts:
    """What an organisation's source memberships make in the successor, as of a date.

    ``member_since`` is the earliest seniority, ``paid_through`` the latest end of a paid term,
    ``credit`` what both clusters were paid for the same days from that date on (the successor
    receives a membership paid twice). The flags ask the committee to look closer.
    """

    organisation_id: int
    membership_ids: tuple[int, ...]
    origin: str
    members_of_both: bool
    successor_plan_id: int | None
    member_since: date | None
    paid_through: date | None
    credit: Decimal
    old_member_numbers: str
    no_siret: bool
    unpaid: bool
    plan_unmapped: bool
    objection: bool
    #: For the execution: the sites of the source memberships (the successor's of the same name
    #: welcomes the member) and the day the latest paid term was paid.
    sites: tuple[str, ...] = field(default=(), compare=False)
    paid_on: date | None = field(default=None, compare=False)

    def as_json(self) -> dict:
        """The facts a decision is taken on, as stored with it (and compared at execution)."""
        return {
            "memberships": list(self.membership_ids),
            "successor_plan": self.successor_plan_id,
            "member_since": self.member_since.isoformat() if self.member_since else None,
            "paid_through": self.paid_through.isoformat() if self.paid_through else None,
            "credit": str(self.credit),
            "old_member_numbers": self.old_member_numbers,
            "flags": [name for name in FACT_FLAGS if getattr(self, name)],
        }


def double_payment_credit(terms: list[tuple[int, date, date, Decimal]], *, since: date) -> Decimal:
    """What was paid twice for the same days from ``since`` on, among paid ``terms``
    (membership id, start, end, fee) of several memberships: on each day covered by the paid
    terms of two memberships or more, every daily fee but the highest one (a fee per day is the
    term's fee spread over its days)."""
    rated = [
        (membership_id, max(start, since), end, fee / ((end - start).days + 1))
        for membership_id, start, end, fee in terms
        if end >= since
    ]
    bounds = sorted(
        {start for _m, start, _e, _r in rated}
        | {end + timedelta(days=1) for _m, _s, end, _r in rated}
    )
    credit = Decimal("0")
    for low, high in pairwise(bounds):
        rates_by_membership: dict[int, Decimal] = {}
        for membership_id, start, end, rate in rated:
            if start <= low <= end:
                rates_by_membership[membership_id] = max(
                    rate, rates_by_membership.get(membership_id, 0)
                )
        if len(rates_by_membership) > 1:
            rates = sorted(rates_by_membership.values())
            credit += sum(rates[:-1]) * (high - low).days
    return credit.quantize(CENT)


@dataclass(frozen=True)
class PaidBeyond:
    """A paid source term running past the merger's effective date: the ``days`` of its ``of``
    days from that date on, and what they are worth (``value``: its fee × days / of, to the
    cent, half up). ``invoice_id`` is its invoice's, if it has one."""

    term_id: int
    membership_id: int
    invoice_id: int | None
    cluster: str
    member_number: str
    start: date
    end: date
    fee: Decimal
    days: int
    of: int
    value: Decimal

    def as_json(self) -> dict:
        return {
            "cluster": self.cluster,
            "member_number": self.member_number,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "fee": str(self.fee),
            "days": self.days,
            "of": self.of,
            "value": str(self.value),
        }


def paid_beyond(*, membership_ids: Iterable[int], since: date) -> dict[int, list[PaidBeyond]]:
    """The paid terms (not cancelled) of ``membership_ids`` that run past ``since``, by
    membership id, each with the value of its days from ``since`` on (:class:`PaidBeyond`).
    A member paid by two clusters for the same days has both terms: both were paid. One
    query."""
    found = defaultdict(list)
    rows = (
        Term.objects.filter(
            membership_id__in=list(membership_ids),
            is_paid=True,
            cancelled_on__isnull=True,
            end_date__gte=since,
        )
        .order_by("membership_id", "start_date")
        .values(
            "pk",
            "membership_id",
            "membership__cluster__name",
            "membership__member_number",
            "invoice__pk",
            "start_date",
            "end_date",
            "fee",
        )
    )
    for row in rows:
        of = (row["end_date"] - row["start_date"]).days + 1
        days = (row["end_date"] - max(row["start_date"], since)).days + 1
        value = (row["fee"] * days / of).quantize(CENT, rounding=ROUND_HALF_UP)
        found[row["membership_id"]].append(
            PaidBeyond(
                term_id=row["pk"],
                membership_id=row["membership_id"],
                invoice_id=row["invoice__pk"],
                cluster=row["membership__cluster__name"],
                member_number=row["membership__member_number"],
                start=row["start_date"],
                end=row["end_date"],
                fee=row["fee"],
                days=days,
                of=of,
                value=value,
            )
        )
    return found


def transfer_facts(
    *, merger: Merger, on: date, organisation_ids: list[int] | None = None
) -> dict[int, TransferFacts]:
    """The facts of each organisation holding a source membership of ``merger`` that is current,
    in grace or pending on ``on`` (of ``organisation_ids`` only, if given), by organisation id.

    Records merged into another one (aliases) hold no membership any more and make no proposal;
    nor does a membership already transferred. Five queries, whatever the number of members.
    """
    memberships = Membership.objects.filter(
        cluster__in=merger.sources.all(),
        organisation__merged_into__isnull=True,
        transferred_to__isnull=True,
    )
    if organisation_ids is not None:
        memberships = memberships.filter(organisation_id__in=organisation_ids)
    rows = list(
        memberships_with_status(on=on, queryset=memberships)
        .filter(status__in=TRANSFERABLE)
        .order_by("cluster__name", "member_number")
        .values(
            "pk",
            "organisation_id",
            "organisation__siret",
            "cluster__slug",
            "member_number",
            "member_since",
            "site__name",
            "status",
        )
    )
    terms_by_membership = defaultdict(list)
    # A term cancelled by a credit note counts for nothing: not paid twice, nor paid through.
    standing = Term.objects.filter(
        membership_id__in=[row["pk"] for row in rows], cancelled_on__isnull=True
    )
    for term in standing.values(
        "membership_id", "plan_id", "start_date", "end_date", "fee", "is_paid", "paid_on"
    ):
        terms_by_membership[term["membership_id"]].append(term)
    mapping = dict(
        PlanMapping.objects.filter(merger=merger).values_list("source_plan_id", "successor_plan_id")
    )
    objecting = set(
        MergerNotice.objects.filter(proposal__merger=merger, objected_at__isnull=False).values_list(
            "proposal__organisation_id", flat=True
        )
    )
    by_organisation = defaultdict(list)
    for row in rows:
        by_organisation[row["organisation_id"]].append(row)

    facts = {}
    for organisation_id, memberships_rows in by_organisation.items():
        terms = [(row, term) for row in memberships_rows for term in terms_by_membership[row["pk"]]]
        paid = [(row, term) for row, term in terms if term["is_paid"]]
        # Seniority: the earliest "member since"; a membership that does not know it counts
        # from its first term.
        starts = [
            row["member_since"]
            or min((term["start_date"] for term in terms_by_membership[row["pk"]]), default=None)
            for row in memberships_rows
        ]
        starts = [start for start in starts if start]
        # The plan that carries over: that of the latest term, the paid ones first.
        latest = max(
            terms,
            key=lambda pair: (pair[1]["is_paid"], pair[1]["end_date"], pair[1]["fee"]),
            default=None,
        )
        plan_id = latest[1]["plan_id"] if latest else None
        successor_plan_id = mapping.get(plan_id) if plan_id else None
        latest_paid = max(paid, key=lambda pair: pair[1]["end_date"], default=None)
        clusters = {row["cluster__slug"] for row in memberships_rows}
        facts[organisation_id] = TransferFacts(
            organisation_id=organisation_id,
            membership_ids=tuple(sorted(row["pk"] for row in memberships_rows)),
            origin=BOTH if len(clusters) > 1 else next(iter(clusters)),
            members_of_both=len(clusters) > 1,
            successor_plan_id=successor_plan_id,
            member_since=min(starts, default=None),
            paid_through=latest_paid[1]["end_date"] if latest_paid else None,
            credit=double_payment_credit(
                [
                    (row["pk"], term["start_date"], term["end_date"], term["fee"])
                    for row, term in paid
                ],
                since=on,
            ),
            old_member_numbers=", ".join(row["member_number"] for row in memberships_rows),
            no_siret=not memberships_rows[0]["organisation__siret"],
            unpaid=any(row["status"] == MembershipStatus.PENDING for row in memberships_rows),
            plan_unmapped=successor_plan_id is None,
            objection=organisation_id in objecting,
            sites=tuple(row["site__name"] for row in memberships_rows if row["site__name"]),
            paid_on=latest_paid[1]["paid_on"] if latest_paid else None,
        )
    return facts


def notices_objected_after_execution(*, merger: Merger) -> QuerySet[MergerNotice]:
    """The notices of ``merger`` whose objection came once their proposal was executed: the
    transfer stands, the committee reads them."""
    return MergerNotice.objects.filter(
        proposal__merger=merger, objected_after_execution__isnull=False
    )


# --- Report ---------------------------------------------------------------------------------------


def proposal_flagged_condition() -> Q:
    """The condition "at least one flag raised" on proposals."""
    condition = Q()
    for name in FLAGS:
        condition |= Q(**{name: True})
    return condition


#: The flags that a proposal's date decides (a membership's status on that date), said with it.
DATED_FLAGS = ("unpaid",)


def proposal_flags(proposal: TransferProposal) -> list[tuple[str, str]]:
    """(flag, label) of the flags raised on ``proposal``; a flag that depends on a date says
    which one ("impayé au 1er janvier 2027": the proposal's date, not today)."""
    flags = []
    for name in FLAGS:
        if not getattr(proposal, name):
            continue
        label = str(TransferProposal._meta.get_field(name).verbose_name)
        if name in DATED_FLAGS:
            label = _("%(flag)s au %(date)s") % {"flag": label, "date": long_date(proposal.as_of)}
        flags.append((name, label))
    return flags


def proposal_alignment_lines(proposal: TransferProposal) -> list[str]:
    """How ``proposal``'s first successor term was computed, when its execution aligned it on
    the successor's year (:attr:`TransferProposal.alignment`), in the reader's language: the
    prorated fee, each source term paid beyond the effective date and what its days were
    worth, the fee left, the credit notes; nothing otherwise."""
    alignment = proposal.alignment
    if not alignment:
        return []
    first = alignment["first_term"]
    shares = {
        "days": _("%(covered)s jours sur %(of)s"),
        "months": _("%(covered)s mois sur %(of)s"),
    }
    share = shares.get(first["unit"], _("cotisation entière")) % first
    lines = [
        _("%(fee)s du %(start)s au %(end)s (%(share)s)")
        % {
            "fee": money(Decimal(first["fee"])),
            "start": short_date(date.fromisoformat(first["start"])),
            "end": short_date(date.fromisoformat(first["end"])),
            "share": share,
        }
    ]
    for line in alignment["paid_beyond"]:
        lines.append(
            _(
                "moins %(value)s : %(cluster)s n° %(number)s, %(fee)s du %(start)s au %(end)s, "
                "%(days)s jours sur %(of)s au-delà de la date d’effet"
            )
            % {
                "value": money(Decimal(line["value"])),
                "cluster": line["cluster"],
                "number": line["member_number"],
                "fee": money(Decimal(line["fee"])),
                "start": short_date(date.fromisoformat(line["start"])),
                "end": short_date(date.fromisoformat(line["end"])),
                "days": line["days"],
                "of": line["of"],
            }
        )
    lines.append(
        _("déduit : %(deduction)s ; reste à payer : %(fee)s")
        % {
            "deduction": money(Decimal(alignment["deduction"])),
            "fee": money(Decimal(alignment["fee"])),
        }
    )
    for note in alignment.get("credit_notes", []):
        lines.append(
            _("avoir %(number)s de %(amount)s pour le surplus")
            % {"number": note["number"], "amount": money(Decimal(note["amount"]))}
        )
    if Decimal(alignment.get("not_credited", "0")) > 0:
        lines.append(
            _("Surplus sans facture à créditer : %(amount)s.")
            % {"amount": money(Decimal(alignment["not_credited"]))}
        )
    return lines


def proposals_flagged(queryset: QuerySet[TransferProposal]) -> QuerySet[TransferProposal]:
    """The proposals of ``queryset`` with at least one flag raised."""
    return queryset.filter(proposal_flagged_condition())


@dataclass(frozen=True)
class MergerReport:
    """The figures the committee and the clusters negotiate on: the successor's members by
    origin (approved or executed proposals), the proposals by decision, the year's membership
    revenue of the source clusters by origin of the members (paid terms of the year, by their
    start), and the decisions still pending."""

    merger: Merger
    year: int
    origins: list[tuple[str, str]]
    successor_members: int
    by_origin: dict[str, int]
    proposals: dict[str, int]
    revenue_by_origin: dict[str, Decimal]
    revenue_by_cluster: dict[str, Decimal]
    pending_decisions: int
    pending_flagged: int

    def as_json(self) -> dict:
        return {
            "merger": self.merger.name,
            "status": self.merger.status,
            "planned_date": self.merger.planned_date.isoformat(),
            "effective_date": (
                self.merger.effective_date.isoformat() if self.merger.effective_date else None
            ),
            "successor_members": self.successor_members,
            "by_origin": self.by_origin,
            "proposals": self.proposals,
            "year": self.year,
            "revenue_by_origin": {
                key: str(value.quantize(CENT)) for key, value in self.revenue_by_origin.items()
            },
            "revenue_by_cluster": {
                key: str(value.quantize(CENT)) for key, value in self.revenue_by_cluster.items()
            },
            "pending_decisions": self.pending_decisions,
            "pending_flagged": self.pending_flagged,
        }


def merger_origins(merger: Merger) -> list[tuple[str, str]]:
    """(origin, label) of the proposals of ``merger``: each source cluster, then both."""
    sources = [(c.slug, c.name) for c in merger.sources.order_by("name")]
    return [*sources, (BOTH, _("Membres des deux"))]


def merger_report(*, merger: Merger, year: int) -> MergerReport:
    """The report of ``merger`` for ``year``. A constant number of queries."""
    origins = merger_origins(merger)
    proposals = TransferProposal.objects.filter(merger=merger)
    counts = dict(proposals.order_by().values_list("decision").annotate(n=Count("pk")))
    decided = proposals.filter(decision__in=[Decision.APPROVED, Decision.EXECUTED])
    by_origin = dict(decided.order_by().values_list("origin").annotate(n=Count("pk")))

    terms = Term.objects.filter(
        membership__cluster__in=merger.sources.all(),
        is_paid=True,
        start_date__year=year,
        cancelled_on__isnull=True,
    )
    revenue_by_cluster = dict(
        terms.order_by().values_list("membership__cluster__slug").annotate(total=Sum("fee"))
    )
    # The origin of a member: that of its proposal, else the cluster of its membership.
    origin_of = dict(proposals.values_list("organisation_id", "origin"))
    revenue_by_origin = defaultdict(Decimal)
    for organisation_id, slug, total in (
        terms.order_by()
        .values_list("membership__organisation_id", "membership__cluster__slug")
        .annotate(total=Sum("fee"))
    ):
        revenue_by_origin[origin_of.get(organisation_id, slug)] += total
    undecided = proposals.filter(decision__in=UNDECIDED)
    return MergerReport(
        merger=merger,
        year=year,
        origins=origins,
        successor_members=decided.count(),
        by_origin={origin: by_origin.get(origin, 0) for origin, _label in origins},
        proposals={value: counts.get(value, 0) for value in Decision.values},
        revenue_by_origin={
            origin: revenue_by_origin.get(origin, Decimal("0.00")) for origin, _label in origins
        },
        revenue_by_cluster={
            cluster.slug: revenue_by_cluster.get(cluster.slug, Decimal("0.00"))
            for cluster in Cluster.objects.filter(pk__in=merger.sources.all()).order_by("name")
        },
        pending_decisions=undecided.count(),
        pending_flagged=proposals_flagged(undecided).count(),
    )


# --- The admin's pages ----------------------------------------------------------------------------


def mergers_with_counts(queryset: QuerySet[Merger]) -> QuerySet[Merger]:
    """``queryset`` with each merger's successor and sources, and its proposals counted:
    ``proposals_count``, ``undecided_count`` (pending or deferred), ``executed_count``."""
    return (
        queryset.select_related("successor")
        .prefetch_related("sources")
        .annotate(
            proposals_count=Count("proposals"),
            undecided_count=Count(
                "proposals",
                filter=Q(proposals__decision__in=[Decision.PENDING, Decision.DEFERRED]),
            ),
            executed_count=Count("proposals", filter=Q(proposals__decision=Decision.EXECUTED)),
        )
    )


def successor_plans(*, merger: Merger | None) -> QuerySet[Plan]:
    """The plans of ``merger``'s successor, in their order (none without a merger): what a source
    plan may be mapped to."""
    return Plan.objects.filter(cluster=merger.successor_id if merger else None).order_by("position")


def proposals_not_informed(*, merger: Merger) -> int:
    """How many approved proposals of ``merger`` have no notice: members the execution would
    transfer without having told them."""
    return proposals_without_notice(
        TransferProposal.objects.filter(merger=merger, decision=Decision.APPROVED)
    ).count()


def proposal_has_notice() -> Exists:
    """The condition "a notice was made for the proposal" (sent, pending or failed)."""
    return Exists(MergerNotice.objects.filter(proposal=OuterRef("pk")))


def proposals_without_notice(queryset: QuerySet[TransferProposal]) -> QuerySet[TransferProposal]:
    """The proposals of ``queryset`` for which no notice was made: nobody was told."""
    return queryset.exclude(proposal_has_notice())


def merger_proposal_ids(*, merger: Merger, ids: Iterable[int] | None = None) -> list[int]:
    """The ids of ``merger``'s proposals among ``ids``, or of its undecided ones (pending or
    deferred) without ``ids``: what the ``merger decide`` command decides."""
    proposals = TransferProposal.objects.filter(merger=merger)
    if ids is None:
        proposals = proposals.filter(decision__in=UNDECIDED)
    else:
        proposals = proposals.filter(pk__in=list(ids))
    return list(proposals.values_list("pk", flat=True))


def proposals_with_origin_name(
    queryset: QuerySet[TransferProposal],
) -> QuerySet[TransferProposal]:
    """``queryset`` with ``origin_name``, the origin's label in SQL: the source cluster's name,
    or "both" said in words."""
    source_name = Cluster.objects.filter(slug=OuterRef("origin")).values("name")[:1]
    return queryset.annotate(
        origin_name=Case(
            When(origin=BOTH, then=Value(str(_("Membres des deux")))),
            default=Subquery(source_name),
            output_field=CharField(),
        )
    )


def proposal_source_columns(*, proposal: TransferProposal) -> list[dict]:
    """The source memberships of ``proposal`` (and, once executed, its successor membership),
    each with its terms and invoices, its ``status`` on ``status_on`` (the proposal's date for a
    source, today for the successor) and, when that date is not today, ``status_today``."""
    today = timezone.localdate()
    terms = Prefetch(
        "terms", queryset=Term.objects.select_related("plan", "invoice").order_by("-start_date")
    )
    memberships = list(
        memberships_with_status(
            on=proposal.as_of,
            queryset=proposal.source_memberships.select_related("cluster", "site"),
        )
        .prefetch_related(terms)
        .order_by("cluster__name")
    )
    statuses_today = (
        dict(
            memberships_with_status(
                queryset=Membership.objects.filter(pk__in=[m.pk for m in memberships])
            ).values_list("pk", "status")
        )
        if memberships and proposal.as_of != today
        else {}
    )
    columns = [
        {
            "membership": m,
            "status": MembershipStatus(m.status).label,
            "status_on": proposal.as_of,
            "status_today": (
                MembershipStatus(statuses_today[m.pk]).label if m.pk in statuses_today else None
            ),
            "successor": False,
        }
        for m in memberships
    ]
    if proposal.successor_membership_id:
        successor = (
            memberships_with_status(
                queryset=Membership.objects.filter(
                    pk=proposal.successor_membership_id
                ).select_related("cluster", "site")
            )
            .prefetch_related(terms)
            .get()
        )
        columns.append(
            {
                "membership": successor,
                "status": MembershipStatus(successor.status).label,
                "status_on": today,
                "status_today": None,
                "successor": True,
            }
        )
    return columns


def proposal_records(*, proposal: TransferProposal) -> dict:
    """What a proposal's page shows beside its decision: the source records side by side
    (``columns``), the organisation's ``contacts``, the ``decisions`` taken and the ``notices``
    sent."""
    return {
        "columns": proposal_source_columns(proposal=proposal),
        "contacts": proposal.organisation.contacts.order_by("role", "last_name", "email"),
        "decisions": proposal.decisions.select_related("by"),
        "notices": proposal.notices.order_by("email"),
    }


def duplicate_pair_merge(*, pair: DuplicatePair) -> OrganisationMerge | None:
    """The merge of ``pair``'s records that stands (not undone), if any."""
    return pair.merges.filter(undone_at__isnull=True).select_related("by").first()


def organisation_review_column(*, organisation: Organisation) -> dict:
    """An organisation record as the duplicate review shows it: its details, memberships (with
    status) and contacts, wherever they are now."""
    memberships = memberships_with_status(
        queryset=Membership.objects.filter(
            Q(organisation=organisation) | Q(organisation=organisation.merged_into_id)
            if organisation.merged_into_id
            else Q(organisation=organisation)
        ).select_related("cluster", "organisation")
    ).order_by("cluster__name")
    return {
        "organisation": organisation,
        "memberships": list(memberships),
        "contacts": list(Contact.objects.filter(organisation=organisation).order_by("email")),
    }


# --- The members' information and the execution, as their pages show them -----------------------

#: The proposals whose organisations are told: all but those refused or already executed.
INFORMED = (Decision.PENDING, Decision.APPROVED, Decision.DEFERRED)


def notice_recipients_new(*, merger: Merger) -> QuerySet[Contact]:
    """The contacts of ``merger``'s transferring organisations (their proposal neither refused
    nor executed) whom no notice of that proposal was sent to at their address: whom the next
    sending informs, each with its ``proposal_id`` and the ``notice_language`` it is told in."""
    proposals = TransferProposal.objects.filter(
        merger=merger, decision__in=INFORMED, organisation_id=OuterRef("organisation_id")
    )
    told = MergerNotice.objects.filter(
        proposal__merger=merger,
        proposal__organisation_id=OuterRef("organisation_id"),
        email=OuterRef("email"),
    )
    return (
        Contact.objects.filter(Exists(proposals))
        .exclude(Exists(told))
        .annotate(
            proposal_id=Subquery(proposals.values("pk")[:1]),
            notice_language=Coalesce(NullIf("language", Value("")), Value(settings.LANGUAGE_CODE)),
        )
    )


@dataclass(frozen=True)
class NoticeAudience:
    """Who the next sending of ``merger``'s notices informs: ``recipients`` contacts of
    ``organisations`` organisations, ``by_language`` (code, label, count) in the site's order."""

    recipients: int
    organisations: int
    by_language: list[tuple[str, str, int]]


def notice_audience(*, merger: Merger) -> NoticeAudience:
    """:class:`NoticeAudience` of ``merger``. Two queries."""
    recipients = notice_recipients_new(merger=merger).order_by()
    counts = dict(recipients.values_list("notice_language").annotate(n=Count("pk")))
    return NoticeAudience(
        recipients=sum(counts.values()),
        organisations=recipients.values("organisation_id").distinct().count(),
        by_language=[(code, label, counts.get(code, 0)) for code, label in settings.LANGUAGES],
    )


def notice_example(*, merger: Merger) -> TransferProposal | None:
    """The proposal whose e-mail the notices' page shows and the test sends: the first
    organisation (by name) still to be told that has a contact, else the first told one."""
    with_contacts = TransferProposal.objects.filter(
        merger=merger,
        decision__in=INFORMED,
        organisation__contacts__isnull=False,
    ).select_related("organisation", "merger__successor")
    new = notice_recipients_new(merger=merger).values("proposal_id")
    return (
        with_contacts.filter(pk__in=new).order_by("organisation__name", "pk").first()
        or with_contacts.order_by("organisation__name", "pk").first()
    )


def notices_progress(*, merger: Merger) -> dict:
    """How far the sending of ``merger``'s notices has got: ``total``, ``sent``, ``failed``,
    ``pending`` and ``percent`` (sent or failed, out of all). One query."""
    states = dict(
        MergerNotice.objects.filter(proposal__merger=merger)
        .order_by()
        .values_list("state")
        .annotate(n=Count("pk"))
    )
    total = sum(states.values())
    sent = states.get(MergerNotice.State.SENT, 0)
    failed = states.get(MergerNotice.State.FAILED, 0)
    return {
        "total": total,
        "sent": sent,
        "failed": failed,
        "pending": states.get(MergerNotice.State.PENDING, 0),
        "percent": int(100 * (sent + failed) / total) if total else 100,
    }


def proposals_to_execute(*, merger: Merger) -> QuerySet[TransferProposal]:
    """The approved proposals of ``merger`` in the order the execution numbers their successor
    memberships: the oldest members first."""
    return TransferProposal.objects.filter(merger=merger, decision=Decision.APPROVED).order_by(
        "member_since", "organisation__name", "pk"
    )


def proposals_search(queryset: QuerySet[TransferProposal], text: str) -> QuerySet[TransferProposal]:
    """The proposals of ``queryset`` whose organisation's name, SIRET or SIREN, or old member
    numbers, contain ``text`` (the spaces and dots of a SIRET typed as printed ignored)."""
    text = text.strip()
    if not text:
        return queryset
    found = Q(organisation__name__icontains=text) | Q(old_member_numbers__icontains=text)
    digits = text.replace(" ", "").replace(".", "")
    if digits.isdigit():
        found |= Q(organisation__siret__contains=digits) | Q(organisation__siren__contains=digits)
    return queryset.filter(found)


@dataclass(frozen=True)
class ExecutionSummary:
    """The execution's figures, from the proposals as approved: ``approved`` to execute (of
    which ``paid``: paid beyond the effective date, ``with_credit``, ``facts_changed``: flagged
    since, which the execution holds back), ``executed`` already."""

    approved: int
    paid: int
    with_credit: int
    facts_changed: int
    executed: int


def execution_summary(*, merger: Merger, on: date) -> ExecutionSummary:
    """:class:`ExecutionSummary` of ``merger`` with ``on`` as the effective date. One query."""
    approved = Q(decision=Decision.APPROVED)
    figures = TransferProposal.objects.filter(merger=merger).aggregate(
        approved=Count("pk", filter=approved),
        paid=Count("pk", filter=approved & Q(paid_through__gte=on)),
        with_credit=Count("pk", filter=approved & Q(credit__gt=0)),
        facts_changed=Count("pk", filter=approved & Q(facts_changed=True)),
        executed=Count("pk", filter=Q(decision=Decision.EXECUTED)),
    )
    return ExecutionSummary(**figures)


def merger_execution_running(*, merger: Merger) -> MergerExecution | None:
    """The execution of ``merger`` that is queued or running, if any."""
    return (
        MergerExecution.objects.filter(merger=merger, state__in=MergerExecution.UNFINISHED)
        .select_related("by")
        .first()
    )


@dataclass(frozen=True)
class DecisionGroups:
    """The proposals a bulk decision was asked for, as its confirmation shows them: the
    ``flagged`` ones (each with its flags, to read one by one), the ``unflagged`` ones (summed up
    by the successor's plan in ``unflagged_by_plan``), and how many are ``executed`` already (their
    decision no longer changes)."""

    flagged: list[TransferProposal]
    unflagged: list[TransferProposal]
    unflagged_by_plan: list[tuple[str, int]]
    executed: int

    @property
    def proposals(self) -> list[TransferProposal]:
        return [*self.flagged, *self.unflagged]


def proposals_decision_groups(*, queryset: QuerySet[TransferProposal]) -> DecisionGroups:
    """``queryset`` split into flagged and unflagged proposals (a flag as
    :func:`proposals_flagged` says), by organisation name; two queries."""
    flagged_ids = set(proposals_flagged(queryset).values_list("pk", flat=True))
    proposals = list(
        queryset.select_related("organisation", "successor_plan").order_by(
            "organisation__name", "pk"
        )
    )
    flagged = [p for p in proposals if p.pk in flagged_ids]
    unflagged = [p for p in proposals if p.pk not in flagged_ids]
    by_plan: dict[str, int] = defaultdict(int)
    for proposal in unflagged:
        by_plan[proposal.successor_plan.name if proposal.successor_plan else "–"] += 1
    return DecisionGroups(
        flagged=flagged,
        unflagged=unflagged,
        unflagged_by_plan=sorted(by_plan.items(), key=lambda item: (-item[1], item[0])),
        executed=sum(1 for p in proposals if p.decision == Decision.EXECUTED),
    )


def _organisation_review_fields(organisation: Organisation) -> list[tuple[str, str, str]]:
    """(field, label, value as shown) of an organisation record in the duplicate review."""
    address = ", ".join(
        part for part in (organisation.address_line1, organisation.address_line2) if part
    )
    town = " ".join(part for part in (organisation.postcode, organisation.city) if part)
    headcount = organisation.headcount
    return [
        ("name", _("Raison sociale"), organisation.name),
        ("siret", _("SIRET"), organisation.siret),
        ("siren", _("SIREN"), organisation.siren),
        ("legal_form", _("Forme juridique"), organisation.legal_form),
        ("address", _("Adresse"), address),
        ("town", _("Code postal et ville"), town),
        ("headcount", _("Effectif"), "" if headcount is None else str(headcount)),
        ("sector", _("Secteur"), organisation.sector),
        ("website", _("Site web"), organisation.website),
    ]


def duplicate_pair_review(*, pair: DuplicatePair) -> list[dict]:
    """The two records of ``pair`` side by side, as :func:`organisation_review_column` gives
    each, plus their ``fields`` (field, label, value, differs): ``differs`` when the two
    records do not say the same (spaces around a value aside)."""
    columns = [
        organisation_review_column(organisation=record)
        for record in (pair.organisation_a, pair.organisation_b)
    ]
    fields_a, fields_b = (_organisation_review_fields(c["organisation"]) for c in columns)
    differs = {
        key
        for (key, _label, a), (_key, _label_b, b) in zip(fields_a, fields_b, strict=True)
        if (a or "").strip() != (b or "").strip()
    }
    for column, fields in zip(columns, (fields_a, fields_b), strict=True):
        column["fields"] = [(key, label, value, key in differs) for key, label, value in fields]
        column["differs"] = len(differs)
    return columns


@dataclass(frozen=True)
class MergerStep:
    """A step of the merger as its page lists it: ``key`` (which step), ``state`` (``done``,
    ``todo``, or ``blocked``: not yet possible) and ``detail``, what is done or left, or why it
    is not yet possible."""

    key: str
    state: str
    detail: str

    @property
    def title(self) -> str:
        """The step's name, as the merger's page and the committee's dashboard show it."""
        return str(STEP_TITLES[self.key])

    @property
    def state_label(self) -> str:
        """The step's state in words."""
        return str(STEP_STATES[self.state])


#: The merger's steps, in their order, by key.
STEP_TITLES = {
    "duplicates": gettext_lazy("Doublons de fiches"),
    "date": gettext_lazy("Date d’effet"),
    "propose": gettext_lazy("Propositions de transfert"),
    "decide": gettext_lazy("Décisions du comité"),
    "notify": gettext_lazy("Information des membres"),
    "execute": gettext_lazy("Exécution des transferts"),
}
STEP_STATES = {
    "done": gettext_lazy("fait"),
    "todo": gettext_lazy("à faire"),
    "blocked": gettext_lazy("pas encore possible"),
}


def merger_steps(*, merger: Merger) -> list[MergerStep]:
    """The steps of ``merger``, in their order, each with its state: review the duplicates, fix
    the effective date, establish the proposals, decide them, inform the members, execute the
    transfers. Two queries, whatever the number of proposals and duplicates: the merger's page
    and the committee's dashboard both show these steps."""
    pairs = DuplicatePair.objects.aggregate(
        total=Count("pk"), open=Count("pk", filter=Q(state=DuplicatePair.State.OPEN))
    )
    proposals = TransferProposal.objects.filter(merger=merger)
    undecided = Q(decision__in=UNDECIDED)
    counts = proposals.aggregate(
        total=Count("pk"),
        undecided=Count("pk", filter=undecided),
        undecided_flagged=Count(
            "pk",
            filter=undecided & proposal_flagged_condition(),
        ),
        approved=Count("pk", filter=Q(decision=Decision.APPROVED)),
        not_informed=Count("pk", filter=Q(decision=Decision.APPROVED) & ~Q(proposal_has_notice())),
        executed=Count("pk", filter=Q(decision=Decision.EXECUTED)),
        stale=Count("pk", filter=~Q(decision=Decision.EXECUTED) & ~Q(as_of=merger.planned_date)),
    )
    not_informed = counts["not_informed"]
    effective = merger.status == Merger.Status.EFFECTIVE
    date_fixed = merger.status in (Merger.Status.SCHEDULED, Merger.Status.EFFECTIVE)
    planned = long_date(merger.planned_date)
    steps = []

    if pairs["open"]:
        steps.append(
            MergerStep(
                "duplicates",
                "todo",
                _("%(count)d doublon(s) possible(s) à examiner.") % {"count": pairs["open"]},
            )
        )
    elif pairs["total"]:
        steps.append(
            MergerStep(
                "duplicates",
                "done",
                _("%(count)d doublon(s) possible(s) examiné(s).") % {"count": pairs["total"]},
            )
        )
    else:
        steps.append(
            MergerStep(
                "duplicates",
                "todo",
                _("Aucun doublon trouvé pour l’instant : lancez la recherche depuis la liste."),
            )
        )

    if date_fixed:
        steps.append(MergerStep("date", "done", _("Arrêtée au %(date)s.") % {"date": planned}))
    else:
        steps.append(
            MergerStep(
                "date",
                "todo",
                _("Prévue au %(date)s, pas encore arrêtée (statut « %(status)s »).")
                % {"date": planned, "status": merger.get_status_display()},
            )
        )

    if not counts["total"]:
        steps.append(MergerStep("propose", "todo", _("Aucune proposition établie.")))
    elif counts["stale"]:
        steps.append(
            MergerStep(
                "propose",
                "todo",
                _(
                    "%(count)d proposition(s) établie(s) à une autre date que la date d’effet "
                    "prévue (%(date)s) : à actualiser."
                )
                % {"count": counts["stale"], "date": planned},
            )
        )
    else:
        steps.append(
            MergerStep(
                "propose",
                "done",
                _("%(count)d proposition(s) établie(s) au %(date)s.")
                % {"count": counts["total"], "date": planned},
            )
        )

    if not counts["total"]:
        steps.append(MergerStep("decide", "blocked", _("Établissez d’abord les propositions.")))
    elif counts["undecided"]:
        steps.append(
            MergerStep(
                "decide",
                "todo",
                _("%(count)d proposition(s) à décider, dont %(flagged)d signalée(s).")
                % {"count": counts["undecided"], "flagged": counts["undecided_flagged"]},
            )
        )
    else:
        steps.append(MergerStep("decide", "done", _("Toutes les propositions sont décidées.")))

    if not counts["approved"] and not counts["executed"]:
        steps.append(
            MergerStep(
                "notify", "blocked", _("Aucune proposition approuvée : personne à informer.")
            )
        )
    elif not_informed:
        steps.append(
            MergerStep(
                "notify",
                "todo",
                _("%(count)d proposition(s) approuvée(s) pas encore annoncée(s) aux membres.")
                % {"count": not_informed},
            )
        )
    else:
        steps.append(
            MergerStep("notify", "done", _("Chaque proposition approuvée a été annoncée."))
        )

    if effective and not counts["approved"]:
        steps.append(
            MergerStep(
                "execute",
                "done",
                _("Transferts exécutés au %(date)s : %(count)d adhésion(s) au successeur.")
                % {"date": long_date(merger.effective_date), "count": counts["executed"]},
            )
        )
    elif not date_fixed:
        steps.append(MergerStep("execute", "blocked", _("Arrêtez d’abord la date d’effet.")))
    elif not counts["approved"]:
        steps.append(
            MergerStep(
                "execute", "blocked", _("Aucune proposition approuvée à exécuter pour l’instant.")
            )
        )
    else:
        steps.append(
            MergerStep(
                "execute",
                "todo",
                _("%(count)d transfert(s) approuvé(s) à exécuter ; la page les montre d’abord.")
                % {"count": counts["approved"]},
            )
        )
    return steps


# --- The committee's dashboard ------------------------------------------------------------------


@dataclass(frozen=True)
class MergerDashboard:
    """Where the merger stands on ``today``: the proposals by decision and by flag; the notices
    sent, failed and the objections; the days to the effective date (``days_left``, None once
    effective). Its steps are :func:`merger_steps`, as on the merger's page."""

    merger: Merger
    today: date
    proposals: int
    proposals_as_of: date | None
    by_decision: dict[str, int]
    by_flag: dict[str, int]
    flagged: int
    notices: dict[str, int]
    objections: int
    late_objections: int

    @property
    def effective(self) -> bool:
        return self.merger.status == Merger.Status.EFFECTIVE

    @property
    def days_left(self) -> int | None:
        return None if self.effective else (self.merger.planned_date - self.today).days


def merger_dashboard(*, merger: Merger, today: date) -> MergerDashboard:
    """The committee's dashboard of ``merger`` on ``today``. Two queries, whatever the number
    of proposals and notices: the proposals' figures in one aggregate, the notices' in
    another."""
    proposals = TransferProposal.objects.filter(merger=merger).aggregate(
        total=Count("pk"),
        as_of=Max("as_of"),
        flagged=Count("pk", filter=proposal_flagged_condition()),
        **{f"decision_{value}": Count("pk", filter=Q(decision=value)) for value in Decision.values},
        **{f"flag_{name}": Count("pk", filter=Q(**{name: True})) for name in FLAGS},
    )
    notices = MergerNotice.objects.filter(proposal__merger=merger).aggregate(
        objections=Count("pk", filter=Q(objected_at__isnull=False)),
        late_objections=Count("pk", filter=Q(objected_after_execution__isnull=False)),
        **{
            f"state_{value}": Count("pk", filter=Q(state=value))
            for value in MergerNotice.State.values
        },
    )
    return MergerDashboard(
        merger=merger,
        today=today,
        proposals=proposals["total"],
        proposals_as_of=proposals["as_of"],
        by_decision={value: proposals[f"decision_{value}"] for value in Decision.values},
        by_flag={name: proposals[f"flag_{name}"] for name in FLAGS},
        flagged=proposals["flagged"],
        notices={value: notices[f"state_{value}"] for value in MergerNotice.State.values},
        objections=notices["objections"],
        late_objections=notices["late_objections"],
    )


@dataclass(frozen=True)
class SourceAdoption:
    """Where a source cluster stands on the merger: the adoption recorded (with its result, as
    the assembly's rules count it), or none yet."""

    cluster: Cluster
    adoption: MergerAdoption | None
    result: ResolutionResult | None


def merger_adoptions(*, merger: Merger) -> list[SourceAdoption]:
    """Each source cluster of ``merger``, by name, with the assembly's adoption recorded."""
    adoptions = {
        adoption.cluster_id: adoption
        for adoption in merger.adoptions.select_related(
            "resolution__assembly", "recorded_by"
        ).order_by()
    }
    rows = []
    for cluster in merger.sources.order_by("name"):
        adoption = adoptions.get(cluster.pk)
        result = None
        if adoption is not None:
            result = resolution_result(resolution=adoption.resolution)
        rows.append(SourceAdoption(cluster, adoption, result))
    return rows


def merger_sources_not_adopted(*, merger: Merger) -> QuerySet[Cluster]:
    """The source clusters of ``merger`` whose assembly's adoption is not recorded yet."""
    return (
        merger.sources.exclude(pk__in=merger.adoptions.values("cluster_id"))
        .order_by("name")
        .distinct()
    )


def resolution_result(*, resolution: Resolution) -> ResolutionResult:
    """``resolution``'s result, as its assembly's rules count it."""
    results = assembly_results(assembly=resolution.assembly).resolutions
    return next(result for result in results if result.resolution.pk == resolution.pk)


def adoption_candidates(*, cluster: Cluster) -> list[ResolutionResult]:
    """The resolutions adopted by ``cluster``'s extraordinary general assemblies whose vote is
    closed, latest assembly first: those the committee picks the merger's adoption among."""
    assemblies = Assembly.objects.filter(
        cluster=cluster, kind=AssemblyKind.EXTRAORDINARY, state=AssemblyState.CLOSED
    ).order_by("-starts_at", "-pk")
    return [
        result
        for assembly in assemblies
        for result in assembly_results(assembly=assembly).resolutions
        if result.adopted
    ]
