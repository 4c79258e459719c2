"""Renewing a membership: the next membership year, the plan that fits, the term and its invoice;
whether a membership can be renewed today; the signed renewal link that reminders carry; the
expiry of renewals left unpaid (cancelled by a credit note, the contacts told)."""

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from members import documents, mailing
from members.formatting import money, short_date
from members.models import (
    Cluster,
    CreditNote,
    CreditNoteOrigin,
    Invoice,
    Mail,
    MailPurpose,
    Membership,
    MembershipStatus,
    Plan,
    Term,
)
from members.selectors import (
    contacts_to_notify,
    memberships_with_status,
    renewals_unpaid_expired,
)

from .billing import credit_note_issue, invoice_issue
from .terms import term_save
from .years import FirstTerm, first_term, fixed_year_of, is_fixed_year, one_year_after


def renewal_term(
    *, after: Term, today: date, cluster: Cluster | None = None, annual_fee: Decimal = Decimal(0)
) -> FirstTerm:
    """The term a renewal after ``after`` makes, at a plan of ``annual_fee``, in ``cluster``'s
    membership year (on the anniversary when ``cluster`` is None).

    On the anniversary: the year that starts the day after ``after`` ends, keeping its
    anniversary, at the full fee; for a membership that lapsed, the first such year that has not
    ended by ``today``. In a fixed year: from the day after ``after`` ends to the end of the
    fixed year holding that day (a term ending on 31 December renews from 1 January to
    31 December), at the full fee when that is a whole year, else at the fee of a first term
    starting that day (:func:`members.services.years.first_term`: a term of the old anniversary
    rule is brought onto the fixed year); for a membership that lapsed, the first fixed year not
    ended by ``today``, whole, at the full fee (the lapse is not a discount, as on the
    anniversary)."""
    start = after.end_date + timedelta(days=1)
    if cluster is not None and is_fixed_year(cluster):
        _year_start, year_end = fixed_year_of(cluster=cluster, day=start)
        while year_end < today:
            start = year_end + timedelta(days=1)
            _year_start, year_end = fixed_year_of(cluster=cluster, day=start)
        return first_term(cluster=cluster, annual_fee=annual_fee, start=start)
    while one_year_after(start) - timedelta(days=1) < today:
        start = one_year_after(start)
    return FirstTerm(start, one_year_after(start) - timedelta(days=1), annual_fee, 1, 1, "years")


