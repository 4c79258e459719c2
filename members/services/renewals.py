"""Renewing a membership: the next membership year, the plan that fits, the term and its invoice;
whether a membership can be renewed today; the signed renewal link that reminders carry."""

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from members.formatting import short_date
from members.models import Invoice, Membership, Plan, Term

from .billing import invoice_issue
from .terms import term_save


def _one_year_after(day: date) -> date:
    """The same day a year later (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def renewal_period(*, after: Term, today: date) -> tuple[date, date]:
    """The membership year a renewal after ``after`` covers: the year that starts the day after
    it ends, keeping its anniversary (a term ending on 31 December renews for the next calendar
    year); for a membership that lapsed, the first such year that has not ended by ``today``."""
    start = after.end_date + timedelta(days=1)
    while _one_year_after(start) - timedelta(days=1) < today:
        start = _one_year_after(start)
    return start, _one_year_after(start) - timedelta(days=1)


def renewal_opens_on(*, after: Term) -> date:
    """The first day a membership whose latest term is ``after`` may be renewed."""
    return after.end_date - timedelta(days=settings.RENEWAL_OPENS_DAYS_BEFORE)


def plan_suggested(
    *, plans: list[Plan], headcount: int | None, current: Plan | None = None
) -> Plan | None:
    """Among ``plans`` (a cluster's active plans, in display order), the one to suggest for an
    organisation of ``headcount`` people whose current plan is ``current``: a plan of the same
    category as ``current`` if its headcount band fits (a lab stays "academic", a freelancer
    "freelance"), else the first plan whose band holds the headcount, else ``current``'s
    category, else the first plan."""

    def fits(plan: Plan) -> bool:
        if headcount is None:
            return True
        low_ok = plan.headcount_min is None or plan.headcount_min <= headcount
        high_ok = plan.headcount_max is None or headcount <= plan.headcount_max
        return low_ok and high_ok

    def banded(plan: Plan) -> bool:
        return plan.headcount_min is not None or plan.headcount_max is not None

    same_category = [plan for plan in plans if current and plan.category == current.category]
    for candidates in (
        [plan for plan in same_category if fits(plan)],
        [plan for plan in plans if banded(plan) and fits(plan)] if headcount is not None else [],
        same_category,
        plans,
    ):
        if candidates:
            return candidates[0]
    return None


class RenewalState(enum.StrEnum):
    """Whether a membership can be renewed today, and if not why (see :func:`renewal_outlook`)."""

    OPEN = "open"
    NOT_OPEN_YET = "not_open_yet"
    PENDING_PAYMENT = "pending_payment"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    NO_TERM = "no_term"


@dataclass(frozen=True)
class RenewalOutlook:
    """What :func:`renewal_outlook` found: the ``state``, the ``latest`` term a renewal would
    follow, and the day renewals open (``opens_on``) when there is such a term."""

    state: RenewalState
    latest: Term | None
    opens_on: date | None

    @property
    def is_open(self) -> bool:
        return self.state == RenewalState.OPEN


def renewal_outlook(*, membership: Membership, latest: Term | None, today: date) -> RenewalOutlook:
    """Whether ``membership``, whose latest term (the one that starts last) is ``latest``, can be
    renewed on ``today``, by the rules of :func:`membership_renew`, without a query: the member
    area tells it for every membership it lists.

    A membership transferred or cancelled by ``today`` no longer renews; one without any term has
    nothing to renew (its cluster starts it). Renewals open :func:`renewal_opens_on` the latest
    term; before that, the latest term is either paid (the membership is renewed up to its end)
    or still waiting for its payment (typically a renewal made already): ``pending_payment``.
    """
    if membership.transferred_on and membership.transferred_on <= today:
        return RenewalOutlook(state=RenewalState.TRANSFERRED, latest=latest, opens_on=None)
    if membership.cancelled_on and membership.cancelled_on <= today:
        return RenewalOutlook(state=RenewalState.CANCELLED, latest=latest, opens_on=None)
    if latest is None:
        return RenewalOutlook(state=RenewalState.NO_TERM, latest=None, opens_on=None)
    opens_on = renewal_opens_on(after=latest)
    if today >= opens_on:
        state = RenewalState.OPEN
    elif latest.is_paid:
        state = RenewalState.NOT_OPEN_YET
    else:
        state = RenewalState.PENDING_PAYMENT
    return RenewalOutlook(state=state, latest=latest, opens_on=opens_on)


def renewal_of(*, term: Term) -> Term | None:
    """The term that renewed the membership after ``term`` (the first one after it, not cancelled
    by a credit note), if any."""
    return (
        Term.objects.filter(
            membership_id=term.membership_id,
            start_date__gt=term.end_date,
            cancelled_on__isnull=True,
        )
        .select_related("invoice")
        .order_by("start_date")
        .first()
    )


@dataclass(frozen=True)
class Renewal:
    """What :func:`membership_renew` did: the renewal ``term`` and its ``invoice``; ``created`` is
    false when the membership had already been renewed after the term named."""

    term: Term
    invoice: Invoice
    created: bool


def _renewal_refusal(outlook: RenewalOutlook) -> str:
    """Why a membership cannot be renewed, in words, by what :func:`renewal_outlook` found."""
    if outlook.state == RenewalState.TRANSFERRED:
        return _(
            "Cette adhésion a été transférée au cluster successeur : elle ne se renouvelle plus."
        )
    if outlook.state == RenewalState.CANCELLED:
        return _("Cette adhésion est résiliée : contactez le cluster.")
    return _("Le renouvellement ouvrira le %(date)s.") % {"date": short_date(outlook.opens_on)}


@transaction.atomic
def membership_renew(
    *,
    membership: Membership,
    after: Term,
    plan: Plan,
    today: date | None = None,
) -> Renewal:
    """Renew ``membership`` for the membership year following its term ``after`` with ``plan``:
    a new term, pending payment, and its invoice.

    The membership's row is locked for the transaction: a double click, two tabs or two
    colleagues renewing at once make one term and one invoice; the others get the renewal made
    first, with ``created`` false. A new invoice is e-mailed to the organisation after commit.
    Raise :class:`ValidationError` when the membership cannot be renewed (cancelled,
    transferred, renewals not open yet) or ``plan`` is not one of its cluster's active plans.
    """
    today = today or timezone.localdate()
    membership = (
        Membership.objects.select_for_update().select_related("cluster").get(pk=membership.pk)
    )
    if after.membership_id != membership.pk:
        raise ValidationError(_("Cette période n’appartient pas à cette adhésion."))
    if after.cancelled_on is not None:
        raise ValidationError(
            _("Cette période a été annulée par un avoir : renouvelez depuis votre espace adhérent.")
        )
    later = renewal_of(term=after)
    if later is not None:
        return Renewal(term=later, invoice=invoice_issue(term=later, on=today), created=False)
    outlook = renewal_outlook(membership=membership, latest=after, today=today)
    if not outlook.is_open:
        raise ValidationError(_renewal_refusal(outlook))
    if plan.cluster_id != membership.cluster_id or not plan.is_active:
        raise ValidationError(
            {
                "plan": _("Cette formule n’est pas proposée par %(cluster)s.")
                % {"cluster": membership.cluster.name}
            }
        )
    start, end = renewal_period(after=after, today=today)
    term = term_save(
        term=Term(
            membership=membership,
            plan=plan,
            start_date=start,
            end_date=end,
            fee=plan.annual_fee,
        )
    )
    invoice = invoice_issue(term=term, on=today)
    # Imported here: the task module imports the services (tasks wrap services).
    from members.tasks import invoice_notice_send

    invoice_notice_send.delay_on_commit(invoice.pk)
    return Renewal(term=term, invoice=invoice, created=True)


# --- The signed renewal link ----------------------------------------------------------------------
# Reminders carry a link naming the term to renew and the contact's e-mail, signed so that nobody
# can forge one. It does not expire: it stays valid for the term it names, and once that term has
# been renewed it leads to the renewal (its invoice), never to a second one. It grants nothing by
# itself: the visitor still signs in, and only sees the term if it is a contact of its
# organisation.

RENEWAL_LINK_SALT = "members.renewal-link"


def renewal_link_token(*, term: Term, email: str) -> str:
    """The signed token of the renewal link of ``term`` sent to ``email``."""
    return signing.dumps([term.pk, email.strip().lower()], salt=RENEWAL_LINK_SALT)


def renewal_link_read(*, token: str) -> tuple[int, str]:
    """The term id and e-mail that ``token`` names; raise :class:`django.core.signing.BadSignature`
    when it was not made by :func:`renewal_link_token` (tampered, truncated, another salt)."""
    value = signing.loads(token, salt=RENEWAL_LINK_SALT)
    try:
        term_id, email = value
        return int(term_id), str(email)
    except (TypeError, ValueError) as exc:
        raise signing.BadSignature("Malformed renewal link.") from exc


def renewal_url(*, term: Term, email: str) -> str:
    """The absolute renewal link of ``term`` for ``email``, on ``settings.SITE_URL``."""
    path = reverse(
        "members:renewal_link", kwargs={"token": renewal_link_token(term=term, email=email)}
    )
    return settings.SITE_URL.rstrip("/") + path
