"""Reads of the domain core: reusable querysets, above all the membership status."""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Greatest, RowNumber, TruncDate
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from members.db import AddDays
from members.models import (
    CheckoutSession,
    CheckoutStatus,
    Cluster,
    Contact,
    ContactRole,
    CreditNote,
    ImportRecord,
    Invoice,
    InvoiceStatus,
    Membership,
    MembershipStatus,
    Organisation,
    Payment,
    PaymentFollowUp,
    PaymentFollowUpState,
    PaymentFollowUpStep,
    PaymentMethod,
    Plan,
    Refund,
    RefundState,
    Reminder,
    ReminderState,
    ReminderStep,
    Term,
)


def memberships_with_status(
    *, on: date | None = None, queryset: QuerySet[Membership] | None = None
) -> QuerySet[Membership]:
    """Memberships annotated with ``status`` (a :class:`MembershipStatus` value) on date ``on``.

    The one place where status is derived, in SQL, so that the admin, the member area, the
    reminder pass and the merger agree. On ``on`` (default: today in Europe/Paris), in this order:

    - ``transferred`` once ``transferred_on`` is reached, ``cancelled`` once ``cancelled_on`` is;
    - ``current`` if a paid term covers the date, ``pending`` if an unpaid one does;
    - ``grace`` if no term covers it and the last paid term ended at most the cluster's
      ``grace_days`` days before (30 by default: a term ending on 31 December is in grace up to
      and including 30 January);
    - ``lapsed`` if some term ended before the date (and grace is over or it was never paid);
    - ``pending`` if no term has ended yet (a new membership whose first term is yet to come).
    """
    on = on or timezone.localdate()
    queryset = Membership.objects.all() if queryset is None else queryset
    # A term cancelled by a credit note counts for nothing.
    terms = Term.objects.filter(membership=OuterRef("pk"), cancelled_on__isnull=True)
    # Each subquery appears once in the SQL: PostgreSQL would evaluate a repeated one per use.
    covering_term_status = Subquery(
        terms.filter(start_date__lte=on, end_date__gte=on)
        .order_by("-is_paid")
        .annotate(
            term_status=Case(
                When(is_paid=True, then=Value(MembershipStatus.CURRENT)),
                default=Value(MembershipStatus.PENDING),
            )
        )
        .values("term_status")[:1]
    )
    last_paid_end = Subquery(
        terms.filter(is_paid=True, end_date__lt=on).order_by("-end_date").values("end_date")[:1]
    )
    status_without_covering_term = Case(
        When(
            GreaterThanOrEqual(AddDays(last_paid_end, F("cluster__grace_days")), Value(on)),
            then=Value(MembershipStatus.GRACE),
        ),
        When(Exists(terms.filter(end_date__lt=on)), then=Value(MembershipStatus.LAPSED)),
        default=Value(MembershipStatus.PENDING),
    )
    return queryset.annotate(
        status=Case(
            When(transferred_on__lte=on, then=Value(MembershipStatus.TRANSFERRED)),
            When(cancelled_on__lte=on, then=Value(MembershipStatus.CANCELLED)),
            default=Coalesce(covering_term_status, status_without_covering_term),
            output_field=CharField(),
        )
    )


def terms_with_membership_status(
    queryset: QuerySet[Term], *, on: date | None = None
) -> QuerySet[Term]:
    """``queryset`` annotated with ``membership_status``, the status of each term's membership
    on ``on`` (default: today), as :func:`memberships_with_status` derives it."""
    return queryset.annotate(membership_status=term_membership_status(on=on))


def term_membership_status(*, on: date | None = None) -> Subquery:
    """The status on ``on`` (default: today) of a term's membership, as
    :func:`memberships_with_status` derives it: a subquery to annotate terms with."""
    status = memberships_with_status(
        on=on, queryset=Membership.objects.filter(pk=OuterRef("membership_id")).order_by()
    )
    return Subquery(status.values("status")[:1])


def terms_in_membership_status(
    queryset: QuerySet[Term], *, status: str, on: date | None = None
) -> QuerySet[Term]:
    """The terms of ``queryset`` whose membership has ``status`` on ``on`` (default: today).
    Each membership's status is derived once, not once per term."""
    memberships = memberships_with_status(on=on).filter(status=status)
    return queryset.filter(membership__in=memberships.values("pk"))


def user_sees_all_clusters(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Superusers and the merger committee read every cluster's data."""
    return user.is_active and (user.is_superuser or user.has_perm("members.view_all_clusters"))


def clusters_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Cluster]:
    """The clusters whose members ``user`` may see: all of them, or those it is staff of."""
    if user_sees_all_clusters(user):
        return Cluster.objects.all()
    if not user.is_active or not user.is_staff:
        return Cluster.objects.none()
    return Cluster.objects.filter(staff=user)


def clusters_managed_by(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Cluster]:
    """The clusters whose members ``user`` may change: all for superusers, else its own."""
    if user.is_active and user.is_superuser:
        return Cluster.objects.all()
    if not user.is_active or not user.is_staff:
        return Cluster.objects.none()
    return Cluster.objects.filter(staff=user)


def user_active_by_login(*, login: str) -> AbstractBaseUser | None:
    """The active user whose e-mail or username is ``login`` (either case), if any."""
    return (
        get_user_model()
        .objects.filter(Q(email__iexact=login) | Q(username__iexact=login), is_active=True)
        .first()
    )


