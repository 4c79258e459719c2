"""Sign-in to the admin: allauth's rate limits and two-factor authentication, as on the member
site (cluster.admin_site).

The admin's login page keeps its look; what it does with the password is allauth's: failed
attempts are counted per account and per client address (allauth's "login_failed" limits), a
locked-out account gets the 429 page with the time it may try again, and a staff user with an
authenticator app is asked for its code before entering the admin. The codes are computed from
the secret as an authenticator app does (RFC 6238)."""

import base64
import datetime as dt
import hashlib
import hmac
import struct
import time
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.core.cache import cache

from members.roles import MEMBERSHIP_STAFF
from members.services.accounts import contact_login_ensure, staff_user_ensure
from tests.factories import ContactFactory, UserFactory, cluster

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
ADMIN_LOGIN = "/admin/login/"
STAFF_EMAIL = "personnel@digitalplace.example"
STAFF_PASSWORD = "mot-de-passe-du-personnel-7"
# A fixed secret, as allauth stores it (base32); each test's codes are computed from it.
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_code(secret: str, at: float | None = None) -> str:
    """The code that an authenticator app shows for ``secret`` at ``at`` (now by default):
    HMAC-SHA1 of the 30-second step, dynamically truncated to 6 digits (RFC 6238)."""
    step = int((time.time() if at is None else at) // 30)
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def admin_sign_in(client, username: str, password: str, *, next_url: str = "/admin/", **extra):
    return client.post(
        f"{ADMIN_LOGIN}?next={next_url}",
        {"username": username, "password": password, "next": next_url},
        **extra,
    )


def confirm_password(client, password: str, next_url: str):
    """allauth asks for the password again before two-factor authentication is turned on or off
    (its reauthentication, a few minutes' worth): give it."""
    response = client.get(next_url)
    assert response["Location"] == f"/accounts/reauthenticate/?next={quote(next_url, safe='')}"
    response = client.post(response["Location"], {"password": password})
    assert response["Location"] == next_url
    return response


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Forty attempts hash forty passwords: the default hasher would take seconds for each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rate_limits(settings):
    """allauth's own rate limits (tests/conftest.py turns them off), counted afresh."""
    del settings.ACCOUNT_RATE_LIMITS
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff():
    """DigitalPlace's membership staff, as in the demo."""
    user, _created = staff_user_ensure(
        email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        roles=[MEMBERSHIP_STAFF],
        clusters=[cluster("digitalplace")],
    )
    return user


def with_authenticator_app(user) -> None:
    """``user`` has turned on an authenticator app whose secret is :data:`SECRET`."""
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": SECRET})


# --- Rate limits ----------------------------------------------------------------------------------


def test_forty_wrong_passwords_lock_the_account_until_the_window_passes(client, staff, rate_limits):
    start = dt.datetime(2026, 3, 2, 14, 30, 10, tzinfo=PARIS)
    with time_machine.travel(start, tick=True) as clock:
        responses = [admin_sign_in(client, STAFF_EMAIL, f"faux-{n}") for n in range(40)]

        # allauth's "login_failed": 5 failures per account in 5 minutes, then a 429.
        assert [r.status_code for r in responses] == [200] * 5 + [429] * 35
        assert "compte autorisé" in responses[4].text
        page = responses[-1].text
        assert '<html lang="fr">' in page
        assert "Trop de tentatives" in page
        # The first failure was at 14:30:10: the account is free again after 14:35:10.
        assert "Vous pourrez réessayer à partir de <time" in page
        assert ">14:36</time>" in page
        assert f'href="{ADMIN_LOGIN}?next=/admin/"' in page

        # The right password does not get through a lock: that is the point of it.
        locked = admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD)
        assert locked.status_code == 429
        assert not signed_in(client)
        clock.move_to(start + dt.timedelta(minutes=4, seconds=50))
        assert admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 429

        clock.move_to(start + dt.timedelta(minutes=5, seconds=1))
        response = admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD)

        assert response.status_code == 302
        assert response["Location"] == "/admin/"
        assert signed_in(client)


def test_the_lock_is_per_account_whatever_the_login_typed(client, rate_limits):
    """The superuser signs in as ``admin`` or with its e-mail, in any case: one account, one
    counter, shared with the member site's sign-in."""
    staff_user_ensure(
        email="admin@demo.example", password=STAFF_PASSWORD, username="admin", is_superuser=True
    )
    for login in ("admin", "ADMIN@demo.example", "admin@demo.example", "admin"):
        assert admin_sign_in(client, login, "faux").status_code == 200
    assert (
        client.post(
            "/accounts/login/", {"login": "admin@demo.example", "password": "faux"}
        ).status_code
        == 200
    )

    assert admin_sign_in(client, "admin", STAFF_PASSWORD).status_code == 429
    assert admin_sign_in(client, "Admin@Demo.example", STAFF_PASSWORD).status_code == 429
    assert not signed_in(client)


