"""Executing the merger: each approved proposal becomes one successor membership that keeps the
earliest member-since and the latest paid-through; the source memberships are marked
transferred; old member numbers stay findable; a second run creates nothing; a dry run writes
nothing and shows the successor as it would be."""

import datetime as dt
from decimal import Decimal

import pytest

from members.models import Membership, MembershipStatus, Plan, Term
from members.selectors import memberships_with_status
from merger.models import Decision, Merger, MergerEvent, TransferProposal
from merger.services import merger_execute, proposals_refresh, transfer_decide
from tests.factories import MembershipFactory, OrganisationFactory, TermFactory, cluster

from .conftest import SAMPLES_DAY, run, run_json, schedule

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def approve_all(committee):
    transfer_decide(
        proposal_ids=TransferProposal.objects.values_list("pk", flat=True),
        decision=Decision.APPROVED,
        by=committee,
        reason="Validé par le comité du 15 décembre",
    )


def successor_memberships():
    return Membership.objects.filter(cluster__slug="grand-cluster")


def test_executing_the_sample_files_makes_one_successor_membership_per_organisation(
    samples, merger, committee
):
    schedule(merger, SAMPLES_DAY)
    proposals_refresh(merger=merger)
    approve_all(committee)
    sources = {
        organisation_id: list(Membership.objects.filter(organisation_id=organisation_id))
        for organisation_id in TransferProposal.objects.values_list("organisation_id", flat=True)
    }

    status, result = run_json("execute")

    assert status == 0
    assert result == {"executed": len(sources), "skipped": 0, "failed": []}
    for organisation_id, memberships in sources.items():
        successor = successor_memberships().get(organisation_id=organisation_id)
        assert successor.member_since == min(m.member_since for m in memberships)
        paid_ends = [
            t.end_date for t in Term.objects.filter(membership__in=memberships, is_paid=True)
        ]
        term = successor.terms.get()
        assert term.start_date == SAMPLES_DAY
        if paid_ends:
            assert term.end_date == max(paid_ends) and term.is_paid and term.fee == 0
        else:
            assert not term.is_paid
        for membership in memberships:
            membership.refresh_from_db()
            assert membership.transferred_on == SAMPLES_DAY
            assert membership.transferred_to == successor
    numbers = list(successor_memberships().values_list("member_number", flat=True))
    assert len(set(numbers)) == len(numbers) and all(n.startswith("GC-") for n in numbers)
    merger.refresh_from_db()
    assert merger.status == Merger.Status.EFFECTIVE
    assert merger.effective_date == SAMPLES_DAY
    assert not TransferProposal.objects.exclude(decision=Decision.EXECUTED).exists()
    statuses = memberships_with_status(on=SAMPLES_DAY).filter(
        cluster__slug__in=["digitalplace", "frenchsouth"]
    )
    assert set(statuses.values_list("status", flat=True)) == {MembershipStatus.TRANSFERRED}

    # A second run creates nothing.
    counts = (Membership.objects.count(), Term.objects.count())
    status, again = run_json("execute")
    assert status == 0
    assert again == {"executed": 0, "skipped": len(sources), "failed": []}
    assert (Membership.objects.count(), Term.objects.count()) == counts


def test_a_dry_run_shows_the_successor_and_writes_nothing(samples, merger, committee):
    schedule(merger, SAMPLES_DAY)
    proposals_refresh(merger=merger)
    approve_all(committee)
    counts = (Membership.objects.count(), Term.objects.count())

    status, out, _error = run("execute", "--dry-run")
    dry = merger_execute(merger=merger, dry_run=True)

    assert status == 0
    assert out.startswith(f"Simulation au 01/01/2017 : {len(dry.executed)} adhésion(s)")
    assert "GC-0001" in out
    assert (Membership.objects.count(), Term.objects.count()) == counts
    assert not TransferProposal.objects.filter(decision=Decision.EXECUTED).exists()
    merger.refresh_from_db()
    assert merger.status == Merger.Status.SCHEDULED and merger.last_member_number == 0

    done = merger_execute(merger=merger)
    made = {
        m.organisation_id: (m.member_number, m.member_since, m.terms.get().end_date)
        for m in successor_memberships().prefetch_related("terms")
    }
    assert {
        row.organisation_id: (row.member_number, row.member_since, row.end_date)
        for row in dry.executed
    } == made
    assert len(done.executed) == len(dry.executed)


def test_the_execution_needs_a_fixed_date(merger, committee):
    status, _out, error = run("execute")

    assert status == 2
    assert "date arrêtée" in error
    assert not successor_memberships().exists()


def test_a_member_in_grace_starts_its_first_successor_year_to_pay(merger, committee):
    organisation = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=organisation), year=2026)
    schedule(merger, dt.date(2027, 1, 15))  # in grace on that day
    proposals_refresh(merger=merger)
    approve_all(committee)

    merger_execute(merger=merger)

    term = successor_memberships().get(organisation=organisation).terms.get()
    plan = TransferProposal.objects.get(organisation=organisation).successor_plan
    assert (term.start_date, term.end_date, term.is_paid) == (
        dt.date(2027, 1, 15),
        dt.date(2027, 12, 31),
        False,
    )
    days = (dt.date(2027, 12, 31) - dt.date(2027, 1, 15)).days + 1
    assert term.fee == (plan.annual_fee * days / 365).quantize(Decimal("0.01"))
    assert term.plan == plan


