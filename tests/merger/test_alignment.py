"""A merger that aligns the successor memberships on the successor's membership year: the first
successor term runs from the effective date to the end of the successor's year at the fee its
proration rule gives, less what the days already paid to the source clusters beyond the effective
date are worth (both clusters' for a member paid twice); what those days are worth beyond that
fee is credited back on the source invoices (credit notes of origin "merger"), to refund."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from members.models import Cluster, CreditNote, CreditNoteOrigin, Membership, Term
from members.selectors import invoices_with_balance
from members.services.billing import invoice_issue, invoice_payment_record
from merger.exports import execution_preview_export
from merger.models import Decision, MergerEvent, TransferProposal
from merger.services import (
    merger_execute,
    merger_execution_preview,
    merger_update,
    proposals_refresh,
    transfer_decide,
)
from tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    cluster,
)
from tests.html_forms import form_data
from tests.members.billing_helpers import legal_details

from .conftest import schedule

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def paid_term(membership, start: dt.date, end: dt.date, fee: str) -> Term:
    """A term of ``membership`` invoiced and paid in full by bank transfer."""
    term = TermFactory(
        membership=membership, start_date=start, end_date=end, fee=Decimal(fee), is_paid=False
    )
    invoice = invoice_issue(term=term, on=start - dt.timedelta(days=60))
    invoice_payment_record(
        invoice=invoice, amount=invoice.amount, received_on=start - dt.timedelta(days=30)
    )
    term.refresh_from_db()
    assert term.is_paid
    return term


@pytest.fixture
def aligned(merger, committee):
    """The merger scheduled on 1 January 2027, aligning on the Grand Cluster's calendar year
    (prorated by days)."""
    for slug in ("digitalplace", "frenchsouth"):
        legal_details(slug)
    Cluster.objects.filter(slug="grand-cluster").update(membership_year="fixed", proration="days")
    schedule(merger, NEW_YEAR)
    merger_update(
        merger=merger,
        by=committee,
        reason="Toutes les adhésions sur l’année civile",
        align_on_successor_year=True,
    )
    merger.refresh_from_db()
    return merger


def member_of_both(dp_term: tuple, fs_term: tuple):
    organisation = OrganisationFactory()
    dp = MembershipFactory(organisation=organisation, cluster=cluster("digitalplace"))
    fs = MembershipFactory(organisation=organisation, cluster=cluster("frenchsouth"))
    return organisation, paid_term(dp, *dp_term), paid_term(fs, *fs_term)


def approve(merger, committee, successor_fee: str) -> TransferProposal:
    proposals_refresh(merger=merger)
    proposal = TransferProposal.objects.get()
    plan = proposal.successor_plan
    plan.annual_fee = Decimal(successor_fee)
    plan.save()
    transfer_decide(
        proposal_ids=[proposal.pk],
        decision=Decision.APPROVED,
        by=committee,
        reason="Validé par le comité",
    )
    return proposal


def test_changing_the_alignment_is_logged_with_its_reason(aligned, committee):
    event = MergerEvent.objects.filter(merger=aligned).order_by("-pk").first()
    assert aligned.align_on_successor_year is True
    assert event.details == {"align_on_successor_year": True}
    assert event.reason == "Toutes les adhésions sur l’année civile"
    with pytest.raises(ValidationError):
        merger_update(merger=aligned, by=committee, reason="", align_on_successor_year=False)


def test_a_member_paid_in_both_pays_the_successor_year_less_every_day_already_paid(
    aligned, committee
):
    # DigitalPlace paid for 2027 (300 €), FrenchSouth from 1 July 2026 to 30 June 2027 (365 €):
    # 181 days of FrenchSouth's are beyond 1 January 2027, worth 181 €.
    organisation, _dp_term, _fs_term = member_of_both(
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), "300.00"),
        (dt.date(2026, 7, 1), dt.date(2027, 6, 30), "365.00"),
    )
    approve(aligned, committee, "800.00")

    merger_execute(merger=aligned)

    successor = Membership.objects.get(organisation=organisation, cluster__slug="grand-cluster")
    term = successor.terms.get()
    assert (term.start_date, term.end_date, term.fee, term.is_paid) == (
        NEW_YEAR,
        dt.date(2027, 12, 31),
        Decimal("319.00"),
        False,
    )
    proposal = TransferProposal.objects.get(organisation=organisation)
    assert proposal.alignment["first_term"]["fee"] == "800.00"
    assert proposal.alignment["deduction"] == "481.00"
    lines = proposal.alignment["paid_beyond"]
    assert [(line["days"], line["of"], line["value"]) for line in lines] == [
        (365, 365, "300.00"),
        (181, 365, "181.00"),
    ]
    assert proposal.alignment["excess"] == "0.00"
    assert "319,00" in successor.notes and "481,00" in successor.notes
    assert not CreditNote.objects.exists()


def test_what_was_paid_beyond_the_successor_fee_becomes_a_credit_note_to_refund(
    aligned, committee, client
):
    # Both paid the whole of 2027: 300 € + 600 € for a successor year of 800 €: 100 € too much.
    organisation, dp_term, fs_term = member_of_both(
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), "300.00"),
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), "600.00"),
    )
    approve(aligned, committee, "800.00")

    result = merger_execute(merger=aligned)

    assert (result.executed[0].fee, result.executed[0].deduction) == (
        Decimal("0.00"),
        Decimal("800.00"),
    )
    assert result.executed[0].credit == Decimal("100.00")
    term = Membership.objects.get(
        organisation=organisation, cluster__slug="grand-cluster"
    ).terms.get()
    assert (term.fee, term.is_paid, term.end_date) == (Decimal("0.00"), True, dt.date(2027, 12, 31))
    note = CreditNote.objects.get()
    assert (note.amount, note.origin) == (Decimal("100.00"), CreditNoteOrigin.MERGER)
    assert note.invoice.term_id in (dp_term.pk, fs_term.pk)
    overpaid = invoices_with_balance().get(pk=note.invoice_id).overpaid_amount
    assert overpaid == Decimal("100.00")
    proposal = TransferProposal.objects.get(organisation=organisation)
    assert proposal.alignment["credit_notes"] == [{"number": note.number, "amount": "100.00"}]
    assert proposal.alignment["not_credited"] == "0.00"
    client.force_login(committee)
    page = client.get(f"/admin/merger/transferproposal/{proposal.pk}/change/").content.decode()
    assert "Première période alignée" in page
    assert "déduit : 800,00" in page and f"avoir {note.number} de 100,00" in page

    # A second execution creates nothing, and credits nothing again.
    again = merger_execute(merger=aligned)
    assert (len(again.executed), again.skipped) == (0, 1)
    assert CreditNote.objects.count() == 1
    # Once effective, the alignment no longer changes.
    with pytest.raises(ValidationError, match="effective"):
        merger_update(merger=aligned, by=committee, reason="Revenir", align_on_successor_year=False)


def test_a_dry_run_and_the_preview_show_the_deduction_and_write_nothing(aligned, committee):
    member_of_both(
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), "300.00"),
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31), "600.00"),
    )
    approve(aligned, committee, "800.00")

    result = merger_execute(merger=aligned, dry_run=True)
    preview = merger_execution_preview(merger=aligned)

    for row in (result.executed[0], preview.rows[0]):
        assert (row.fee, row.deduction, row.credit) == (
            Decimal("0.00"),
            Decimal("800.00"),
            Decimal("100.00"),
        )
    export = execution_preview_export(result, merger=aligned, file_format="csv")
    header, row = export.decode("utf-8-sig").splitlines()[:2]
    columns = dict(zip(header.split(";"), row.split(";"), strict=True))
    assert (columns["Déjà payé déduit (€)"], columns["Avoir (€)"]) == ("800.00", "100.00")
    assert not CreditNote.objects.exists()
    assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()


def test_a_member_joining_the_year_in_grace_pays_the_prorated_successor_year(merger, committee):
    # No day paid beyond the effective date (15 January): the first term is prorated by days.
    Cluster.objects.filter(slug="grand-cluster").update(membership_year="fixed")
    organisation = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=organisation), year=2026)
    schedule(merger, dt.date(2027, 1, 15))
    merger_update(merger=merger, by=committee, reason="Aligner", align_on_successor_year=True)
    approve(merger, committee, "365.00")

    merger_execute(merger=merger)

    term = Membership.objects.get(
        organisation=organisation, cluster__slug="grand-cluster"
    ).terms.get()
    assert (term.start_date, term.end_date, term.fee, term.is_paid) == (
        dt.date(2027, 1, 15),
        dt.date(2027, 12, 31),
        Decimal("351.00"),
        False,
    )


def test_the_committee_ticks_the_alignment_on_the_merger_s_page_with_a_reason(
    client, merger, committee
):
    schedule(merger, NEW_YEAR)
    client.force_login(committee)
    page_url = f"/admin/merger/merger/{merger.pk}/change/"
    data = form_data(client.get(page_url), id="merger_form")
    data["align_on_successor_year"] = "on"

    refused = client.post(page_url, data)

    assert refused.status_code == 200
    assert "Indiquez le motif" in refused.content.decode()
    merger.refresh_from_db()
    assert merger.align_on_successor_year is False

    data["reason"] = "Toutes les adhésions sur l’année civile"
    assert client.post(page_url, data).status_code == 302
    merger.refresh_from_db()
    assert merger.align_on_successor_year is True
    history = client.get(page_url).content.decode()
    assert "alignement sur l’année du successeur : oui" in history


def test_a_reader_of_the_merger_cannot_tick_the_alignment(client, merger):
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_merger"))
    client.force_login(reader)
    page_url = f"/admin/merger/merger/{merger.pk}/change/"

    answer = client.post(page_url, {"align_on_successor_year": "on", "reason": "Essai"})

    assert answer.status_code == 403
    merger.refresh_from_db()
    assert merger.align_on_successor_year is False
