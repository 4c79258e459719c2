"""Fixtures of the domain's tests: the admin's users by role."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.factories import UserFactory, committee_user, staff_user


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def dp_staff():
    """A user of DigitalPlace's membership staff."""
    return staff_user("digitalplace")


@pytest.fixture
def committee():
    """A user of the merger committee."""
    return committee_user()


@pytest.fixture
def after_the_invoices(time_machine):
    """The clock in April 2027, ticking: the tests' invoices are issued on 1 March 2027 and paid
    in March, and a payment cannot be received in the future."""
    time_machine.move_to(dt.datetime(2027, 4, 1, 12, tzinfo=ZoneInfo("Europe/Paris")), tick=True)