def test_the_admin_login_counts_failures_per_client_address(client, staff, rate_limits):
    """Ten failures a minute from one address (allauth's "login_failed": 10/m/ip), whatever the
    accounts tried: the next attempt from there is refused, even for another account with its
    right password; another address is not."""
    for n in range(10):
        response = admin_sign_in(
            client, f"inconnu{n}@example.org", "faux", REMOTE_ADDR="203.0.113.7"
        )
        assert response.status_code == 200

    refused = admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD, REMOTE_ADDR="203.0.113.7")
    assert refused.status_code == 429
    assert "Vous pourrez réessayer à partir de" in refused.text
    assert not signed_in(client)

    other = admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD, REMOTE_ADDR="198.51.100.2")
    assert other.status_code == 302
    assert signed_in(client)


def test_behind_a_proxy_the_client_address_is_the_forwarded_one(
    client, staff, rate_limits, settings
):
    """With ALLAUTH_TRUSTED_PROXY_COUNT, the address counted is the client's as allauth computes
    it from X-Forwarded-For: one client locked out does not lock out everyone behind the proxy."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(10):
        admin_sign_in(
            client, f"inconnu{n}@example.org", "faux", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy
        )

    assert (
        admin_sign_in(
            client, STAFF_EMAIL, STAFF_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy
        ).status_code
        == 429
    )
    assert (
        admin_sign_in(
            client, STAFF_EMAIL, STAFF_PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy
        ).status_code
        == 302
    )


def test_the_lock_page_tells_the_time_in_english(client, staff, rate_limits):
    client.cookies["django_language"] = "en"
    with time_machine.travel(dt.datetime(2026, 3, 2, 14, 30, 10, tzinfo=PARIS), tick=True):
        for n in range(6):
            response = admin_sign_in(client, STAFF_EMAIL, f"faux-{n}")

    assert response.status_code == 429
    assert '<html lang="en">' in response.text
    assert "Too many attempts" in response.text
    assert "You can try again from <time" in response.text
    assert ">2:36 p.m.</time>" in response.text


def test_a_successful_sign_in_does_not_reset_the_count(client, staff, rate_limits):
    """allauth rolls back the attempt of a right password rather than wiping the count, so that
    an attacker who knows one password cannot interleave it to keep guessing another's."""
    for n in range(4):
        admin_sign_in(client, STAFF_EMAIL, f"faux-{n}")
    assert admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 302
    client.logout()

    assert admin_sign_in(client, STAFF_EMAIL, "faux-4").status_code == 200
    assert admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD).status_code == 429


def test_members_and_unknown_accounts_are_refused_as_before(client):
    contact = ContactFactory(email="camille@exemple.fr")
    contact_login_ensure(contact=contact, password=STAFF_PASSWORD)

    member = admin_sign_in(client, "camille@exemple.fr", STAFF_PASSWORD)
    unknown = admin_sign_in(client, "personne@exemple.fr", STAFF_PASSWORD)

    for response in (member, unknown):
        assert response.status_code == 200
        assert "compte autorisé" in response.text
    assert not signed_in(client)


# --- Two-factor authentication ----------------------------------------------------------------


