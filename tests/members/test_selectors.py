"""The membership status, derived in one SQL annotation, at every date boundary."""

import datetime as dt

import pytest
import time_machine

from members.models import Cluster, Membership, MembershipStatus, Plan
from members.selectors import memberships_with_plan_and_paid_through, memberships_with_status
from tests.factories import MembershipFactory, TermFactory, cluster

pytestmark = pytest.mark.django_db

D = dt.date


def status_of(membership, on):
    return memberships_with_status(on=on).get(pk=membership.pk).status


@pytest.fixture
def paid_2025():
    return TermFactory(year=2025, is_paid=True, paid_on=D(2025, 1, 15)).membership


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2024, 12, 31), MembershipStatus.PENDING),  # nothing has started nor ended yet
        (D(2025, 1, 1), MembershipStatus.CURRENT),
        (D(2025, 12, 31), MembershipStatus.CURRENT),
        (D(2026, 1, 1), MembershipStatus.GRACE),
        (D(2026, 1, 30), MembershipStatus.GRACE),  # 30th day after the end: last day of grace
        (D(2026, 1, 31), MembershipStatus.LAPSED),
        (D(2030, 1, 1), MembershipStatus.LAPSED),
    ],
)
def test_paid_term_then_grace_then_lapsed(paid_2025, on, expected):
    assert status_of(paid_2025, on) == expected


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2025, 1, 1), MembershipStatus.PENDING),
        (D(2025, 12, 31), MembershipStatus.PENDING),
        (D(2026, 1, 1), MembershipStatus.LAPSED),  # never paid: no grace
    ],
)
def test_unpaid_term_is_pending_until_it_ends(on, expected):
    membership = TermFactory(year=2025, is_paid=False).membership
    assert status_of(membership, on) == expected


def test_unpaid_renewal_makes_a_member_pending_from_its_first_day(paid_2025):
    TermFactory(membership=paid_2025, year=2026, is_paid=False)
    assert status_of(paid_2025, D(2025, 12, 31)) == MembershipStatus.CURRENT
    assert status_of(paid_2025, D(2026, 1, 1)) == MembershipStatus.PENDING


def test_paid_renewal_keeps_a_member_current(paid_2025):
    TermFactory(membership=paid_2025, year=2026, is_paid=True)
    assert status_of(paid_2025, D(2026, 1, 1)) == MembershipStatus.CURRENT


def test_a_year_without_term_after_a_paid_one_is_lapsed_after_grace():
    membership = TermFactory(year=2023).membership
    TermFactory(membership=membership, year=2025, is_paid=False)
    assert status_of(membership, D(2024, 1, 30)) == MembershipStatus.GRACE
    assert status_of(membership, D(2024, 6, 1)) == MembershipStatus.LAPSED
    assert status_of(membership, D(2025, 6, 1)) == MembershipStatus.PENDING


def test_membership_without_terms_is_pending():
    assert status_of(MembershipFactory(), D(2025, 6, 1)) == MembershipStatus.PENDING


@pytest.mark.parametrize(
    ("on", "expected"),
    [(D(2025, 5, 31), MembershipStatus.CURRENT), (D(2025, 6, 1), MembershipStatus.CANCELLED)],
)
def test_cancelled_from_its_cancellation_date(paid_2025, on, expected):
    paid_2025.cancelled_on = D(2025, 6, 1)
    paid_2025.save()
    assert status_of(paid_2025, on) == expected


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (D(2025, 8, 31), MembershipStatus.CANCELLED),
        (D(2025, 9, 1), MembershipStatus.TRANSFERRED),
    ],
)
def test_transferred_from_its_transfer_date_and_above_cancelled(paid_2025, on, expected):
    paid_2025.cancelled_on = D(2025, 6, 1)
    paid_2025.transferred_on = D(2025, 9, 1)
    paid_2025.save()
    assert status_of(paid_2025, on) == expected


@pytest.mark.parametrize(
    ("grace_days", "on", "expected"),
    [
        (0, D(2026, 1, 1), MembershipStatus.LAPSED),
        (10, D(2026, 1, 10), MembershipStatus.GRACE),
        (10, D(2026, 1, 11), MembershipStatus.LAPSED),
        (90, D(2026, 3, 31), MembershipStatus.GRACE),
        (90, D(2026, 4, 1), MembershipStatus.LAPSED),
    ],
)
def test_grace_period_is_the_clusters(paid_2025, grace_days, on, expected):
    Cluster.objects.filter(pk=paid_2025.cluster_id).update(grace_days=grace_days)
    assert status_of(paid_2025, on) == expected


def test_each_cluster_applies_its_own_grace_in_one_query(django_assert_num_queries):
    Cluster.objects.filter(slug="frenchsouth").update(grace_days=60)
    toulouse = TermFactory(year=2025, membership__cluster=cluster("digitalplace")).membership
    montpellier = TermFactory(year=2025, membership__cluster=cluster("frenchsouth")).membership
    with django_assert_num_queries(1):
        statuses = dict(memberships_with_status(on=D(2026, 2, 15)).values_list("pk", "status"))
    assert statuses == {
        toulouse.pk: MembershipStatus.LAPSED,
        montpellier.pk: MembershipStatus.GRACE,
    }


def test_status_can_be_filtered_and_counted_in_sql():
    current = TermFactory(year=2025).membership
    pending = TermFactory(year=2025, is_paid=False).membership
    lapsed = TermFactory(year=2023).membership
    queryset = memberships_with_status(on=D(2025, 6, 1))
    assert list(queryset.filter(status=MembershipStatus.CURRENT)) == [current]
    assert list(queryset.filter(status=MembershipStatus.PENDING)) == [pending]
    assert list(queryset.filter(status=MembershipStatus.LAPSED)) == [lapsed]
    assert queryset.exclude(status=MembershipStatus.LAPSED).count() == 2


def test_selector_narrows_a_given_queryset(paid_2025):
    other = TermFactory(year=2025).membership
    queryset = memberships_with_status(
        on=D(2025, 6, 1), queryset=paid_2025.__class__.objects.filter(pk=other.pk)
    )
    assert [m.pk for m in queryset] == [other.pk]


@pytest.mark.parametrize(
    ("utc_instant", "expected"),
    [
        # 22:59 UTC on 31 December is still 2025 in Paris (UTC+1): the term covers it.
        (dt.datetime(2025, 12, 31, 22, 59, tzinfo=dt.UTC), MembershipStatus.CURRENT),
        # 23:00 UTC is midnight in Paris: 1 January 2026, first day of grace.
        (dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC), MembershipStatus.GRACE),
    ],
)
def test_default_date_is_today_in_paris(paid_2025, utc_instant, expected):
    with time_machine.travel(utc_instant, tick=False):
        assert memberships_with_status().get(pk=paid_2025.pk).status == expected


def test_the_lists_plan_is_the_latest_terms_and_paid_through_the_last_paid_end(paid_2025):
    pme = Plan.objects.get(cluster=paid_2025.cluster, name="PME")
    TermFactory(membership=paid_2025, year=2026, plan=pme, is_paid=False)
    never_paid = TermFactory(year=2026, is_paid=False).membership
    without_terms = MembershipFactory()

    rows = {
        row.pk: (row.plan_name, row.paid_through)
        for row in memberships_with_plan_and_paid_through(Membership.objects.all())
    }

    assert rows[paid_2025.pk] == ("PME", D(2025, 12, 31))
    assert rows[never_paid.pk] == (never_paid.terms.get().plan.name, None)
    assert rows[without_terms.pk] == (None, None)