def clusters_without_reminder_policy() -> QuerySet[Cluster]:
    """The clusters that have no reminder policy yet: those a new policy may be for."""
    return Cluster.objects.filter(reminder_policy__isnull=True)


# --- What a member contact may see --------------------------------------------------------------
# Every member URL looks its object up in one of these querysets: an organisation the user is not
# a contact of is simply not found (404), whatever identifiers are put in the URL.


def contacts_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Contact]:
    """The contacts ``user`` is: linked to its account (when it signs in) and still at one of its
    verified e-mail addresses. A contact whose e-mail staff changed no longer gives the old
    address's account access to its organisation."""
    if not user.is_authenticated or not user.is_active:
        return Contact.objects.none()
    return Contact.objects.filter(
        user=user,
        email__in=EmailAddress.objects.filter(user=user, verified=True).values("email"),
    )


def organisations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organisation]:
    """The organisations ``user`` is a contact of (see :func:`contacts_of`)."""
    return Organisation.objects.filter(
        Exists(contacts_of(user).filter(organisation=OuterRef("pk")))
    )


def memberships_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Membership]:
    """The memberships of the organisations ``user`` is a contact of."""
    return Membership.objects.filter(organisation__in=organisations_of(user))


def terms_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Term]:
    """The terms of the memberships of the organisations ``user`` is a contact of."""
    return Term.objects.filter(membership__organisation__in=organisations_of(user))


def invoices_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Invoice]:
    """The invoices of the organisations ``user`` is a contact of."""
    return Invoice.objects.filter(term__membership__organisation__in=organisations_of(user))


def credit_notes_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[CreditNote]:
    """The credit notes of the invoices of the organisations ``user`` is a contact of."""
    return CreditNote.objects.filter(invoice__in=invoices_of(user))


