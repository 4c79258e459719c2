"""The merger reads no term cancelled by a credit note: a year paid to both clusters, one of
which cancelled it, was not paid twice; nor does a cancelled term count in the revenue."""

import datetime as dt

import pytest

from members.models import Plan, Term
from merger.models import TransferProposal
from merger.selectors import merger_report
from merger.services import proposals_refresh
from tests.factories import MembershipFactory, OrganisationFactory, TermFactory

pytestmark = pytest.mark.django_db

NEW_YEAR = dt.date(2027, 1, 1)


def test_a_cancelled_term_is_neither_paid_twice_nor_revenue(merger):
    organisation = OrganisationFactory()
    terms = {}
    for slug in ("digitalplace", "frenchsouth"):
        plan = Plan.objects.get(cluster__slug=slug, name="PME")
        membership = MembershipFactory(organisation=organisation, cluster=plan.cluster)
        TermFactory(membership=membership, plan=plan, fee=plan.annual_fee, year=2026)
        terms[slug] = TermFactory(membership=membership, plan=plan, fee=plan.annual_fee, year=2027)
    Term.objects.filter(pk=terms["frenchsouth"].pk).update(cancelled_on=dt.date(2026, 12, 20))
    proposals_refresh(merger=merger, as_of=NEW_YEAR)

    proposal = TransferProposal.objects.get(organisation=organisation)
    assert proposal.credit == 0
    assert proposal.members_of_both
    fee = terms["digitalplace"].fee
    report = merger_report(merger=merger, year=2027)
    assert sum(report.revenue_by_cluster.values()) == fee
