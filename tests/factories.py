"""factory_boy factories of the domain, above the clusters and plans that ``migrate`` creates."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from stdnum import luhn

from members.models import Cluster, Contact, Membership, Organisation, Plan, Term
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE


def make_siret(n: int) -> str:
    """A valid SIRET (Luhn keys on the SIREN and the SIRET) derived from ``n``."""
    siren = f"{n % 10**8:08d}"
    siren += luhn.calc_check_digit(siren)
    base = siren + f"{n % 10**4:04d}"
    return base + luhn.calc_check_digit(base)


def cluster(slug: str = "digitalplace") -> Cluster:
    return Cluster.objects.get(slug=slug)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.org")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("motdepasse-de-test")


def staff_user(slug: str = "digitalplace"):
    """A user of the membership staff of the cluster ``slug``."""
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=MEMBERSHIP_STAFF))
    cluster(slug).staff.add(user)
    return user


def committee_user():
    """A user of the merger committee."""
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=MERGER_COMMITTEE))
    return user


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Entreprise {n}")
    siret = factory.Sequence(lambda n: make_siret(10_000_000 + n))
    siren = factory.LazyAttribute(lambda o: o.siret[:9])
    postcode = "31000"
    city = "Toulouse"
    headcount = 12


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    organisation = factory.SubFactory(OrganisationFactory)
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Martin{n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.org")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organisation = factory.SubFactory(OrganisationFactory)
    cluster = factory.LazyFunction(cluster)
    member_number = factory.Sequence(lambda n: f"M{n:05d}")
    member_since = dt.date(2020, 1, 1)


class TermFactory(factory.django.DjangoModelFactory):
    """A calendar-year term, paid unless told otherwise."""

    class Meta:
        model = Term

    class Params:
        year = 2025

    membership = factory.SubFactory(MembershipFactory)
    plan = factory.LazyAttribute(
        lambda t: Plan.objects.filter(cluster=t.membership.cluster).order_by("position").first()
    )
    start_date = factory.LazyAttribute(lambda t: dt.date(t.year, 1, 1))
    end_date = factory.LazyAttribute(lambda t: dt.date(t.year, 12, 31))
    fee = Decimal("300.00")
    is_paid = True
