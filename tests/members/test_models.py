"""The domain's rules hold in the database itself, not only in forms."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from members.models import Contact, Membership, Organisation, Plan, Term
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
    make_siret,
)

pytestmark = pytest.mark.django_db


def refused_by_database(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


def test_siret_is_unique_when_present():
    siret = make_siret(42)
    OrganisationFactory(siret=siret, siren=siret[:9])
    refused_by_database(lambda: OrganisationFactory(siret=siret, siren=siret[:9]))


def test_organisations_without_siret_may_be_many():
    OrganisationFactory(siret="", siren="")
    OrganisationFactory(siret="", siren="")
    assert Organisation.objects.filter(siret="").count() == 2


@pytest.mark.parametrize("siret", ["1234567890123", "1234567890123a", "ABCDEFGHIJKLMN"])
def test_database_refuses_a_siret_that_is_not_14_digits(siret):
    refused_by_database(lambda: OrganisationFactory(siret=siret, siren=siret[:9]))


def test_database_refuses_a_siren_that_is_not_the_siret_prefix():
    siret = make_siret(7)
    other = make_siret(8)[:9]
    refused_by_database(lambda: OrganisationFactory(siret=siret, siren=other))


def test_siret_with_a_wrong_key_is_refused_by_validation_in_french():
    siret = make_siret(5)
    wrong = siret[:-1] + str((int(siret[-1]) + 1) % 10)
    organisation = Organisation(name="Clé fausse", siret=wrong)
    with pytest.raises(ValidationError) as excinfo:
        organisation.full_clean()
    assert "clé de contrôle" in str(excinfo.value.message_dict["siret"])


def test_clean_derives_the_siren_from_the_siret():
    siret = make_siret(9)
    organisation = Organisation(name="Dérivée", siret=siret)
    organisation.full_clean()
    assert organisation.siren == siret[:9]


def test_postcode_is_five_digits_in_the_database():
    refused_by_database(lambda: OrganisationFactory(postcode="9100"))


def test_one_membership_per_organisation_and_cluster():
    membership = MembershipFactory()
    refused_by_database(
        lambda: MembershipFactory(organisation=membership.organisation, cluster=membership.cluster)
    )


def test_same_organisation_may_be_member_of_both_clusters():
    membership = MembershipFactory(cluster=cluster("digitalplace"))
    MembershipFactory(organisation=membership.organisation, cluster=cluster("frenchsouth"))
    assert membership.organisation.memberships.count() == 2


def test_member_number_is_unique_per_cluster_only():
    MembershipFactory(cluster=cluster("digitalplace"), member_number="0042")
    MembershipFactory(cluster=cluster("frenchsouth"), member_number="0042")
    refused_by_database(
        lambda: MembershipFactory(cluster=cluster("digitalplace"), member_number="0042")
    )


def test_member_number_is_required():
    refused_by_database(lambda: MembershipFactory(member_number=""))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2025, 12, 31), dt.date(2026, 12, 30)),  # shares the last day
        (dt.date(2025, 3, 1), dt.date(2025, 4, 1)),  # inside
        (dt.date(2024, 6, 1), dt.date(2026, 6, 1)),  # around
        (dt.date(2024, 6, 1), dt.date(2025, 1, 1)),  # shares the first day
    ],
)
def test_database_refuses_overlapping_terms(start, end):
    term = TermFactory(year=2025)
    refused_by_database(
        lambda: TermFactory(membership=term.membership, start_date=start, end_date=end)
    )


def test_database_refuses_moving_a_term_onto_another():
    term = TermFactory(year=2025)
    later = TermFactory(membership=term.membership, year=2026)
    later.start_date = dt.date(2025, 12, 1)
    refused_by_database(later.save)


def test_consecutive_terms_and_terms_of_other_memberships_are_accepted():
    term = TermFactory(year=2025)
    TermFactory(membership=term.membership, year=2026)
    TermFactory(year=2025)
    assert Term.objects.count() == 3


def test_overlap_is_reported_in_french_by_validation():
    term = TermFactory(year=2025)
    clash = Term(
        membership=term.membership,
        plan=term.plan,
        start_date=dt.date(2025, 6, 1),
        end_date=dt.date(2026, 5, 31),
        fee=Decimal("300"),
    )
    with pytest.raises(ValidationError) as excinfo:
        clash.full_clean()
    assert "chevauche" in str(excinfo.value)


def test_term_ends_after_it_starts():
    refused_by_database(
        lambda: TermFactory(start_date=dt.date(2025, 2, 1), end_date=dt.date(2025, 1, 31))
    )


def test_fees_are_never_negative():
    refused_by_database(lambda: TermFactory(fee=Decimal("-0.01")))
    plan = Plan.objects.filter(cluster__slug="digitalplace").first()
    plan.annual_fee = Decimal("-1")
    refused_by_database(plan.save)


def test_fees_are_exact_decimals_in_euros():
    term = TermFactory(fee=Decimal("1200.10"))
    term.refresh_from_db()
    assert term.fee == Decimal("1200.10")
    assert isinstance(term.fee, Decimal)


def test_term_plan_must_belong_to_the_membership_cluster():
    membership = MembershipFactory(cluster=cluster("digitalplace"))
    foreign_plan = Plan.objects.filter(cluster__slug="frenchsouth").first()
    term = Term(
        membership=membership,
        plan=foreign_plan,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 12, 31),
        fee=Decimal("250"),
    )
    with pytest.raises(ValidationError) as excinfo:
        term.full_clean()
    assert "plan" in excinfo.value.message_dict


def test_contact_email_unique_per_organisation_and_stored_lower_case():
    contact = ContactFactory(email="camille@example.org")
    refused_by_database(
        lambda: ContactFactory(organisation=contact.organisation, email="camille@example.org")
    )
    refused_by_database(lambda: ContactFactory(email="Camille@Example.org"))
    # The same person may be a contact of another organisation.
    ContactFactory(email="camille@example.org")


def test_contact_clean_lower_cases_email_and_formats_phone():
    organisation = OrganisationFactory()
    contact = Contact(
        organisation=organisation, email="Jean.Dupont@Example.FR", phone="05 61 00 00 00"
    )
    contact.full_clean()
    assert contact.email == "jean.dupont@example.fr"
    assert contact.phone == "+33561000000"


def test_a_phone_that_does_not_parse_is_kept_as_written():
    contact = Contact(organisation=OrganisationFactory(), email="a@b.fr", phone="poste 12")
    contact.full_clean()
    assert contact.phone == "poste 12"


def test_deleting_an_organisation_with_memberships_is_refused():
    membership = MembershipFactory()
    with pytest.raises(Exception, match="protected"):
        membership.organisation.delete()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_the_invoiceable_terms_are_the_same_in_a_query_and_in_memory():
    # The member area decides on prefetched terms, the invoice view with a query: one rule.
    membership = MembershipFactory()
    for year, fee, is_paid in [
        (2021, Decimal("250.00"), False),
        (2022, Decimal("250.00"), True),
        (2023, Decimal("0.00"), False),
        (2024, Decimal("0.00"), True),
    ]:
        TermFactory(membership=membership, year=year, fee=fee, is_paid=is_paid)
    terms = Term.objects.filter(membership=membership)

    in_query = set(terms.filter(Term.invoiceable()).values_list("start_date__year", flat=True))
    in_memory = {term.start_date.year for term in terms if term.is_invoiceable()}

    assert in_query == in_memory == {2021}
