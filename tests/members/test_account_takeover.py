"""The takeover of another organisation's member area through an e-mail address added to one's
own account, and its variants: an address that nobody verified never decides which account a
sign-in opens or whose contacts it links.

The attack, as it was made on the demo data: Laurent Roux (Ondine Vision) adds the address of
Louis Durand, primary contact of Agly Medtech who has never signed in, on allauth's e-mail page.
Louis later signs in by code; the code verified the address on Laurent's account, which then
saw and edited Agly Medtech. Every sign-in here goes through allauth's real views and a real
SMTP server."""

import importlib
import re

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils.http import int_to_base36

from members.models import ContactRole
from members.services.accounts import contact_login_ensure
from tests.factories import ContactFactory, MembershipFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

ATTACKER_EMAIL = "laurent.roux@ondine-vision.example"
ATTACKER_PASSWORD = "mot-de-passe-de-laurent"
VICTIM_EMAIL = "louis.durand@agly-medtech.example"


@pytest.fixture
def ondine():
    organisation = OrganisationFactory(name="Ondine Vision")
    MembershipFactory(organisation=organisation)
    return organisation


@pytest.fixture
def agly():
    organisation = OrganisationFactory(name="Agly Medtech")
    MembershipFactory(organisation=organisation)
    ContactFactory(
        organisation=organisation,
        email=VICTIM_EMAIL,
        first_name="Louis",
        last_name="Durand",
        role=ContactRole.PRIMARY,
    )
    return organisation


@pytest.fixture
def laurent(ondine, client):
    """Laurent's client, signed in with his password through allauth's sign-in page."""
    contact = ContactFactory(
        organisation=ondine,
        email=ATTACKER_EMAIL,
        first_name="Laurent",
        last_name="Roux",
        role=ContactRole.PRIMARY,
    )
    contact_login_ensure(contact=contact, password=ATTACKER_PASSWORD)
    response = client.post(
        "/accounts/login/", {"login": ATTACKER_EMAIL, "password": ATTACKER_PASSWORD}
    )
    assert response.status_code == 302
    return client


def attacker_account():
    return get_user_model().objects.get(username=ATTACKER_EMAIL)


def sign_in_by_code(email: str, mailbox) -> Client:
    """A new browser of the owner of ``email``, signed in with the code the e-mail brought."""
    client = Client()
    sent = len(mailbox.messages)
    assert client.post("/accounts/login/code/", {"email": email}).status_code == 302
    message = mailbox.wait_for(sent + 1)[-1]
    assert message["X-Envelope-To"] == email
    code = re.search(r"\b([B-Z]{4}-[B-Z]{4})\b", mailbox.text(message)).group(1)
    response = client.post("/accounts/login/code/confirm/", {"code": code})
    assert response.status_code == 302, response.content.decode()
    return client


def signed_in_user(client: Client):
    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def assert_no_takeover(laurent: Client, louis: Client, agly) -> None:
    """Louis is in his own account, with Agly Medtech; Laurent's area has nothing of it."""
    louis_account = signed_in_user(louis)
    assert louis_account != attacker_account()
    assert louis_account.username == VICTIM_EMAIL
    assert EmailAddress.objects.get(email=VICTIM_EMAIL, verified=True).user == louis_account
    assert "Agly Medtech" in louis.get("/espace/").content.decode()

    area = laurent.get("/espace/")
    assert area.status_code == 200
    assert "Ondine Vision" in area.content.decode()
    assert "Agly Medtech" not in area.content.decode()
    edit_url = reverse("members:organisation_edit", args=[agly.pk])
    assert laurent.get(edit_url).status_code == 404
    assert laurent.post(edit_url, {"city": "Perpignan"}).status_code == 404
    agly.refresh_from_db()
    assert agly.city == "Toulouse"
    assert not attacker_account().emailaddress_set.filter(email__iexact=VICTIM_EMAIL).exists()


ADDITIONS = {
    "add": {"action_add": "", "email": VICTIM_EMAIL},
    "add, upper case and spaces": {
        "action_add": "",
        "email": "  Louis.Durand@Agly-Medtech.EXAMPLE ",
    },
    "make primary": {"action_primary": "", "email": VICTIM_EMAIL},
    "add as primary": {"action_add": "", "email": VICTIM_EMAIL, "primary": "on"},
}