def test_staff_with_an_authenticator_app_give_its_code_at_the_admin_login(client, staff):
    with_authenticator_app(staff)

    response = admin_sign_in(
        client, STAFF_EMAIL, STAFF_PASSWORD, next_url="/admin/members/membership/"
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert not signed_in(client)
    assert client.get("/admin/")["Location"].startswith(ADMIN_LOGIN)
    page = client.get("/accounts/2fa/authenticate/")
    assert page.status_code == 200
    assert "Authentification à deux facteurs" in page.text

    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert "Code incorrect" in wrong.text
    assert not signed_in(client)

    right = client.post("/accounts/2fa/authenticate/", {"code": totp_code(SECRET)})
    assert right.status_code == 302
    assert right["Location"] == "/admin/members/membership/"
    assert signed_in(client)
    assert client.get("/admin/members/membership/").status_code == 200


def test_staff_turn_on_two_factor_authentication_from_the_admin(client, staff, time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 2, 9, tzinfo=PARIS), tick=True)
    admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD)
    index = client.get("/admin/").text
    assert '<a href="/accounts/2fa/">Double authentification</a>' in index

    overview = client.get("/accounts/2fa/")
    assert "Application d'authentification" in overview.text
    confirm_password(client, STAFF_PASSWORD, "/accounts/2fa/totp/activate/")
    activation = client.get("/accounts/2fa/totp/activate/")
    assert activation.status_code == 200
    secret = activation.context["form"].secret
    assert f"secret={secret}" in activation.context["totp_url"]
    assert "issuer=Grand%20Cluster" in activation.context["totp_url"]
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.TOTP).exists()
    # allauth makes recovery codes with it, for a lost phone.
    assert Authenticator.objects.filter(user=staff, type=Authenticator.Type.RECOVERY_CODES).exists()
    client.logout()

    # From then on the admin login asks for the code; the one just used is spent.
    time_machine.shift(dt.timedelta(seconds=30))
    assert admin_sign_in(client, STAFF_EMAIL, STAFF_PASSWORD)["Location"] == (
        "/accounts/2fa/authenticate/"
    )
    assert not signed_in(client)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert signed_in(client)


def test_superusers_without_an_authenticator_app_are_sent_to_set_one_up(client, settings):
    settings.MFA_REQUIRED_FOR_SUPERUSERS = True
    superuser, _created = staff_user_ensure(
        email="admin@demo.example", password=STAFF_PASSWORD, username="admin", is_superuser=True
    )

    response = admin_sign_in(client, "admin", STAFF_PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)
    for path in ("/admin/", "/admin/members/membership/", "/admin/password_change/"):
        assert client.get(path)["Location"] == "/accounts/2fa/totp/activate/", path
    # allauth first asks for the password again, then shows the QR code, with our message.
    confirm_password(client, STAFF_PASSWORD, "/accounts/2fa/totp/activate/")
    activation = client.get("/accounts/2fa/totp/activate/")
    assert activation.status_code == 200
    assert "Les comptes superutilisateur doivent activer la double authentification" in (
        activation.text
    )
    # Signing out still works.
    assert client.post("/admin/logout/").status_code == 200

    with_authenticator_app(superuser)
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200


def test_a_superuser_cannot_turn_it_off_while_it_is_required(client, settings, time_machine):
    settings.MFA_REQUIRED_FOR_SUPERUSERS = True
    time_machine.move_to(dt.datetime(2026, 3, 2, 9, tzinfo=PARIS), tick=True)
    superuser, _created = staff_user_ensure(
        email="admin@demo.example", password=STAFF_PASSWORD, is_superuser=True
    )
    with_authenticator_app(superuser)
    admin_sign_in(client, "admin@demo.example", STAFF_PASSWORD)
    client.post("/accounts/2fa/authenticate/", {"code": totp_code(SECRET)})
    assert signed_in(client)

    confirm_password(client, STAFF_PASSWORD, "/accounts/2fa/totp/deactivate/")
    response = client.post("/accounts/2fa/totp/deactivate/")

    assert response.status_code == 200
    assert "Vous ne pouvez pas désactiver" in response.text
    assert Authenticator.objects.filter(user=superuser, type=Authenticator.Type.TOTP).exists()


def test_the_requirement_leaves_other_staff_and_the_setting_off_alone(client, settings, staff):
    superuser = UserFactory(is_staff=True, is_superuser=True)
    settings.MFA_REQUIRED_FOR_SUPERUSERS = True
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200

    settings.MFA_REQUIRED_FOR_SUPERUSERS = False
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200


def test_members_sign_in_as_before_when_the_requirement_is_on(client, settings):
    settings.MFA_REQUIRED_FOR_SUPERUSERS = True
    contact = ContactFactory(email="camille@exemple.fr")
    contact_login_ensure(contact=contact, password=STAFF_PASSWORD)

    response = client.post(
        "/accounts/login/", {"login": "camille@exemple.fr", "password": STAFF_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/espace/"
    assert signed_in(client)


def test_the_two_factor_pages_are_translated(client, staff):
    client.force_login(staff)
    assert "Authentification à deux facteurs" in client.get("/accounts/2fa/").text

    client.cookies["django_language"] = "en"
    assert "Two-Factor Authentication" in client.get("/accounts/2fa/").text
    assert '<a href="/accounts/2fa/">Two-factor authentication</a>' in client.get("/admin/").text


def test_favicon_ico_is_served_at_the_sites_root(client):
    # Browsers ask for it on every page that names no icon, the admin's included.
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")
