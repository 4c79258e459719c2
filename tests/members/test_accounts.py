"""Accounts: nobody opens one by themselves; a contact's opens when it asks for a sign-in code,
and each sign-in links the account to the contacts that share its verified addresses."""

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model

from members.services.accounts import (
    contact_account_open,
    contact_login_ensure,
    contacts_link_user,
)
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_is_closed(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "intrus@example.org", "password1": "x-Tr3s-long!", "password2": "x-Tr3s-long!"},
    )
    assert response.status_code == 200
    assert "signup_closed" in [t.name.split("/")[-1].split(".")[0] for t in response.templates]
    assert not get_user_model().objects.filter(email="intrus@example.org").exists()


def test_an_account_opens_for_a_contact_email_only():
    ContactFactory(email="camille@exemple.fr", first_name="Camille", last_name="Durand")

    user = contact_account_open(email=" Camille@Exemple.FR ")

    assert user.username == user.email == "camille@exemple.fr"
    assert (user.first_name, user.last_name) == ("Camille", "Durand")
    assert not user.has_usable_password()
    address = EmailAddress.objects.get(user=user)
    # Verified when the code sent to it is entered, not before.
    assert (address.email, address.primary, address.verified) == ("camille@exemple.fr", True, False)
    assert contact_account_open(email="intrus@exemple.fr") is None
    assert not get_user_model().objects.filter(email="intrus@exemple.fr").exists()


def test_opening_an_account_twice_returns_the_first():
    ContactFactory(email="camille@exemple.fr")
    ContactFactory(email="camille@exemple.fr")

    first = contact_account_open(email="camille@exemple.fr")
    second = contact_account_open(email="CAMILLE@exemple.fr")

    assert first == second
    assert get_user_model().objects.filter(email__iexact="camille@exemple.fr").count() == 1
    assert EmailAddress.objects.filter(email="camille@exemple.fr").count() == 1


def test_an_existing_account_with_the_email_is_returned_even_inactive():
    contact = ContactFactory(email="camille@exemple.fr")
    existing, _created = contact_login_ensure(contact=contact)
    existing.is_active = False
    existing.save()

    assert contact_account_open(email="camille@exemple.fr") == existing


def test_contacts_are_linked_through_verified_addresses_only():
    user = UserFactory(username="camille@exemple.fr")
    EmailAddress.objects.create(user=user, email="camille@exemple.fr", verified=True, primary=True)
    EmailAddress.objects.create(user=user, email="perso@exemple.fr", verified=False)
    former_account = UserFactory()
    first = ContactFactory(email="camille@exemple.fr")
    second = ContactFactory(email="camille@exemple.fr", user=former_account)
    unverified = ContactFactory(email="perso@exemple.fr")
    someone_else = ContactFactory(email="autre@exemple.fr")

    assert contacts_link_user(user=user) == 2
    assert contacts_link_user(user=user) == 0

    for contact in (first, second, unverified, someone_else):
        contact.refresh_from_db()
    assert first.user == second.user == user
    assert unverified.user is None
    assert someone_else.user is None
