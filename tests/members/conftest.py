"""Fixtures of the domain's tests: the admin's users by role."""

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