def test_a_proposal_whose_facts_changed_since_its_approval_is_held_back(merger, committee):
    renewed = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=renewed), year=2026)
    other = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=other), year=2027)
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    approve_all(committee)
    TermFactory(membership=renewed.memberships.get(), year=2027)  # renewed after the approval

    status, result = run_json("execute")

    assert status == 1
    assert result["executed"] == 1
    [failure] = result["failed"]
    assert failure["organisation"] == renewed.pk
    assert "payée jusqu’au" in failure["message"] and "approuvez-la à nouveau" in failure["message"]
    proposal = TransferProposal.objects.get(organisation=renewed)
    assert proposal.facts_changed and proposal.decision == Decision.APPROVED
    assert not successor_memberships().filter(organisation=renewed).exists()

    transfer_decide(
        proposal_ids=[proposal.pk], decision=Decision.APPROVED, by=committee, reason="Revu"
    )
    assert run_json("execute")[1] == {"executed": 1, "skipped": 1, "failed": []}
    term = successor_memberships().get(organisation=renewed).terms.get()
    assert term.end_date == dt.date(2027, 12, 31) and term.is_paid


def test_an_organisation_already_member_of_the_successor_fails_alone(merger, committee):
    first, second = OrganisationFactory(), OrganisationFactory()
    for organisation in (first, second):
        TermFactory(membership=MembershipFactory(organisation=organisation), year=2027)
    MembershipFactory(organisation=second, cluster=cluster("grand-cluster"), member_number="X1")
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    approve_all(committee)

    result = merger_execute(merger=merger)

    assert [row.organisation_id for row in result.executed] == [first.pk]
    assert [f.organisation_id for f in result.failed] == [second.pk]
    assert "déjà adhérente du successeur (n° X1)" in str(result.failed[0].message)
    assert not Membership.objects.filter(organisation=second, transferred_on__isnull=False).exists()


def test_rejected_and_undecided_proposals_are_not_executed(merger, committee):
    organisations = [OrganisationFactory() for _ in range(3)]
    for organisation in organisations:
        TermFactory(membership=MembershipFactory(organisation=organisation), year=2027)
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    proposals = [TransferProposal.objects.get(organisation=o) for o in organisations]
    for proposal, decision in zip(proposals, [Decision.APPROVED, Decision.REJECTED], strict=False):
        transfer_decide(proposal_ids=[proposal.pk], decision=decision, by=committee, reason="…")

    merger_execute(merger=merger)

    assert list(successor_memberships().values_list("organisation", flat=True)) == [
        organisations[0].pk
    ]
    assert MergerEvent.objects.filter(merger=merger, kind="executed").count() == 1


def test_members_of_both_keep_the_longest_period_and_note_their_credit(merger, committee):
    organisation = OrganisationFactory()
    dp = MembershipFactory(
        organisation=organisation, cluster=cluster("digitalplace"), member_since=dt.date(2015, 3, 1)
    )
    fs = MembershipFactory(
        organisation=organisation, cluster=cluster("frenchsouth"), member_since=dt.date(2011, 9, 1)
    )
    fs_plan = Plan.objects.filter(cluster__slug="frenchsouth").order_by("position").first()
    TermFactory(membership=dp, year=2027, fee=Decimal("300.00"))
    TermFactory(
        membership=fs,
        plan=fs_plan,
        start_date=dt.date(2027, 1, 1),
        end_date=dt.date(2028, 6, 30),
        fee=Decimal("375.00"),
    )
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    approve_all(committee)

    merger_execute(merger=merger)

    successor = successor_memberships().get(organisation=organisation)
    assert successor.member_since == dt.date(2011, 9, 1)
    term = successor.terms.get()
    assert (term.start_date, term.end_date, term.is_paid) == (NEW_YEAR, dt.date(2028, 6, 30), True)
    proposal = TransferProposal.objects.get(organisation=organisation)
    assert proposal.credit > 0
    assert f"{proposal.credit}".replace(".", ",") in successor.notes
    assert dp.member_number in successor.notes and fs.member_number in successor.notes


def test_old_member_numbers_find_the_successor_membership_in_the_admin(client, merger, committee):
    organisation = OrganisationFactory()
    source = MembershipFactory(organisation=organisation, member_number="DP-0042")
    TermFactory(membership=source, year=2027)
    schedule(merger, NEW_YEAR)
    proposals_refresh(merger=merger)
    approve_all(committee)
    merger_execute(merger=merger)
    successor = successor_memberships().get()
    client.force_login(committee)

    response = client.get("/admin/members/membership/", {"q": "DP-0042"})

    assert response.status_code == 200
    assert f"/admin/members/membership/{successor.pk}/change/" in response.text
    page = client.get(f"/admin/members/membership/{successor.pk}/change/")
    assert "DP-0042" in page.text
