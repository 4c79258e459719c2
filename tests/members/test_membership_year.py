"""The membership year of a cluster: on each member's anniversary, or a fixed year (the calendar
year, or one starting another day) where a new member's first term runs to the end of the year at
a prorated fee (by days, by months begun, or the full fee with the next year given after a
cut-off date) and renewals align on it."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from members.models import Cluster, ContactRole, Membership, Term
from members.services import contact_login_ensure
from members.services.renewals import membership_renew, renewal_period, renewal_term
from members.services.years import first_term, fixed_year_of
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
    staff_user,
)
from tests.html_forms import form_data
from tests.members.test_admin import membership_form

FEE = Decimal("365.00")


def fixed(proration: str = "days", *, start=(1, 1), cutoff=(None, None)) -> Cluster:
    """A cluster (unsaved: the rules read its settings only) on a fixed year starting on
    ``start`` (month, day)."""
    return Cluster(
        name="Cluster",
        slug="cluster",
        kind="source",
        membership_year="fixed",
        year_start_month=start[0],
        year_start_day=start[1],
        proration=proration,
        proration_cutoff_month=cutoff[0],
        proration_cutoff_day=cutoff[1],
    )


def term_of(cluster_, start: dt.date, fee: Decimal = FEE) -> tuple[dt.date, dt.date, Decimal]:
    term = first_term(cluster=cluster_, annual_fee=fee, start=start)
    return term.start, term.end, term.fee


# --- By days ---------------------------------------------------------------------------------


def test_joining_on_the_first_day_of_the_year_pays_the_full_fee():
    assert term_of(fixed(), dt.date(2027, 1, 1)) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 12, 31),
        FEE,
    )


def test_joining_on_the_last_day_of_the_year_pays_one_days_fee():
    assert term_of(fixed(), dt.date(2027, 12, 31), Decimal("730.00")) == (
        dt.date(2027, 12, 31),
        dt.date(2027, 12, 31),
        Decimal("2.00"),
    )


def test_a_leap_year_has_366_days_and_29_february_counts():
    # 29 February to 31 December 2028: 307 days of 366.
    start, end, fee = term_of(fixed(), dt.date(2028, 2, 29), Decimal("366.00"))
    assert (start, end, fee) == (dt.date(2028, 2, 29), dt.date(2028, 12, 31), Decimal("307.00"))
    assert term_of(fixed(), dt.date(2028, 1, 1), Decimal("366.00"))[2] == Decimal("366.00")
    assert term_of(fixed(), dt.date(2028, 12, 31), Decimal("366.00"))[2] == Decimal("1.00")


def test_a_fixed_year_starting_in_september_ends_the_next_august():
    september = fixed(start=(9, 1))
    assert fixed_year_of(cluster=september, day=dt.date(2027, 3, 10)) == (
        dt.date(2026, 9, 1),
        dt.date(2027, 8, 31),
    )
    # 1 March to 31 August 2028, in a year (1/9/2027–31/8/2028) of 366 days: 184 days.
    assert term_of(september, dt.date(2028, 3, 1), Decimal("366.00")) == (
        dt.date(2028, 3, 1),
        dt.date(2028, 8, 31),
        Decimal("184.00"),
    )


def test_fees_are_rounded_to_the_cent_half_up():
    # 100 € × 1 day / 365 = 0.27397… → 0.27; 0.06 € × 1 month / 12 = 0.005 → 0.01 (not 0.00).
    assert term_of(fixed(), dt.date(2027, 12, 31), Decimal("100.00"))[2] == Decimal("0.27")
    assert term_of(fixed("months"), dt.date(2027, 12, 15), Decimal("0.06"))[2] == Decimal("0.01")


# --- By months begun -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, months",
    [
        (dt.date(2027, 1, 1), 12),
        (dt.date(2027, 1, 31), 12),
        (dt.date(2027, 3, 1), 10),
        (dt.date(2027, 3, 2), 10),
        (dt.date(2027, 3, 31), 10),
        (dt.date(2027, 4, 1), 9),
        (dt.date(2027, 12, 31), 1),
    ],
)
def test_a_month_begun_counts_whole(start, months):
    assert term_of(fixed("months"), start, Decimal("1200.00")) == (
        start,
        dt.date(2027, 12, 31),
        Decimal(100 * months).quantize(Decimal("0.01")),
    )


def test_months_count_from_the_years_start_day():
    # A year starting on 15 September: 15 March to 14 April is its seventh month.
    mid = fixed("months", start=(9, 15))
    assert term_of(mid, dt.date(2028, 3, 14), Decimal("1200.00"))[2] == Decimal("700.00")
    assert term_of(mid, dt.date(2028, 3, 15), Decimal("1200.00"))[2] == Decimal("600.00")


# --- Full fee, the next year given after a cut-off date ---------------------------------------


@pytest.mark.parametrize(
    "start, end",
    [
        (dt.date(2027, 9, 30), dt.date(2027, 12, 31)),  # the day before: this year
        (dt.date(2027, 10, 1), dt.date(2028, 12, 31)),  # on the cut-off: to the end of next year
        (dt.date(2027, 10, 2), dt.date(2028, 12, 31)),  # the day after
        (dt.date(2027, 1, 1), dt.date(2027, 12, 31)),
    ],
)
def test_joining_after_the_cut_off_pays_the_full_fee_up_to_the_end_of_next_year(start, end):
    assert term_of(fixed("cutoff", cutoff=(10, 1)), start) == (start, end, FEE)


def test_the_cut_off_is_found_in_a_year_that_starts_in_september():
    # Year 1/9/2027 – 31/8/2028, cut-off 1 March: its cut-off is 1 March 2028.
    september = fixed("cutoff", start=(9, 1), cutoff=(3, 1))
    assert term_of(september, dt.date(2027, 12, 1))[1] == dt.date(2028, 8, 31)
    assert term_of(september, dt.date(2028, 2, 29))[1] == dt.date(2028, 8, 31)
    assert term_of(september, dt.date(2028, 3, 1))[1] == dt.date(2029, 8, 31)


# --- On the anniversary ----------------------------------------------------------------------


def test_on_the_anniversary_a_first_term_is_a_year_at_the_full_fee():
    anniversary = Cluster(membership_year="anniversary")
    assert term_of(anniversary, dt.date(2027, 3, 15)) == (
        dt.date(2027, 3, 15),
        dt.date(2028, 3, 14),
        FEE,
    )
    assert term_of(anniversary, dt.date(2028, 2, 29))[1] == dt.date(2029, 2, 27)


# --- The settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"year_start_month": 2, "year_start_day": 31}, "year_start_day", "n’existe pas"),
        ({"year_start_month": 2, "year_start_day": 29}, "year_start_day", "n’existe pas"),
        ({"proration": "cutoff"}, "proration_cutoff_day", "Indiquez"),
        (
            {"proration": "cutoff", "proration_cutoff_month": 4, "proration_cutoff_day": 31},
            "proration_cutoff_day",
            "n’existe pas",
        ),
        (
            {"proration": "cutoff", "proration_cutoff_month": 1, "proration_cutoff_day": 1},
            "proration_cutoff_day",
            "premier jour",
        ),
    ],
)
def test_impossible_settings_are_refused_by_field(fields, field, message):
    candidate = Cluster(name="C", slug="c", kind="source", membership_year="fixed", **fields)
    with pytest.raises(ValidationError) as error:
        candidate.clean()
    assert message in " ".join(error.value.message_dict[field])


@pytest.mark.django_db
def test_the_admin_refuses_31_february_with_a_form_error(client):
    superuser = staff_user()
    superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    digitalplace = cluster("digitalplace")
    url = f"/admin/members/cluster/{digitalplace.pk}/change/"
    page = client.get(url)
    data = form_data(page, id="cluster_form") | {
        "membership_year": "fixed",
        "year_start_month": "2",
        "year_start_day": "31",
        "proration": "days",
    }

    answer = client.post(url, data)

    assert answer.status_code == 200
    assert "Le 31/2 n’existe pas chaque année." in answer.content.decode()
    digitalplace.refresh_from_db()
    assert digitalplace.membership_year == "anniversary"

    data |= {"year_start_month": "1", "year_start_day": "1"}
    assert client.post(url, data).status_code == 302
    digitalplace.refresh_from_db()
    assert digitalplace.membership_year == "fixed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"year_start_month": 2, "year_start_day": 29},
        {"year_start_month": 4, "year_start_day": 31},
        {"year_start_month": 13},
        {"proration": "cutoff"},
        {"proration": "cutoff", "proration_cutoff_month": 2, "proration_cutoff_day": 30},
    ],
)
def test_the_database_refuses_a_day_that_does_not_exist_every_year(fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        Cluster.objects.filter(slug="digitalplace").update(**fields)


@pytest.mark.django_db
def test_staff_read_the_membership_year_but_do_not_change_it(client):
    client.force_login(staff_user())
    digitalplace = cluster("digitalplace")
    page = client.get(f"/admin/members/cluster/{digitalplace.pk}/change/")
    assert page.status_code == 200
    assert "membership_year" not in page.context["adminform"].form.fields
    assert "Année d’adhésion" in page.content.decode()


# --- Renewals align on the fixed year ------------------------------------------------------------


def previous(start: dt.date, end: dt.date) -> Term:
    return Term(start_date=start, end_date=end)


def test_a_renewal_after_a_term_ending_on_31_december_covers_the_next_calendar_year():
    after = previous(dt.date(2027, 1, 1), dt.date(2027, 12, 31))
    renewal = renewal_term(after=after, today=dt.date(2027, 12, 1), cluster=fixed(), annual_fee=FEE)
    assert (renewal.start, renewal.end, renewal.fee) == (
        dt.date(2028, 1, 1),
        dt.date(2028, 12, 31),
        FEE,
    )


def test_a_renewal_of_an_anniversary_term_is_brought_onto_the_fixed_year_prorated():
    after = previous(dt.date(2026, 7, 1), dt.date(2027, 6, 30))
    renewal = renewal_term(after=after, today=dt.date(2027, 6, 1), cluster=fixed(), annual_fee=FEE)
    # 1 July to 31 December 2027: 184 days of 365.
    assert (renewal.start, renewal.end, renewal.fee) == (
        dt.date(2027, 7, 1),
        dt.date(2027, 12, 31),
        Decimal("184.00"),
    )


def test_a_lapsed_membership_renews_for_the_whole_current_fixed_year_at_the_full_fee():
    after = previous(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    renewal = renewal_term(after=after, today=dt.date(2027, 3, 15), cluster=fixed(), annual_fee=FEE)
    assert (renewal.start, renewal.end, renewal.fee) == (
        dt.date(2027, 1, 1),
        dt.date(2027, 12, 31),
        FEE,
    )


def test_without_a_cluster_a_renewal_keeps_the_anniversary():
    after = previous(dt.date(2026, 7, 1), dt.date(2027, 6, 30))
    assert renewal_period(after=after, today=dt.date(2027, 6, 1)) == (
        dt.date(2027, 7, 1),
        dt.date(2028, 6, 30),
    )


@pytest.mark.django_db
def test_renewing_online_in_a_fixed_year_makes_an_aligned_prorated_term():
    Cluster.objects.filter(slug="digitalplace").update(membership_year="fixed")
    membership = MembershipFactory()
    after = TermFactory(
        membership=membership,
        start_date=dt.date(2026, 7, 1),
        end_date=dt.date(2027, 6, 30),
        fee=Decimal("365.00"),
    )
    plan = after.plan
    plan.annual_fee = Decimal("730.00")
    plan.save()

    renewal = membership_renew(
        membership=Membership.objects.get(pk=membership.pk),
        after=after,
        plan=plan,
        today=dt.date(2027, 6, 1),
    )

    assert (renewal.term.start_date, renewal.term.end_date, renewal.term.fee) == (
        dt.date(2027, 7, 1),
        dt.date(2027, 12, 31),
        Decimal("368.00"),
    )
    assert renewal.invoice.amount == Decimal("368.00")


# --- A new member's first term in the admin -------------------------------------------------------


@pytest.mark.django_db
def test_a_new_members_first_term_left_without_end_and_fee_is_prorated_in_the_admin(client):
    Cluster.objects.filter(slug="digitalplace").update(membership_year="fixed", proration="months")
    digitalplace = cluster("digitalplace")
    plan = digitalplace.plans.order_by("position").first()
    plan.annual_fee = Decimal("1200.00")
    plan.save()
    superuser = staff_user()
    superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    new = Membership(
        organisation=OrganisationFactory(), cluster=digitalplace, member_number="N-2027"
    )

    answer = client.post(
        "/admin/members/membership/add/",
        membership_form(
            new,
            terms=[{"plan": plan.pk, "start_date": "02/03/2027", "end_date": "", "fee": ""}],
        ),
    )

    assert answer.status_code == 302, answer.content.decode()[:3000]
    term = Term.objects.get(membership__member_number="N-2027")
    assert (term.start_date, term.end_date, term.fee) == (
        dt.date(2027, 3, 2),
        dt.date(2027, 12, 31),
        Decimal("1000.00"),
    )


@pytest.mark.django_db
def test_a_first_term_with_another_end_needs_its_fee_typed(client):
    Cluster.objects.filter(slug="digitalplace").update(membership_year="fixed")
    digitalplace = cluster("digitalplace")
    plan = digitalplace.plans.order_by("position").first()
    superuser = staff_user()
    superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)
    new = Membership(organisation=OrganisationFactory(), cluster=digitalplace, member_number="N-1")

    answer = client.post(
        "/admin/members/membership/add/",
        membership_form(
            new,
            terms=[
                {"plan": plan.pk, "start_date": "02/03/2027", "end_date": "30/06/2027", "fee": ""}
            ],
        ),
    )

    assert answer.status_code == 200
    assert "Indiquez la cotisation" in answer.content.decode()
    assert not Membership.objects.filter(member_number="N-1").exists()


@pytest.mark.django_db
def test_the_member_area_shows_the_aligned_period_and_prorated_fee_before_renewing(
    client, time_machine
):
    time_machine.move_to(dt.datetime(2027, 6, 1, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
    Cluster.objects.filter(slug="digitalplace").update(membership_year="fixed")
    membership = MembershipFactory()
    after = TermFactory(
        membership=membership, start_date=dt.date(2026, 7, 1), end_date=dt.date(2027, 6, 30)
    )
    after.plan.annual_fee = Decimal("730.00")
    after.plan.save()
    contact = ContactFactory(organisation=membership.organisation, role=ContactRole.PRIMARY)
    client.force_login(contact_login_ensure(contact=contact)[0])

    area = client.get("/espace/").content.decode()
    summary = client.get(
        f"/espace/adhesions/{membership.pk}/renouveler/confirmer/", {"plan": after.plan_id}
    ).content.decode()

    assert "31 décembre 2027" in area
    assert "368,00" in summary and "au prorata de 730,00" in summary
    assert "du 1er juillet 2027 au 31 décembre 2027" in summary