def renewal_period(
    *, after: Term, today: date, cluster: Cluster | None = None
) -> tuple[date, date]:
    """The membership year a renewal after ``after`` covers (see :func:`renewal_term`)."""
    term = renewal_term(after=after, today=today, cluster=cluster)
    return term.start, term.end


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
    period = renewal_term(
        after=after, today=today, cluster=membership.cluster, annual_fee=plan.annual_fee
    )
    term = term_save(
        term=Term(
            membership=membership,
            plan=plan,
            start_date=period.start,
            end_date=period.end,
            fee=period.fee,
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


# --- Unpaid renewals expire -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiryPass:
    """What a pass of :func:`renewals_expire` did on ``today``: ``due``, the renewal terms found
    to expire; ``credit_notes``, those cancelled by a credit note on their invoice;
    ``without_invoice``, those cancelled alone (never invoiced); the rest were paid or
    cancelled meanwhile (another pass, a payment in the same second) and left as they were."""

    today: date
    due: int
    credit_notes: int
    without_invoice: int

    def as_json(self) -> dict:
        return {
            "today": self.today.isoformat(),
            "due": self.due,
            "credit_notes": self.credit_notes,
            "without_invoice": self.without_invoice,
        }


def renewals_expire(*, today: date | None = None) -> ExpiryPass:
    """Cancel every renewal still unpaid past its cluster's delay on ``today`` (default: today
    in Europe/Paris; :func:`members.selectors.renewals_unpaid_expired` states the rule), each by
    :func:`term_expire` in a transaction of its own: what Celery beat runs every morning. A day
    without a pass is caught up by the next; a pass run twice, or two at once, cancel each term
    once."""
    today = today or timezone.localdate()
    due = list(
        renewals_unpaid_expired(on=today).order_by("expires_on", "pk").values_list("pk", flat=True)
    )
    done = [term_expire(term_id=term_id, today=today) for term_id in due]
    expired = [expiry for expiry in done if expiry is not None]
    return ExpiryPass(
        today=today,
        due=len(due),
        credit_notes=sum(1 for expiry in expired if expiry.invoiced),
        without_invoice=sum(1 for expiry in expired if not expiry.invoiced),
    )


@dataclass(frozen=True)
class ExpiredTerm:
    """A renewal term :func:`term_expire` cancelled, and whether through its invoice's credit
    note (``invoiced``)."""

    term: Term
    invoiced: bool


def expiry_reason(*, days: int, invoice_issued_on: date | None, start: date) -> str:
    """Why a renewal was cancelled, in French (a credit note is written in French): the rule,
    counted from the term's start or from its invoice when it was issued later."""
    with translation.override(settings.LANGUAGE_CODE):
        if invoice_issued_on and invoice_issued_on > start:
            return _("Renouvellement impayé %(days)s jours après sa facture du %(date)s") % {
                "days": days,
                "date": short_date(invoice_issued_on),
            }
        return _("Renouvellement impayé %(days)s jours après le début de la période") % {
            "days": days
        }


@transaction.atomic
def term_expire(*, term_id: int, today: date) -> ExpiredTerm | None:
    """Cancel the renewal term ``term_id`` if it is still to expire on ``today``, and tell its
    organisation's contacts (one e-mail each, in their language, sent once after commit); return
    what was done, or ``None`` when it was left as it is.

    A term with an invoice is cancelled by a full credit note on it
    (:func:`members.services.billing.credit_note_issue`, origin ``expiry``), which cancels the
    term too; a term never invoiced owes nothing on paper and is cancelled alone
    (``cancelled_on``). Either way the membership's status falls back to what its other terms
    say, and the period may be renewed again.

    The invoice's row, then the term's, are locked (the order in which a payment takes them)
    and the rule is read again under the locks: of two passes at once the second finds the term
    cancelled, and a payment recorded in the same second leaves the term paid, never
    cancelled. A term invoiced meanwhile is left for the next pass.
    """
    invoice_id = Invoice.objects.filter(term_id=term_id).values_list("pk", flat=True).first()
    if invoice_id is not None:
        list(Invoice.objects.select_for_update().filter(pk=invoice_id).values_list("pk"))
    term = (
        Term.objects.select_for_update(of=("self",))
        .select_related("membership__cluster", "membership__organisation")
        .filter(pk=term_id)
        .first()
    )
    if term is None:
        return None
    still_due = renewals_unpaid_expired(on=today).filter(pk=term_id).values("invoice_issued_on")
    due = still_due.first()
    if due is None or (due["invoice_issued_on"] is not None) != (invoice_id is not None):
        return None
    if invoice_id is not None:
        credit_note_issue(
            invoice=Invoice(pk=invoice_id),
            reason=expiry_reason(
                days=term.membership.cluster.unpaid_renewal_expiry_days,
                invoice_issued_on=due["invoice_issued_on"],
                start=term.start_date,
            ),
            origin=CreditNoteOrigin.EXPIRY,
            on=today,
            # The contacts get one e-mail: the one below, which says why, the credit note attached.
            notify=False,
        )
        term.refresh_from_db(fields=["cancelled_on", "updated_at"])
    else:
        term.cancelled_on = today
        term.save(update_fields=["cancelled_on", "updated_at"])
    entry_ids = mailing.mails_record(
        purpose=MailPurpose.RENEWAL_EXPIRED,
        about=term,
        recipients=contacts_to_notify(term.membership.organisation),
        now=timezone.now(),
    )
    mailing.mail_queue(ledger=mailing.MAILS, entry_ids=entry_ids)
    return ExpiredTerm(term=term, invoiced=invoice_id is not None)


class _RenewalExpiredEmail:
    """The e-mail that tells a contact its organisation's renewal was cancelled for want of
    payment (:class:`members.mailing.MailPurposeWriter`): the period, the membership's status
    since, and how to renew again (the member area)."""

    def message(self, entry: Mail) -> EmailMultiAlternatives:
        term = Term.objects.select_related(
            "plan", "invoice", "membership__cluster", "membership__organisation"
        ).get(pk=entry.object_id)
        membership = term.membership
        cluster = membership.cluster
        status = (
            memberships_with_status(
                on=term.cancelled_on, queryset=Membership.objects.filter(pk=membership.pk)
            )
            .values_list("status", flat=True)
            .get()
        )
        invoice = getattr(term, "invoice", None)
        issuer = cluster.issuer_details()
        with translation.override(entry.language):
            context = {
                "term": term,
                "invoice": invoice,
                "amount": money(term.fee),
                "organisation_name": membership.organisation.name,
                "cluster_name": cluster.name,
                "days": cluster.unpaid_renewal_expiry_days,
                "status": str(MembershipStatus(status).label),
                "issuer": issuer,
                "member_area_url": settings.SITE_URL.rstrip("/") + reverse("members:area"),
            }
            subject = render_to_string("members/email/renewal_expired_subject.txt", context)
            message = EmailMultiAlternatives(
                subject=" ".join(subject.split()),
                body=render_to_string("members/email/renewal_expired_message.txt", context),
                to=[entry.email],
                reply_to=[issuer["email"]] if issuer.get("email") else None,
                headers={"Content-Language": entry.language},
            )
            message.attach_alternative(
                render_to_string("members/email/renewal_expired_message.html", context),
                "text/html",
            )
        credit_note = _expiry_credit_note(invoice)
        if credit_note is not None:
            message.attach(
                documents.credit_note_filename(credit_note),
                documents.credit_note_pdf(credit_note),
                "application/pdf",
            )
        return message

    def sent(self, entry: Mail) -> None:
        """The ledger's entry is the record; the credit note attached was sent too."""
        term = Term.objects.select_related("invoice").filter(pk=entry.object_id).first()
        credit_note = _expiry_credit_note(getattr(term, "invoice", None))
        if credit_note is not None and credit_note.notice_sent_at is None:
            CreditNote.objects.filter(pk=credit_note.pk, notice_sent_at__isnull=True).update(
                notice_sent_at=entry.sent_at
            )


def _expiry_credit_note(invoice: Invoice | None) -> CreditNote | None:
    """The credit note that cancelled ``invoice`` when its renewal expired, if any."""
    if invoice is None:
        return None
    return invoice.credit_notes.filter(origin=CreditNoteOrigin.EXPIRY).order_by("pk").first()


mailing.MAILS.purpose_register(MailPurpose.RENEWAL_EXPIRED, _RenewalExpiredEmail())