#: Orders contacts by role: primary, then billing, then the others.
CONTACT_ROLE_RANK = Case(
    When(role=ContactRole.PRIMARY, then=Value(0)),
    When(role=ContactRole.BILLING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def organisations_for_area(
    user: AbstractBaseUser | AnonymousUser, *, on: date
) -> QuerySet[Organisation]:
    """The organisations ``user`` is a contact of, by name, with what the member area shows of
    them prefetched, in a fixed number of queries whatever their number: their memberships with
    their status on ``on``, by cluster, each with its terms, latest first, with plan and invoice;
    and their contacts, by role (:data:`CONTACT_ROLE_RANK`), then name and e-mail."""
    terms = Term.objects.select_related("plan", "invoice").order_by("-start_date")
    memberships = (
        memberships_with_status(on=on)
        .select_related("cluster")
        .prefetch_related(Prefetch("terms", queryset=terms))
        .order_by("cluster__kind", "cluster__name")
    )
    contacts = Contact.objects.order_by(CONTACT_ROLE_RANK, "last_name", "first_name", "email")
    return (
        organisations_of(user)
        .prefetch_related(
            Prefetch("memberships", queryset=memberships),
            Prefetch("contacts", queryset=contacts),
        )
        .order_by("name")
    )


class NextStepKind(enum.StrEnum):
    """What a member has to do for a membership (see :func:`membership_next_steps`)."""

    PAY = "pay"  # pay an unpaid invoice
    GET_INVOICE = "get_invoice"  # get the invoice of an unpaid term entered without one, to pay it
    RENEW = "renew"  # renew for the next membership year


@dataclass(frozen=True)
class NextStep:
    """One thing to do for a membership: its ``kind``, the ``term`` it is about (the term to pay
    or to get the invoice of; for a renewal, the term it follows) and the ``period`` it is for
    (the term's, or the one the renewal would cover)."""

    kind: NextStepKind
    term: Term
    period: tuple[date, date]

    @property
    def invoice(self) -> Invoice | None:
        """The invoice to pay (a :attr:`NextStepKind.PAY` step's), else ``None``."""
        return self.term.invoice if self.kind == NextStepKind.PAY else None


def membership_next_steps(
    *, terms: Sequence[Term], renewal_period: tuple[date, date] | None
) -> list[NextStep]:
    """What a member has to do for a membership, in the order to do it, from its ``terms`` (each
    with its invoice, as :func:`organisations_for_area` prefetches them: no query) and, when it
    can be renewed today, ``renewal_period``, the period a renewal would cover.

    A term cancelled by a credit note counts for nothing: nothing to pay, nor to renew from.
    What is due comes first, oldest first: each unpaid invoice to pay, each unpaid term entered
    without invoice (an imported one) to get the invoice of; a cancelled term owes nothing and
    is no term to renew after. The renewal comes last: it adds an
    invoice of its own and leaves the older ones due, so a member who renews first still owes
    the earlier year and is not up to date. The first step is the one to take now; an empty
    list, nothing to do.
    """
    terms = [term for term in terms if term.cancelled_on is None]  # a cancelled one owes nothing
    dues = []
    terms = [term for term in terms if term.cancelled_on is None]
    for term in sorted(terms, key=lambda term: term.start_date):
        invoice = getattr(term, "invoice", None)
        if invoice is not None and not invoice.is_paid:
            dues.append(NextStep(NextStepKind.PAY, term, (term.start_date, term.end_date)))
        elif invoice is None and term.is_invoiceable():
            dues.append(NextStep(NextStepKind.GET_INVOICE, term, (term.start_date, term.end_date)))
    if renewal_period is None or not terms:
        return dues
    latest = max(terms, key=lambda term: term.start_date)
    return [*dues, NextStep(NextStepKind.RENEW, latest, renewal_period)]


def contacts_to_notify(organisation: Organisation) -> QuerySet[Contact]:
    """Who receives ``organisation``'s e-mails (invoices, confirmations, reminders): its primary
    and billing contacts, or all its contacts when none has either role. One query."""
    return contacts_to_notify_in(organisation_ids=[organisation.pk])


def invoice_language(organisation: Organisation) -> str:
    """The language an invoice of ``organisation`` issued now is written in: that of its primary
    contact (the one recorded first, when it has several), who answers for the organisation;
    French when it has none. One query."""
    language = (
        Contact.objects.filter(organisation=organisation, role=ContactRole.PRIMARY)
        .order_by("pk")
        .values_list("language", flat=True)
        .first()
    )
    return language or settings.LANGUAGE_CODE


def contacts_to_notify_in(*, organisation_ids: list[int]) -> QuerySet[Contact]:
    """:func:`contacts_to_notify` of each of ``organisation_ids`` at once, in one query."""
    roles = [ContactRole.PRIMARY, ContactRole.BILLING]
    with_role = Contact.objects.filter(organisation=OuterRef("organisation"), role__in=roles)
    return (
        Contact.objects.filter(organisation_id__in=organisation_ids)
        .filter(Q(role__in=roles) | ~Exists(with_role))
        .order_by("pk")
    )


def plans_offered(*, cluster_id: int) -> QuerySet[Plan]:
    """The plans a member of the cluster ``cluster_id`` may renew on: its active ones, in the
    cluster's order."""
    return Plan.objects.filter(cluster=cluster_id, is_active=True).order_by("position", "name")


def _latest_terms() -> QuerySet[Term]:
    """The terms of the membership ``OuterRef("pk")``, the latest (the one ending last) first;
    a term cancelled by a credit note counts for nothing."""
    return Term.objects.filter(membership=OuterRef("pk"), cancelled_on__isnull=True).order_by(
        "-end_date"
    )


def term_latest(terms: Sequence[Term]) -> Term | None:
    """The latest of ``terms`` (the one that starts last) not cancelled by a credit note, or
    ``None``: the term a renewal follows. In memory, for terms prefetched (no query)."""
    standing = [term for term in terms if term.cancelled_on is None]
    return max(standing, key=lambda term: term.start_date, default=None)


def memberships_on_plan(queryset: QuerySet[Membership], *, plan_id: int) -> QuerySet[Membership]:
    """The memberships of ``queryset`` whose latest term (the one ending last) is on the plan
    ``plan_id``: the plan they are or were on."""
    latest_plan = _latest_terms().values("plan_id")[:1]
    return queryset.alias(latest_plan=Subquery(latest_plan)).filter(latest_plan=plan_id)


def memberships_with_plan_and_paid_through(
    queryset: QuerySet[Membership],
) -> QuerySet[Membership]:
    """``queryset`` annotated with ``plan_name``, the plan of the latest term (the plan they are
    or were on, as :func:`memberships_on_plan` filters it), and ``paid_through``, the end of the
    last paid term (``None`` if none was ever paid). Two subqueries, which PostgreSQL runs for
    the rows returned only: a page of a list costs the same whatever the number of members."""
    return queryset.annotate(
        plan_name=Subquery(_latest_terms().values("plan__name")[:1]),
        paid_through=Subquery(_latest_terms().filter(is_paid=True).values("end_date")[:1]),
    )


def memberships_in(*, cluster: Cluster | None) -> QuerySet[Membership]:
    """The memberships of ``cluster``, or of every cluster without one."""
    memberships = Membership.objects.all()
    return memberships if cluster is None else memberships.filter(cluster=cluster)


def memberships_cluster(queryset: QuerySet[Membership]) -> Cluster | None:
    """The cluster of all the memberships of ``queryset`` when they are of one, else ``None``."""
    cluster_ids = queryset.order_by().values("cluster_id").distinct()
    clusters = list(Cluster.objects.filter(pk__in=cluster_ids)[:2])
    return clusters[0] if len(clusters) == 1 else None


def membership_reminders(*, membership: Membership) -> QuerySet[Reminder]:
    """The reminder ledger's entries of ``membership``'s terms, latest first."""
    return Reminder.objects.filter(term__membership=membership).order_by("-due_on", "-pk")


def email_addresses_of(user: AbstractBaseUser) -> QuerySet[EmailAddress]:
    """``user``'s e-mail addresses, the primary one first."""
    return EmailAddress.objects.filter(user=user).order_by("-primary", "email")


def contacts_primary(*, organisation: Organisation) -> QuerySet[Contact]:
    """``organisation``'s primary contacts, by last name: who may change its details."""
    return organisation.contacts.filter(role=ContactRole.PRIMARY).order_by("last_name")


# --- Invoices -----------------------------------------------------------------------------------


_MONEY = DecimalField(max_digits=12, decimal_places=2)
_ZERO = Value(Decimal("0.00"), output_field=_MONEY)


def _invoice_total(rows: QuerySet, key: str = "invoice") -> Coalesce:
    """What the ``amount`` of ``rows`` adds up to for the row (an invoice, or a payment: ``key``
    names it) of the outer query; 0 without any. One subquery, on the index of ``key``."""
    return Coalesce(
        Subquery(
            rows.filter(**{key: OuterRef("pk")})
            .order_by()
            .values(key)
            .annotate(total=Sum("amount"))
            .values("total"),
            output_field=_MONEY,
        ),
        _ZERO,
        output_field=_MONEY,
    )


def invoices_with_balance(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Invoices annotated with what their payments, credit notes and refunds say, in euros:

    - ``paid_amount``: what their payments add up to (0 without any);
    - ``credited_amount``: what their credit notes add up to (the invoice's amount when it is
      cancelled);
    - ``refunded_amount``: what their succeeded refunds add up to;
    - ``amount_due``: the invoice's amount less its credit notes;
    - ``amount_left``: what is still to be paid (never negative): what is due less what was paid
      and not refunded;
    - ``overpaid_amount``: what was paid, and not refunded, beyond what is due: to refund to the
      member (0 if nothing was; a card payment and a transfer, or two card payments, can add up
      to more, and everything paid on a cancelled invoice is);
    - ``status``: an :class:`~members.models.InvoiceStatus` (over-paid, else cancelled, else
      paid once its payments reached its amount, else partially paid, else due), to show and to
      filter on.

    The one place where these are derived, so that the invoices' admin (its list, its filter and
    the invoice's page), the member's invoice page, the card payment, the refunds and the payment
    services agree. One subquery per sum and row, on the index of their invoice.
    """
    queryset = Invoice.objects.all() if queryset is None else queryset
    return queryset.annotate(
        paid_amount=_invoice_total(Payment.objects.all()),
        credited_amount=_invoice_total(CreditNote.objects.all()),
        refunded_amount=_invoice_total(Refund.objects.filter(state=RefundState.SUCCEEDED)),
    ).annotate(
        amount_due=ExpressionWrapper(F("amount") - F("credited_amount"), output_field=_MONEY),
        amount_left=Greatest(
            F("amount") - F("credited_amount") - F("paid_amount") + F("refunded_amount"),
            _ZERO,
            output_field=_MONEY,
        ),
        overpaid_amount=Greatest(
            F("paid_amount") - F("refunded_amount") - F("amount") + F("credited_amount"),
            _ZERO,
            output_field=_MONEY,
        ),
        status=Case(
            When(overpaid_amount__gt=0, then=Value(InvoiceStatus.OVERPAID)),
            When(cancelled_on__isnull=False, then=Value(InvoiceStatus.CANCELLED)),
            When(paid_on__isnull=False, then=Value(InvoiceStatus.PAID)),
            When(paid_amount__gt=0, then=Value(InvoiceStatus.PARTIAL)),
            default=Value(InvoiceStatus.DUE),
            output_field=CharField(),
        ),
    )


def invoice_with_balance(*, invoice: Invoice) -> Invoice:
    """``invoice`` as it stands now, annotated as by :func:`invoices_with_balance`. A query of
    its own: made after the invoice is locked, it sees every payment committed before the lock
    was granted."""
    return invoices_with_balance(Invoice.objects.filter(pk=invoice.pk)).get()


def invoices_with_refunds(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """Invoices annotated as by :func:`invoices_with_balance`, and with:

    - ``refund_pending_amount``: the card refunds asked of the payment provider and not yet
      confirmed (they count in the balance once they succeed);
    - ``refund_left``: what is left to refund: what was over-paid less the refunds pending. A
      refund asked or recorded never takes more: two clicks, two tabs or two colleagues refund
      the over-paid amount once.
    """
    return (
        invoices_with_balance(queryset)
        .annotate(
            refund_pending_amount=_invoice_total(Refund.objects.filter(state=RefundState.PENDING)),
        )
        .annotate(
            refund_left=Greatest(
                F("overpaid_amount") - F("refund_pending_amount"), _ZERO, output_field=_MONEY
            ),
        )
    )


def invoice_with_refunds(*, invoice: Invoice) -> Invoice:
    """``invoice`` as it stands now, annotated as by :func:`invoices_with_refunds` (a query of its
    own, made after the caller locked the invoice)."""
    return invoices_with_refunds(Invoice.objects.filter(pk=invoice.pk)).get()


def invoices_to_refund(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """The invoices of ``queryset`` over-paid (``InvoiceStatus.OVERPAID``): money to give back
    until a refund succeeds, or to carry over to another invoice."""
    return invoices_with_balance(queryset).filter(status=InvoiceStatus.OVERPAID)


def invoices_to_carry_over_to(*, invoice: Invoice) -> QuerySet[Invoice]:
    """The invoices what was over-paid on ``invoice`` may be carried over to: those of the same
    organisation and cluster, not cancelled, with something left to pay, oldest first."""
    return (
        invoices_unpaid(
            Invoice.objects.filter(
                cluster_id=invoice.cluster_id,
                term__membership__organisation_id=invoice.term.membership.organisation_id,
                cancelled_on__isnull=True,
            ).exclude(pk=invoice.pk)
        )
        .select_related("term")
        .order_by("issued_on", "pk")
    )


def card_payments_refundable(*, invoice: Invoice) -> QuerySet[Payment]:
    """The card payments of ``invoice`` known to the payment provider, annotated with
    ``refundable``: what may still be refunded on them (their amount less their refunds pending
    or succeeded), oldest first."""
    return (
        Payment.objects.filter(invoice=invoice, method=PaymentMethod.CARD)
        .exclude(provider_reference="")
        .annotate(
            refundable=F("amount")
            - _invoice_total(Refund.objects.exclude(state=RefundState.FAILED), key="payment")
        )
        .order_by("received_on", "pk")
    )


# --- Unpaid renewals ---------------------------------------------------------------------------


def renewals_unpaid_expired(*, on: date) -> QuerySet[Term]:
    """The renewal terms to cancel on ``on`` for want of payment, annotated with ``expires_on``
    (the day each one became due to expire) and ``invoice_issued_on`` (``None`` without invoice).

    A term qualifies when it renews its membership (an earlier term of the membership, not
    cancelled, exists: a first term never expires), has a fee, is neither paid nor cancelled and
    its invoice, if any, has received no payment at all (a partial payment is for staff to
    follow up), its membership is neither resigned nor transferred (whatever the date: staff
    settle those), its cluster sets ``unpaid_renewal_expiry_days`` (empty: never), and that many
    days have passed by ``on`` since the later of its start and the day it was invoiced (or
    recorded, without invoice): a member who renews late still has the whole delay to pay. A day
    without a pass is caught up by the next one (``expires_on <= on``).

    One query, whatever the number of memberships; the terms read are those started by ``on``.
    """
    earlier_terms = Term.objects.filter(
        membership=OuterRef("membership"),
        start_date__lt=OuterRef("start_date"),
        cancelled_on__isnull=True,
    )
    payments = Payment.objects.filter(invoice__term=OuterRef("pk"))
    recorded_on = Coalesce(
        F("invoice__issued_on"),
        TruncDate("created_at", tzinfo=timezone.get_default_timezone()),
    )
    return (
        Term.objects.filter(
            start_date__lte=on,
            is_paid=False,
            fee__gt=0,
            cancelled_on__isnull=True,
            membership__cancelled_on__isnull=True,
            membership__transferred_on__isnull=True,
            membership__cluster__unpaid_renewal_expiry_days__isnull=False,
        )
        .filter(Exists(earlier_terms))
        .exclude(Exists(payments))
        .annotate(
            invoice_issued_on=F("invoice__issued_on"),
            expires_on=AddDays(
                Greatest("start_date", recorded_on, output_field=DateField()),
                F("membership__cluster__unpaid_renewal_expiry_days"),
            ),
        )
        .filter(expires_on__lte=on)
    )


# --- Reminders ----------------------------------------------------------------------------------


def reminders_due(*, on: date, cluster_ids: list[int] | None = None) -> QuerySet[Term]:
    """The terms with a renewal reminder due on ``on``, annotated with ``reminder_offset`` (the
    offset of that reminder, in days from the term's end), ``reminder_step`` (the id of its step)
    and ``reminder_recorded`` (whether the ledger holds it already).

    A term qualifies when it is its membership's latest (no later term, paid or not: a renewal
    stops the reminders), the membership is neither cancelled nor transferred (whatever the date
    recorded: a member who resigned is not asked to renew), and its cluster's policy is active.
    Its reminder is the most recent step of the policy that is due (``end + offset <= on``) and
    not older than the policy's maximal lateness (``on <= end + offset + lateness``): after days
    without a pass only that one goes out, and a first pass over old data writes to nobody who
    lapsed long ago. With ``cluster_ids``, only those clusters' terms.

    Two queries (the active steps, then the terms), whatever the number of memberships. Each step
    is a range of end dates, so the terms read are those ending in the window that the steps span
    (``term_end_idx``), and a term's reminder is the first of the steps, latest first, whose range
    holds its end.
    """
    active = ReminderStep.objects.filter(policy__is_active=True)
    if cluster_ids is not None:
        active = active.filter(policy__cluster_id__in=cluster_ids)
    steps = list(
        active.order_by("-offset_days").values_list(
            "pk", "policy__cluster_id", "offset_days", "policy__max_lateness_days", named=True
        )
    )
    if not steps:
        # Annotated all the same, for callers that read the annotations.
        nothing = Value(None, output_field=IntegerField())
        return Term.objects.none().annotate(
            reminder_offset=nothing,
            reminder_step=nothing,
            reminder_recorded=Value(False, output_field=BooleanField()),
        )

    def of_the_due_step(field: str) -> Case:
        # The first step, latest first, whose range of end dates holds the term's end.
        return Case(
            *(
                When(
                    membership__cluster_id=step.policy__cluster_id,
                    end_date__range=(
                        on - timedelta(days=step.offset_days + step.policy__max_lateness_days),
                        on - timedelta(days=step.offset_days),
                    ),
                    then=Value(getattr(step, field)),
                )
                for step in steps
            ),
            output_field=IntegerField(),
        )

    earliest_end = on - timedelta(
        days=max(step.offset_days + step.policy__max_lateness_days for step in steps)
    )
    latest_end = on - timedelta(days=min(step.offset_days for step in steps))
    # A cancelled term (an unpaid renewal expired) neither gets reminders nor stops them.
    later_terms = Term.objects.filter(
        membership=OuterRef("membership"),
        end_date__gt=OuterRef("end_date"),
        cancelled_on__isnull=True,
    )
    return (
        Term.objects.filter(
            end_date__range=(earliest_end, latest_end),
            cancelled_on__isnull=True,
            membership__cancelled_on__isnull=True,
            membership__transferred_on__isnull=True,
        )
        .exclude(Exists(later_terms))
        .annotate(
            reminder_offset=of_the_due_step("offset_days"), reminder_step=of_the_due_step("pk")
        )
        .filter(reminder_offset__isnull=False)
        .annotate(
            reminder_recorded=Exists(
                Reminder.objects.filter(
                    term=OuterRef("pk"), offset_days=OuterRef("reminder_offset")
                )
            )
        )
        .order_by()
    )


# --- Payment follow-ups -------------------------------------------------------------------------


def payment_follow_ups_due(*, on: date, cluster_ids: list[int] | None = None) -> QuerySet[Invoice]:
    """The invoices with a payment follow-up due on ``on``, annotated as by
    :func:`invoices_with_balance` and with ``follow_up_days`` (the days after the due date of
    that follow-up), ``follow_up_step`` (the id of its step) and ``follow_up_recorded`` (whether
    the ledger holds it already).

    An invoice qualifies while something is left to pay on it (``amount_left > 0``) and it is
    not cancelled, and its cluster's policy is active. Its follow-up is the most recent step of
    the policy that is due (``due_on + days <= on``) and not older than the policy's maximal
    lateness (``on <= due_on + days + lateness``), as for the renewal reminders
    (:func:`reminders_due`): after days without a pass only that one goes out, and a first pass
    over old invoices writes to nobody about an invoice long overdue. With ``cluster_ids``, only
    those clusters' invoices.

    Two queries (the active steps, then the invoices), whatever the number of invoices: each
    step is a range of due dates, the invoices read are those due in the window the steps span.
    """
    active = PaymentFollowUpStep.objects.filter(policy__is_active=True)
    if cluster_ids is not None:
        active = active.filter(policy__cluster_id__in=cluster_ids)
    steps = list(
        active.order_by("-days_after_due").values_list(
            "pk", "policy__cluster_id", "days_after_due", "policy__max_lateness_days", named=True
        )
    )
    if not steps:
        nothing = Value(None, output_field=IntegerField())
        return invoices_with_balance(Invoice.objects.none()).annotate(
            follow_up_days=nothing,
            follow_up_step=nothing,
            follow_up_recorded=Value(False, output_field=BooleanField()),
        )

    def of_the_due_step(field: str) -> Case:
        # The first step, latest first, whose range of due dates holds the invoice's.
        return Case(
            *(
                When(
                    cluster_id=step.policy__cluster_id,
                    due_on__range=(
                        on - timedelta(days=step.days_after_due + step.policy__max_lateness_days),
                        on - timedelta(days=step.days_after_due),
                    ),
                    then=Value(getattr(step, field)),
                )
                for step in steps
            ),
            output_field=IntegerField(),
        )

    earliest = on - timedelta(
        days=max(step.days_after_due + step.policy__max_lateness_days for step in steps)
    )
    latest = on - timedelta(days=min(step.days_after_due for step in steps))
    invoices = Invoice.objects.filter(due_on__range=(earliest, latest), cancelled_on__isnull=True)
    return (
        invoices_with_balance(invoices)
        .filter(amount_left__gt=0)
        .annotate(
            follow_up_days=of_the_due_step("days_after_due"),
            follow_up_step=of_the_due_step("pk"),
        )
        .filter(follow_up_days__isnull=False)
        .annotate(
            follow_up_recorded=Exists(
                PaymentFollowUp.objects.filter(
                    invoice=OuterRef("pk"), days_after_due=OuterRef("follow_up_days")
                )
            )
        )
        .order_by()
    )


def payment_follow_up_sample_invoice(*, cluster_id: int) -> Invoice | None:
    """The invoice that the previews of the cluster ``cluster_id``'s follow-ups show: its latest
    with something left to pay, else its latest; annotated as by :func:`invoices_with_balance`,
    with what a follow-up reads. ``None`` when it has issued none."""
    invoices = invoices_with_balance(
        Invoice.objects.filter(cluster_id=cluster_id).select_related(
            "cluster", "term__membership__organisation"
        )
    ).order_by("-due_on", "-pk")
    return invoices.filter(amount_left__gt=0).first() or invoices.first()


def payment_follow_ups_failed() -> QuerySet[PaymentFollowUp]:
    """The follow-ups that failed for good (no contact, the SMTP server refused): what the
    staff's dashboard counts, and its link lists (the ledger filtered on this state)."""
    return PaymentFollowUp.objects.filter(state=PaymentFollowUpState.FAILED)


# --- The staff's dashboard ----------------------------------------------------------------------
# Each figure of the admin's home page is read by one of these querysets, and the list its link
# leads to filters with the same one (members.admin), so that the list shows as many rows as the
# figure says.

#: How many of a cluster's latest imports its dashboard lists.
DASHBOARD_IMPORTS = 5


def month_first_day(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_last_day(day: date) -> date:
    """The last day of ``day``'s month."""
    return next_month_first_day(day) - timedelta(days=1)


def next_month_first_day(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def terms_renewal_due(*, start: date, end: date) -> QuerySet[Term]:
    """The terms whose membership is to renew between ``start`` and ``end`` (both included):
    each membership's latest term (no later term, paid or not; a term cancelled by a credit note
    counts for nothing) ending then, of a membership
    neither cancelled nor transferred (whatever the date recorded), as for the reminders
    (:func:`reminders_due`). Read by the end dates' index, not membership by membership."""
    later_terms = Term.objects.filter(
        membership=OuterRef("membership"),
        end_date__gt=OuterRef("end_date"),
        cancelled_on__isnull=True,
    )
    return Term.objects.filter(
        end_date__range=(start, end),
        cancelled_on__isnull=True,
        membership__cancelled_on__isnull=True,
        membership__transferred_on__isnull=True,
    ).exclude(Exists(later_terms))


def memberships_renewal_due(
    queryset: QuerySet[Membership], *, start: date, end: date
) -> QuerySet[Membership]:
    """The memberships of ``queryset`` to renew between ``start`` and ``end``
    (:func:`terms_renewal_due`)."""
    return queryset.filter(pk__in=terms_renewal_due(start=start, end=end).values("membership_id"))


def terms_lapsed_between(*, start: date, on: date) -> QuerySet[Term]:
    """Terms of the memberships that lapsed from ``start`` to ``on``: lapsed on ``on`` and not
    yet on the eve of ``start``, both statuses from :func:`memberships_with_status`.

    Only a membership with a term that ended from the eve of ``start`` (less the longest grace
    period of the clusters) to the day before ``on`` can have lapsed meanwhile: those terms are
    read by the end dates' index, and the statuses derived for their memberships alone (one query
    for the longest grace period). A membership may have more than one of them."""
    eve = start - timedelta(days=1)
    longest_grace = Cluster.objects.aggregate(days=Max("grace_days"))["days"] or 0
    return (
        Term.objects.filter(
            end_date__range=(eve - timedelta(days=longest_grace), on - timedelta(days=1))
        )
        .alias(
            status_on=term_membership_status(on=on),
            status_before=term_membership_status(on=eve),
        )
        .filter(status_on=MembershipStatus.LAPSED)
        .exclude(status_before=MembershipStatus.LAPSED)
    )


def memberships_lapsed_between(*, start: date, on: date) -> QuerySet[Membership]:
    """The memberships that lapsed from ``start`` to ``on`` (:func:`terms_lapsed_between`)."""
    return Membership.objects.filter(
        pk__in=terms_lapsed_between(start=start, on=on).values("membership_id")
    )


def invoices_unpaid(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """The invoices of ``queryset`` still to be paid, in full or in part, annotated as by
    :func:`invoices_with_balance` (``amount_left`` is what is left to pay)."""
    return invoices_with_balance(queryset).filter(
        status__in=[InvoiceStatus.DUE, InvoiceStatus.PARTIAL]
    )


def invoices_awaiting_transfer(queryset: QuerySet[Invoice] | None = None) -> QuerySet[Invoice]:
    """The unpaid invoices of ``queryset`` (:func:`invoices_unpaid`) whose member has no card
    payment page open: what is left to pay comes by bank transfer (or cheque), which staff
    record on the invoice when the bank has it."""
    card_page_open = CheckoutSession.objects.filter(
        invoice=OuterRef("pk"), status=CheckoutStatus.OPEN, expires_at__gt=timezone.now()
    )
    return invoices_unpaid(queryset).exclude(Exists(card_page_open))


@dataclass(frozen=True)
class ClusterDashboard:
    """What a cluster's staff have to do, at a glance, on ``today``: the renewals due this month
    and the next, the invoices left to pay (how many, how much, the oldest), those awaiting a
    bank transfer, the invoices over-paid (how many, how much to refund), the memberships
    lapsed this month, the reminders and payment follow-ups that failed, the latest imports."""

    cluster: Cluster
    today: date
    renewals_this_month: int
    renewals_next_month: int
    unpaid_invoices: int
    unpaid_amount: Decimal
    oldest_unpaid: Invoice | None
    transfers_to_record: int
    to_refund: int
    to_refund_amount: Decimal
    lapsed_this_month: int
    reminders_failed: int
    payment_follow_ups_failed: int
    imports: int
    last_imports: list[ImportRecord]

    @property
    def this_month(self) -> date:
        return month_first_day(self.today)

    @property
    def next_month(self) -> date:
        return next_month_first_day(self.today)


def _by_cluster(rows, key: str = "cluster_id") -> dict[int, dict]:
    return {row.pop(key): row for row in rows}


def cluster_dashboards(*, clusters: QuerySet[Cluster], today: date) -> list[ClusterDashboard]:
    """The dashboard of each of ``clusters``, by name. Ten queries, whatever the number of
    clusters, memberships, invoices, reminders or imports: each figure is counted for every
    cluster at once (grouped by cluster), the oldest invoices and latest imports are ranked per
    cluster in SQL."""
    clusters = list(clusters.order_by("name"))
    if not clusters:
        return []
    ids = [cluster.pk for cluster in clusters]
    this_month_end = month_last_day(today)
    renewals = _by_cluster(
        terms_renewal_due(
            start=month_first_day(today), end=month_last_day(next_month_first_day(today))
        )
        .filter(membership__cluster__in=ids)
        .order_by()
        .values("membership__cluster_id")
        .annotate(
            this_month=Count("pk", filter=Q(end_date__lte=this_month_end)),
            next_month=Count("pk", filter=Q(end_date__gt=this_month_end)),
        ),
        key="membership__cluster_id",
    )
    invoices = Invoice.objects.filter(cluster__in=ids)
    unpaid = _by_cluster(
        invoices_unpaid(invoices)
        .order_by()
        .values("cluster_id")
        .annotate(count=Count("pk"), amount=Sum("amount_left"))
    )
    transfers = _by_cluster(
        invoices_awaiting_transfer(invoices)
        .order_by()
        .values("cluster_id")
        .annotate(count=Count("pk"))
    )
    to_refund = _by_cluster(
        invoices_to_refund(invoices)
        .order_by()
        .values("cluster_id")
        .annotate(count=Count("pk"), amount=Sum("overpaid_amount"))
    )
    oldest = {
        invoice.cluster_id: invoice
        for invoice in invoices_unpaid(invoices)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("cluster_id"),
                order_by=(F("issued_on").asc(), F("pk").asc()),
            )
        )
        .filter(rank=1)
    }
    lapsed = _by_cluster(
        terms_lapsed_between(start=month_first_day(today), on=today)
        .filter(membership__cluster__in=ids)
        .order_by()
        .values("membership__cluster_id")
        .annotate(count=Count("membership_id", distinct=True)),
        key="membership__cluster_id",
    )
    failed = _by_cluster(
        Reminder.objects.filter(state=ReminderState.FAILED, term__membership__cluster__in=ids)
        .order_by()
        .values("term__membership__cluster_id")
        .annotate(count=Count("pk")),
        key="term__membership__cluster_id",
    )
    follow_ups_failed = _by_cluster(
        payment_follow_ups_failed()
        .filter(invoice__cluster__in=ids)
        .order_by()
        .values("invoice__cluster_id")
        .annotate(count=Count("pk")),
        key="invoice__cluster_id",
    )
    imports: dict[int, list[ImportRecord]] = {pk: [] for pk in ids}
    imports_count: dict[int, int] = {}
    for record in (
        ImportRecord.objects.filter(cluster__in=ids)
        .select_related("created_by")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("cluster_id"),
                order_by=(F("created_at").desc(), F("pk").desc()),
            ),
            cluster_total=Window(Count("pk"), partition_by=F("cluster_id")),
        )
        .filter(rank__lte=DASHBOARD_IMPORTS)
        .order_by("cluster_id", "rank")
    ):
        imports[record.cluster_id].append(record)
        imports_count[record.cluster_id] = record.cluster_total
    return [
        ClusterDashboard(
            cluster=cluster,
            today=today,
            renewals_this_month=renewals.get(cluster.pk, {}).get("this_month", 0),
            renewals_next_month=renewals.get(cluster.pk, {}).get("next_month", 0),
            unpaid_invoices=unpaid.get(cluster.pk, {}).get("count", 0),
            unpaid_amount=unpaid.get(cluster.pk, {}).get("amount") or Decimal("0.00"),
            oldest_unpaid=oldest.get(cluster.pk),
            transfers_to_record=transfers.get(cluster.pk, {}).get("count", 0),
            to_refund=to_refund.get(cluster.pk, {}).get("count", 0),
            to_refund_amount=to_refund.get(cluster.pk, {}).get("amount") or Decimal("0.00"),
            lapsed_this_month=lapsed.get(cluster.pk, {}).get("count", 0),
            reminders_failed=failed.get(cluster.pk, {}).get("count", 0),
            payment_follow_ups_failed=follow_ups_failed.get(cluster.pk, {}).get("count", 0),
            imports=imports_count.get(cluster.pk, 0),
            last_imports=imports[cluster.pk],
        )
        for cluster in clusters
    ]


@dataclass(frozen=True)
class ReminderStepDue:
    """What a pass of one cluster would do for one ``step`` of its policy: ``memberships`` with
    this reminder due, of which ``recorded`` by an earlier pass and ``to_send`` not yet (the pass
    records and sends them); the e-mails those make, by the language they are written in
    (``emails``: ``{"fr": 12, "en": 3}``), and the memberships among them with nobody to write to
    (``without_contact``: their entries fail, for staff to see)."""

    step: ReminderStep
    memberships: int
    recorded: int
    to_send: int
    emails: dict[str, int]
    without_contact: int


def reminders_due_by_step(*, on: date, cluster_id: int) -> list[ReminderStepDue]:
    """For each step of the cluster ``cluster_id``'s active policy with reminders due on ``on``
    (:func:`reminders_due`), what its pass would record and send, and to how many contacts in
    each language (a contact whose language has no text gets the French one). Four queries,
    whatever the number of memberships: the due terms, then the contacts of theirs still to
    write to."""
    due = list(
        reminders_due(on=on, cluster_ids=[cluster_id]).values_list(
            "membership__organisation_id", "reminder_step", "reminder_recorded"
        )
    )
    if not due:
        return []
    steps = {step.pk: step for step in ReminderStep.objects.filter(policy__cluster_id=cluster_id)}
    languages: dict[int, list[str]] = {}
    for organisation_id, language in contacts_to_notify_in(
        organisation_ids=[organisation for organisation, _step, recorded in due if not recorded]
    ).values_list("organisation_id", "language"):
        languages.setdefault(organisation_id, []).append(language or settings.LANGUAGE_CODE)
    rows: dict[int, dict] = {}
    for organisation_id, step_id, recorded in due:
        row = rows.setdefault(
            step_id,
            {"memberships": 0, "recorded": 0, "to_send": 0, "emails": {}, "without_contact": 0},
        )
        row["memberships"] += 1
        if recorded:
            row["recorded"] += 1
            continue
        row["to_send"] += 1
        contacts = languages.get(organisation_id, [])
        if not contacts:
            row["without_contact"] += 1
        for language in contacts:
            written_in = steps[step_id].text(language)[0]
            row["emails"][written_in] = row["emails"].get(written_in, 0) + 1
    return [
        ReminderStepDue(step=steps[step_id], **row)
        for step_id, row in sorted(rows.items(), key=lambda item: steps[item[0]].offset_days)
    ]
