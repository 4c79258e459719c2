"""A term cancelled by a credit note counts for nothing: another term may cover its dates (the
fee corrected and invoiced again), the membership's status ignores it; an invoice's balance
reads its credit notes and succeeded refunds. The database guards it on PostgreSQL and SQLite."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from members.models import (
    CreditNote,
    InvoiceStatus,
    MembershipStatus,
    Payment,
    Refund,
    RefundState,
    Term,
)
from members.selectors import invoice_with_balance, memberships_with_status
from members.services.billing import invoice_issue
from tests.factories import TermFactory
from tests.members.billing_helpers import ISSUED, legal_details, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date


def _credit_note(invoice, amount: str, *, sequence: int = 1) -> CreditNote:
    return CreditNote.objects.create(
        cluster=invoice.cluster,
        invoice=invoice,
        number=f"DP-AV-2027-{sequence:05d}",
        year=2027,
        sequence=sequence,
        issued_on=ISSUED,
        amount=Decimal(amount),
        reason="Erreur de formule",
        description="Avoir",
        issuer_details=invoice.issuer_details,
        customer_details=invoice.customer_details,
    )


def test_a_cancelled_term_frees_its_dates_and_counts_for_nothing():
    legal_details()
    term = unpaid_term(year=2027)
    TermFactory(membership=term.membership, plan=term.plan, year=2026, is_paid=True)
    on = D(2027, 6, 1)
    status = memberships_with_status(on=on).get(pk=term.membership_id).status
    assert status == MembershipStatus.PENDING
    # Another term over the same dates is refused while the first is not cancelled.
    with pytest.raises(IntegrityError), transaction.atomic():
        TermFactory(membership=term.membership, plan=term.plan, year=2027)
    Term.objects.filter(pk=term.pk).update(cancelled_on=D(2027, 2, 1))
    # It falls back to what its other terms say: the 2026 one ended, grace is over.
    status = memberships_with_status(on=on).get(pk=term.membership_id).status
    assert status == MembershipStatus.LAPSED
    again = TermFactory(membership=term.membership, plan=term.plan, year=2027, is_paid=True)
    status = memberships_with_status(on=on).get(pk=term.membership_id).status
    assert status == MembershipStatus.CURRENT
    # Un-cancelling the first would overlap the second: refused.
    with pytest.raises(IntegrityError), transaction.atomic():
        Term.objects.filter(pk=term.pk).update(cancelled_on=None)
    assert again.start_date == term.start_date


def test_the_balance_reads_credit_notes_and_refunds():
    legal_details()
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    _credit_note(invoice, "100.00")
    balance = invoice_with_balance(invoice=invoice)
    assert (balance.amount_due, balance.amount_left, balance.status) == (
        Decimal("200.00"),
        Decimal("200.00"),
        InvoiceStatus.DUE,
    )
    Payment.objects.create(invoice=invoice, amount=Decimal("250.00"), received_on=ISSUED)
    balance = invoice_with_balance(invoice=invoice)
    assert (balance.amount_left, balance.overpaid_amount, balance.status) == (
        Decimal("0.00"),
        Decimal("50.00"),
        InvoiceStatus.OVERPAID,
    )
    refund = Refund.objects.create(
        invoice=invoice,
        amount=Decimal("50.00"),
        refunded_on=ISSUED,
        reason="Trop-perçu",
        state=RefundState.PENDING,
    )
    assert invoice_with_balance(invoice=invoice).overpaid_amount == Decimal("50.00")
    Refund.objects.filter(pk=refund.pk).update(state=RefundState.SUCCEEDED)
    assert invoice_with_balance(invoice=invoice).overpaid_amount == Decimal("0.00")
    _credit_note(invoice, "200.00", sequence=2)
    type(invoice).objects.filter(pk=invoice.pk).update(cancelled_on=ISSUED)
    balance = invoice_with_balance(invoice=invoice)
    # Everything paid and not refunded on a cancelled invoice is to refund.
    assert (balance.amount_due, balance.overpaid_amount, balance.status) == (
        Decimal("0.00"),
        Decimal("200.00"),
        InvoiceStatus.OVERPAID,
    )


def test_a_full_credit_note_cancels_the_invoice_and_its_term():
    from members.services.billing import credit_note_issue

    legal_details()
    first = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    second = invoice_issue(term=unpaid_term(fee="120.00"), on=ISSUED)
    partial = credit_note_issue(invoice=first, amount=Decimal("100.00"), reason="Remise", on=ISSUED)
    assert partial.number == "DP-AV-2027-00001"
    first.refresh_from_db()
    assert first.cancelled_on is None and not partial.term_cancelled
    # The member pays the 200 € left: the invoice and its term are paid.
    Payment.objects.create(invoice=first, amount=Decimal("200.00"), received_on=ISSUED)
    full = credit_note_issue(invoice=second, reason="Adhésion saisie deux fois", on=ISSUED)
    assert (full.number, full.amount, full.term_cancelled) == (
        "DP-AV-2027-00002",
        Decimal("120.00"),
        True,
    )
    second.refresh_from_db()
    assert second.cancelled_on == ISSUED
    assert Term.objects.get(pk=second.term_id).cancelled_on == ISSUED
    with pytest.raises(ValidationError, match="déjà annulée"):
        credit_note_issue(invoice=second, reason="Encore")
    with pytest.raises(ValidationError, match="dépasse"):
        credit_note_issue(invoice=first, amount=Decimal("200.01"), reason="Trop")
    # Refusals take no number: the next one follows without a gap.
    assert (
        credit_note_issue(invoice=first, reason="Annulation", on=ISSUED).number
        == "DP-AV-2027-00003"
    )
