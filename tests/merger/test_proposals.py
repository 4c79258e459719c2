"""Transfer proposals: one per organisation holding a current, in-grace or pending source
membership, with its evidence (member since, paid through, credit, old numbers, flags); a
refresh after a postponement updates the undecided ones, keeps the decisions and flags those
whose facts moved since."""

import datetime as dt
from decimal import Decimal

import pytest

from members.models import Membership, Organisation, Plan, Term
from merger.models import Decision, PlanMapping, TransferDecision, TransferProposal
from merger.services import proposals_refresh, transfer_decide
from tests.factories import MembershipFactory, OrganisationFactory, TermFactory, cluster
from tests.samples import EXPECTED

from .conftest import SAMPLES_DAY, run, run_json

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def member_of(*slugs: str, organisation=None, year: int = 2026, **term):
    """An organisation member of the clusters ``slugs``, each with a paid term for ``year``."""
    organisation = organisation or OrganisationFactory()
    for slug in slugs:
        membership = MembershipFactory(organisation=organisation, cluster=cluster(slug))
        TermFactory(membership=membership, year=year, **term)
    return organisation


def test_one_proposal_per_organisation_of_the_sample_files(samples, merger):
    status, result = run_json("propose", "--as-of", SAMPLES_DAY)

    assert status == 0
    assert result["proposals"] == result["created"] == EXPECTED["organisations_after_both"]
    assert result["members_of_both"] == EXPECTED["members_of_both_same_siret"]
    assert result["updated"] == 0
    proposals = TransferProposal.objects.filter(merger=merger)
    assert set(proposals.values_list("organisation_id", flat=True)) == set(
        Organisation.objects.values_list("pk", flat=True)
    )
    assert result["flagged"] == len([p for p in proposals if p.flags])
    # Proposals of members of both: two source memberships, both old numbers.
    both = proposals.filter(members_of_both=True)
    assert both.count() == EXPECTED["members_of_both_same_siret"]
    for proposal in both:
        memberships = list(proposal.source_memberships.all())
        assert {m.cluster.slug for m in memberships} == {"digitalplace", "frenchsouth"}
        assert proposal.origin == "both"
        assert set(proposal.old_member_numbers.split(", ")) == {
            m.member_number for m in memberships
        }

    again = run_json("propose", "--as-of", SAMPLES_DAY)[1]
    assert again == {**result, "created": 0}


def test_each_proposal_carries_the_earliest_seniority_and_the_latest_paid_term(samples, merger):
    proposals_refresh(merger=merger, as_of=SAMPLES_DAY)

    for proposal in TransferProposal.objects.prefetch_related("source_memberships__terms"):
        memberships = proposal.source_memberships.all()
        assert proposal.member_since == min(m.member_since for m in memberships)
        paid_ends = [t.end_date for m in memberships for t in m.terms.all() if t.is_paid]
        assert proposal.paid_through == (max(paid_ends) if paid_ends else None)
        assert proposal.unpaid == any(not t.is_paid for m in memberships for t in m.terms.all())
        assert proposal.no_siret == (proposal.organisation.siret == "")


def test_the_text_output_says_the_counts(samples):
    status, out, _error = run("propose", "--as-of", SAMPLES_DAY)

    assert status == 0
    assert out.startswith("Propositions établies au 01/01/2017 : 64 en tout, 64 nouvelle(s)")


def test_members_who_lapsed_or_resigned_get_no_proposal(merger):
    current = member_of("digitalplace")
    lapsed = member_of("digitalplace", year=2024)
    resigned = member_of("frenchsouth")
    resigned.memberships.update(cancelled_on=dt.date(2026, 6, 30))
    waiting = OrganisationFactory()
    TermFactory(membership=MembershipFactory(organisation=waiting), year=2027, is_paid=False)

    proposals_refresh(merger=merger, as_of=NEW_YEAR)

    assert set(TransferProposal.objects.values_list("organisation_id", flat=True)) == {
        current.pk,
        waiting.pk,
    }
    assert TransferProposal.objects.get(organisation=waiting).unpaid
    assert not TransferProposal.objects.filter(organisation__in=[lapsed, resigned]).exists()


def test_the_credit_is_what_both_clusters_were_paid_for_the_same_days(merger):
    dp_plan = Plan.objects.get(cluster__slug="digitalplace", name="PME")
    fs_plan = Plan.objects.get(cluster__slug="frenchsouth", name="PME")
    organisation = OrganisationFactory()
    for plan in (dp_plan, fs_plan):
        TermFactory(
            membership=MembershipFactory(organisation=organisation, cluster=plan.cluster),
            plan=plan,
            fee=plan.annual_fee,
            year=2027,
        )

    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    proposal = TransferProposal.objects.get(organisation=organisation)
    # The whole year paid twice: the cheaper fee is the credit.
    assert proposal.credit == min(dp_plan.annual_fee, fs_plan.annual_fee)
    assert proposal.members_of_both

    # From 1 July on, only the days left of the year were paid twice.
    proposals_refresh(merger=merger, as_of=dt.date(2027, 7, 1))
    proposal.refresh_from_db()
    days_left = (dt.date(2027, 12, 31) - dt.date(2027, 7, 1)).days + 1
    assert proposal.credit == (fs_plan.annual_fee * days_left / 365).quantize(Decimal("0.01"))