@pytest.mark.parametrize("victim_signed_in_before", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("posted", ADDITIONS.values(), ids=ADDITIONS.keys())
def test_a_member_cannot_add_another_persons_address_to_his_account(
    laurent, agly, mailbox, posted, victim_signed_in_before
):
    if victim_signed_in_before:
        sign_in_by_code(VICTIM_EMAIL, mailbox)
    sent = len(mailbox.messages)

    response = laurent.post("/accounts/email/", posted)

    assert response.status_code == 405
    assert "Les adresses de connexion ne se modifient pas depuis votre compte" in (
        response.content.decode()
    )
    assert list(attacker_account().emailaddress_set.values_list("email", flat=True)) == [
        ATTACKER_EMAIL
    ]
    assert attacker_account().email == ATTACKER_EMAIL
    assert len(mailbox.messages) == sent  # no "confirm this address" e-mail to Louis

    louis = sign_in_by_code(VICTIM_EMAIL, mailbox)

    assert_no_takeover(laurent, louis, agly)


def test_the_address_page_shows_the_sign_in_address_and_offers_no_change(laurent, ondine):
    page = laurent.get("/accounts/email/")

    assert page.status_code == 200
    html = page.content.decode()
    assert ATTACKER_EMAIL in html
    assert "Ondine Vision" in html
    # How the address changes: a primary contact adds the new one (members edit no address).
    assert (
        "demandez à un contact principal de votre organisation de vous ajouter aux contacts avec "
        "la nouvelle adresse" in " ".join(html.split())
    )
    assert "<form" not in html.split("<main", 1)[-1]
    assert 'name="action_add"' not in html


def claim(address_owner, email: str, *, primary: bool = False) -> EmailAddress:
    """An address claimed on ``address_owner``'s account as allauth's page allowed it before:
    unverified, and as its primary address if asked."""
    if primary:
        address_owner.emailaddress_set.update(primary=False)
        address_owner.email = email
        address_owner.save(update_fields=["email"])
    return EmailAddress.objects.create(user=address_owner, email=email, primary=primary)


@pytest.mark.parametrize("primary", [False, True], ids=["claimed", "claimed as primary"])
def test_an_address_claimed_before_decides_nothing_at_the_owners_first_sign_in(
    laurent, agly, mailbox, primary
):
    claim(attacker_account(), VICTIM_EMAIL, primary=primary)

    louis = sign_in_by_code(VICTIM_EMAIL, mailbox)

    assert_no_takeover(laurent, louis, agly)


def test_an_address_claimed_before_signs_nobody_in_with_the_claimants_password(laurent, agly):
    claim(attacker_account(), VICTIM_EMAIL)
    other_browser = Client()

    response = other_browser.post(
        "/accounts/login/", {"login": VICTIM_EMAIL, "password": ATTACKER_PASSWORD}
    )

    assert response.status_code == 200
    assert "_auth_user_id" not in other_browser.session


@pytest.mark.parametrize("victim_signed_in_before", [False, True], ids=["before", "after"])
def test_a_password_reset_goes_to_the_owners_account_never_the_claimants(
    laurent, agly, mailbox, victim_signed_in_before
):
    claim(attacker_account(), VICTIM_EMAIL)
    if victim_signed_in_before:
        sign_in_by_code(VICTIM_EMAIL, mailbox)
    sent = len(mailbox.messages)

    Client().post("/accounts/password/reset/", {"email": VICTIM_EMAIL})

    [message] = mailbox.wait_for(sent + 1)[sent:]
    text = mailbox.text(message)
    assert f"/accounts/password/reset/key/{int_to_base36(attacker_account().pk)}-" not in text
    if victim_signed_in_before:
        owner = get_user_model().objects.get(username=VICTIM_EMAIL)
        assert f"/accounts/password/reset/key/{int_to_base36(owner.pk)}-" in text
    else:
        assert "/accounts/password/reset/key/" not in text


def test_the_owner_clicking_the_confirmation_of_a_claim_does_not_verify_it(laurent, agly):
    address = claim(attacker_account(), VICTIM_EMAIL)
    key = EmailConfirmationHMAC(address).key
    louis_browser = Client()

    response = louis_browser.post(f"/accounts/confirm-email/{key}/", follow=True)

    address.refresh_from_db()
    assert not address.verified
    assert "ne peut pas être confirmée pour ce compte" in response.content.decode()
    assert "Agly Medtech" not in laurent.get("/espace/").content.decode()


def test_sign_up_stays_closed(client):
    ContactFactory(email=VICTIM_EMAIL)

    response = client.post(
        "/accounts/signup/",
        {"email": VICTIM_EMAIL, "password1": "un-mot-de-passe-long", "password2": ""},
    )

    assert "Pas d’inscription en ligne" in response.content.decode()
    assert not get_user_model().objects.filter(email__iexact=VICTIM_EMAIL).exists()


def test_the_migration_removes_the_claims_and_keeps_the_accounts_own_addresses(laurent, agly):
    laurent_account = attacker_account()
    claim(laurent_account, VICTIM_EMAIL, primary=True)
    other = get_user_model().objects.create(
        username="camille@exemple.fr", email="camille@exemple.fr"
    )
    own_unverified = EmailAddress.objects.create(user=other, email="camille@exemple.fr")
    migration = importlib.import_module("members.migrations.0009_unclaimed_email_addresses")

    migration.remove_claims(apps, None)

    assert not EmailAddress.objects.filter(email=VICTIM_EMAIL).exists()
    laurent_account.refresh_from_db()
    assert laurent_account.email == ATTACKER_EMAIL
    assert EmailAddress.objects.get(user=laurent_account).primary
    assert EmailAddress.objects.filter(pk=own_unverified.pk).exists()