def test_a_membership_paid_to_one_cluster_only_has_no_credit(merger):
    organisation = member_of("digitalplace", year=2027)
    TermFactory(
        membership=MembershipFactory(organisation=organisation, cluster=cluster("frenchsouth")),
        year=2027,
        is_paid=False,
    )

    proposals_refresh(merger=merger, as_of=NEW_YEAR)

    proposal = TransferProposal.objects.get(organisation=organisation)
    assert proposal.credit == 0
    assert proposal.unpaid
    assert proposal.paid_through == dt.date(2027, 12, 31)


def test_the_successor_plan_follows_the_mapping_and_an_unmapped_plan_is_flagged(merger):
    organisation = member_of("digitalplace")
    plan = organisation.memberships.get().terms.get().plan

    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    proposal = TransferProposal.objects.get(organisation=organisation)
    mapping = PlanMapping.objects.get(merger=merger, source_plan=plan)
    assert proposal.successor_plan == mapping.successor_plan
    assert proposal.successor_plan.category == plan.category
    assert not proposal.plan_unmapped

    mapping.successor_plan = None
    mapping.save()
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    proposal.refresh_from_db()
    assert proposal.successor_plan is None
    assert proposal.plan_unmapped
    assert "formule sans équivalent" in proposal.flags


def test_a_new_source_plan_is_mapped_by_its_category_at_the_next_refresh(merger):
    plan = Plan.objects.create(
        cluster=cluster("frenchsouth"), name="Start-up Nîmes", category="startup", annual_fee=99
    )

    proposals_refresh(merger=merger)

    mapping = PlanMapping.objects.get(merger=merger, source_plan=plan)
    assert mapping.successor_plan.cluster.slug == "grand-cluster"
    assert mapping.successor_plan.category == "startup"


def test_a_refresh_after_a_postponement_keeps_decisions_and_flags_changed_facts(merger, committee):
    approved = member_of("digitalplace")
    rejected = member_of("frenchsouth")
    undecided = member_of("digitalplace")
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    proposals = {p.organisation_id: p for p in TransferProposal.objects.all()}
    transfer_decide(
        proposal_ids=[proposals[approved.pk].pk],
        decision=Decision.APPROVED,
        by=committee,
        reason="OK",
    )
    transfer_decide(
        proposal_ids=[proposals[rejected.pk].pk],
        decision=Decision.REJECTED,
        by=committee,
        reason="Hors périmètre",
    )
    # The merger moves to 1 April; meanwhile two of them renew for 2027.
    for organisation in (approved, undecided):
        TermFactory(membership=organisation.memberships.get(), year=2027)

    status, result = run_json("propose", "--as-of", "2027-04-01")

    assert status == 0
    assert result["updated"] == 3  # the two renewed, and the one lapsed by April
    after = {p.organisation_id: p for p in TransferProposal.objects.all()}
    assert after[approved.pk].decision == Decision.APPROVED
    assert after[approved.pk].facts_changed
    assert after[approved.pk].paid_through == dt.date(2027, 12, 31)
    assert after[approved.pk].decided_facts["paid_through"] == "2026-12-31"
    assert after[undecided.pk].decision == Decision.PENDING
    assert not after[undecided.pk].facts_changed
    assert after[undecided.pk].paid_through == dt.date(2027, 12, 31)
    # Not renewed: lapsed by April, nothing to transfer any more, but its decision stays.
    assert after[rejected.pk].decision == Decision.REJECTED
    assert after[rejected.pk].facts_changed
    assert after[rejected.pk].source_memberships.count() == 0

    # Approving again on the new facts clears the flag.
    transfer_decide(
        proposal_ids=[after[approved.pk].pk],
        decision=Decision.APPROVED,
        by=committee,
        reason="Renouvelée pour 2027",
    )
    after[approved.pk].refresh_from_db()
    assert not after[approved.pk].facts_changed
    assert TransferDecision.objects.filter(proposal=after[approved.pk]).count() == 2


def test_an_undecided_proposal_with_nothing_left_to_transfer_is_removed(merger):
    organisation = member_of("digitalplace")
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    assert TransferProposal.objects.filter(organisation=organisation).exists()

    result = proposals_refresh(merger=merger, as_of=dt.date(2027, 6, 1))

    assert result.removed == 1
    assert not TransferProposal.objects.filter(organisation=organisation).exists()


def test_a_refresh_reads_a_constant_number_of_queries(merger, django_assert_max_num_queries):
    for _ in range(3):
        member_of("digitalplace")
    proposals_refresh(merger=merger, as_of=NEW_YEAR)
    for _ in range(30):
        member_of("digitalplace", "frenchsouth")
    Term.objects.filter(end_date__year=2026).update(fee=10)  # every proposal's facts stay

    with django_assert_max_num_queries(30):
        result = proposals_refresh(merger=merger, as_of=NEW_YEAR)
    assert result.created == 30
    assert Membership.objects.count() == 63


def test_an_invalid_date_is_refused_with_the_expected_format():
    status, _out, error = run("propose", "--as-of", "01/01/2027")

    assert status == 2
    assert "AAAA-MM-JJ" in error
