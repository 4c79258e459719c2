"""Sign-in of member contacts through allauth: a code by e-mail first, a password optionally.

The e-mails go through Django's SMTP backend to a real local SMTP server (``mailbox``); redirects
to the member area are asserted, not followed (its view belongs to the member area)."""

import re
from urllib.parse import urlparse

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.checks import run_checks
from django.test import Client
from django.urls import reverse
from django.utils import translation

from members.services.accounts import contact_login_ensure
from tests.factories import ContactFactory
from tests.test_settings import production_variables, read_settings

pytestmark = pytest.mark.django_db

LOGIN_URL = "/accounts/login/"
REQUEST_CODE_URL = "/accounts/login/code/"
CONFIRM_CODE_URL = "/accounts/login/code/confirm/"
AREA_URL = "/espace/"
CODE_SUBJECT = "Votre code de connexion à l’espace adhérent"
UNKNOWN_SUBJECT = "Connexion à l’espace adhérent : adresse inconnue"


def subject(message) -> str:
    # Django folds long encoded subjects; the parser keeps the folding space.
    return str(message["Subject"]).strip()


def code_in(text: str) -> str:
    """The sign-in code printed in an e-mail body (allauth's format: BCDF-GHJK)."""
    match = re.search(r"\b([B-Z]{4}-[B-Z]{4})\b", text)
    assert match, text
    return match.group(1)


def request_code(client, email: str, next_url: str | None = None):
    url = REQUEST_CODE_URL + (f"?next={next_url}" if next_url else "")
    return client.post(url, {"email": email})


def signed_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def test_the_sign_in_page_offers_the_code_first_and_the_password_second(client):
    response = client.get(LOGIN_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="site-header"' in html
    assert html.index("Recevoir un code de connexion") < html.index(
        "Se connecter avec un mot de passe"
    )
    assert f'action="{REQUEST_CODE_URL}"' in html
    assert '<label for="id_email">' in html
    assert '<label for="id_password">' in html


def test_a_contact_gets_a_code_by_email_and_signs_in(client, mailbox):
    first = ContactFactory(email="camille@exemple.fr", first_name="Camille", last_name="Durand")
    second = ContactFactory(email="camille@exemple.fr")  # contact of another organisation

    response = request_code(client, "Camille@Exemple.fr")

    assert response.status_code == 302
    assert response["Location"] == CONFIRM_CODE_URL
    [message] = mailbox.wait_for(1)
    assert message["X-Envelope-To"] == "camille@exemple.fr"
    assert subject(message) == CODE_SUBJECT
    text = mailbox.text(message)
    assert "valable 10 minutes" in text  # ACCOUNT_LOGIN_BY_CODE_TIMEOUT
    html = message.get_body(preferencelist=("html",)).get_content()
    assert '<html lang="fr">' in html
    code = code_in(text)
    assert code in html
    user = get_user_model().objects.get(username="camille@exemple.fr")
    assert (user.first_name, user.last_name) == ("Camille", "Durand")
    assert not user.has_usable_password()
    assert signed_in_user_id(client) is None

    page = client.get(CONFIRM_CODE_URL)
    assert page.status_code == 200
    assert "camille@exemple.fr" in page.content.decode()
    response = client.post(CONFIRM_CODE_URL, {"code": code.lower().replace("-", "")})

    assert response.status_code == 302
    assert response["Location"] == reverse("members:area") == AREA_URL
    assert signed_in_user_id(client) == str(user.pk)
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.primary, address.verified) == ("camille@exemple.fr", True, True)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.user == second.user == user


def test_a_second_sign_in_opens_no_second_account(client, mailbox):
    ContactFactory(email="camille@exemple.fr")
    for count in (1, 2):
        request_code(client, "camille@exemple.fr")
        code = code_in(mailbox.text(mailbox.wait_for(count)[-1]))
        assert client.post(CONFIRM_CODE_URL, {"code": code}).status_code == 302
        client.post("/accounts/logout/")

    assert get_user_model().objects.filter(email__iexact="camille@exemple.fr").count() == 1
    assert EmailAddress.objects.filter(email="camille@exemple.fr").count() == 1


def test_next_is_kept_through_the_code_confirmation(client, mailbox):
    ContactFactory(email="camille@exemple.fr")
    invoice_url = "/espace/factures/42/"

    page = client.get(f"{LOGIN_URL}?next={invoice_url}")
    assert f'action="{REQUEST_CODE_URL}?next=%2Fespace%2Ffactures%2F42%2F"' in page.content.decode()
    response = request_code(client, "camille@exemple.fr", next_url=invoice_url)

    assert urlparse(response["Location"]).path == CONFIRM_CODE_URL
    assert "next=%2Fespace%2Ffactures%2F42%2F" in response["Location"]
    confirm_page = client.get(response["Location"]).content.decode()
    assert f'name="next" value="{invoice_url}"' in confirm_page
    # "Demander un autre code" starts again from the sign-in page, still on the way to the invoice.
    assert f'name="next" value="{LOGIN_URL}?next=%2Fespace%2Ffactures%2F42%2F"' in confirm_page
    code = code_in(mailbox.text(mailbox.wait_for(1)[0]))
    response = client.post(response["Location"], {"code": code, "next": invoice_url})

    assert response.status_code == 302
    assert response["Location"] == invoice_url


def test_an_unknown_email_gets_the_same_page_and_no_account(client, mailbox):
    ContactFactory(email="camille@exemple.fr")

    known = request_code(client, "camille@exemple.fr")
    client.post("/accounts/logout/")
    unknown = request_code(client, "intrus@exemple.fr")

    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    page = client.get(unknown["Location"])
    assert page.status_code == 200
    assert "Saisissez le code reçu par e-mail" in page.content.decode()
    assert not get_user_model().objects.filter(email="intrus@exemple.fr").exists()
    assert not EmailAddress.objects.filter(email="intrus@exemple.fr").exists()
    mailbox.wait_for(2)
    [message] = mailbox.to("intrus@exemple.fr")
    assert subject(message) == UNKNOWN_SUBJECT
    text = mailbox.text(message)
    assert "aucun contact d’une entreprise adhérente" in text
    assert "/accounts/signup/" not in text
    assert not re.search(r"\b[B-Z]{4}-[B-Z]{4}\b", text)
    # No code was made for it: nothing that is typed signs anyone in.
    assert client.post(CONFIRM_CODE_URL, {"code": "BCDF-GHJK"}).status_code == 200
    assert signed_in_user_id(client) is None


def test_three_wrong_codes_end_the_flow(client, mailbox):
    ContactFactory(email="camille@exemple.fr")
    request_code(client, "camille@exemple.fr")
    code = code_in(mailbox.text(mailbox.wait_for(1)[0]))
    wrong = "BBBB-BBBB" if code != "BBBB-BBBB" else "CCCC-CCCC"

    first = client.post(CONFIRM_CODE_URL, {"code": wrong})
    second = client.post(CONFIRM_CODE_URL, {"code": wrong})
    third = client.post(CONFIRM_CODE_URL, {"code": wrong})

    assert first.status_code == second.status_code == 200
    assert 'aria-invalid="true"' in first.content.decode()
    assert 'role="alert"' in first.content.decode()
    assert third.status_code == 302
    assert third["Location"] == REQUEST_CODE_URL
    page = client.get(third["Location"])
    assert "Trop de tentatives infructueuses" in page.content.decode()
    # The code that was right is no use any more.
    after = client.post(CONFIRM_CODE_URL, {"code": code})
    assert after.status_code == 302
    assert after["Location"] == REQUEST_CODE_URL
    assert signed_in_user_id(client) is None


def test_english_page_and_mail_when_the_language_cookie_says_so(client, mailbox):
    ContactFactory(email="camille@exemple.fr")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(LOGIN_URL)
    request_code(client, "camille@exemple.fr")

    assert '<html lang="en">' in page.content.decode()
    [message] = mailbox.wait_for(1)
    assert '<html lang="en">' in message.get_body(preferencelist=("html",)).get_content()
    with translation.override("en"):
        assert subject(message) == translation.gettext(CODE_SUBJECT)


def test_password_sign_in_for_an_account_with_a_password_links_new_contacts(client):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact, password="un-Mot-de-passe-solide-7")
    added_later = ContactFactory(email="camille@exemple.fr")  # by a colleague, in another company

    wrong = client.post(LOGIN_URL, {"login": "camille@exemple.fr", "password": "pas-le-bon"})
    assert wrong.status_code == 200
    assert "open" in wrong.content.decode().split('id="mot-de-passe"')[1].split(">")[0]
    response = client.post(
        LOGIN_URL, {"login": "camille@exemple.fr", "password": "un-Mot-de-passe-solide-7"}
    )

    assert response.status_code == 302
    assert response["Location"] == AREA_URL
    assert signed_in_user_id(client) == str(user.pk)
    added_later.refresh_from_db()
    assert added_later.user == user


def test_the_email_from_the_renewal_link_is_prefilled(client):
    session = client.session
    session["members_login_email"] = "camille@exemple.fr"
    session.save()

    code_page = client.get(f"{REQUEST_CODE_URL}?next=/espace/adhesions/3/renouveler/")
    login_page = client.get(LOGIN_URL)

    code_html = code_page.content.decode()
    assert re.search(r'<input type="email" name="email" value="camille@exemple.fr"', code_html)
    assert 'name="next" value="/espace/adhesions/3/renouveler/"' in code_html
    login_html = login_page.content.decode()
    assert 'name="email" value="camille@exemple.fr"' in login_html
    assert 'name="login" value="camille@exemple.fr"' in login_html


def test_an_inactive_account_gets_no_code(client, mailbox):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact, password="un-Mot-de-passe-solide-7")
    user.is_active = False
    user.save()

    request_code(client, "camille@exemple.fr")

    [message] = mailbox.wait_for(1)
    assert subject(message) == UNKNOWN_SUBJECT
    assert client.post(CONFIRM_CODE_URL, {"code": "BCDF-GHJK"}).status_code == 200
    assert signed_in_user_id(client) is None
    assert get_user_model().objects.filter(email="camille@exemple.fr").count() == 1


def test_an_inactive_account_cannot_sign_in_with_its_password(client):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact, password="un-Mot-de-passe-solide-7")
    user.is_active = False
    user.save()

    response = client.post(
        LOGIN_URL, {"login": "camille@exemple.fr", "password": "un-Mot-de-passe-solide-7"}
    )

    assert signed_in_user_id(client) is None
    assert response.status_code == 302
    assert response["Location"] == "/accounts/inactive/"


def test_an_account_deactivated_while_its_code_is_pending_is_not_signed_in(client, mailbox):
    ContactFactory(email="camille@exemple.fr")
    request_code(client, "camille@exemple.fr")
    code = code_in(mailbox.text(mailbox.wait_for(1)[0]))
    get_user_model().objects.filter(username="camille@exemple.fr").update(is_active=False)

    response = client.post(CONFIRM_CODE_URL, {"code": code})

    assert signed_in_user_id(client) is None
    assert response.status_code == 302
    assert response["Location"] == "/accounts/inactive/"
    assert "Compte désactivé" in client.get(response["Location"]).content.decode()


def test_sign_out_goes_home(client):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/password/set/",
        "/accounts/email/",
        "/accounts/logout/",
        "/accounts/password/reset/",
    ],
)
def test_account_pages_have_the_site_look(client, url):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)

    response = client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="site-header"' in html
    assert 'value="en"' in html  # the language switch
    assert "<h1>" in html


def test_a_member_sets_a_password_then_changes_it(client):
    contact = ContactFactory(email="camille@exemple.fr")
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)

    assert client.get("/accounts/password/change/")["Location"] == "/accounts/password/set/"
    page = client.get("/accounts/password/set/").content.decode()
    assert 'aria-current="page"' in page
    response = client.post(
        "/accounts/password/set/",
        {"password1": "un-Mot-de-passe-solide-7", "password2": "un-Mot-de-passe-solide-7"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("un-Mot-de-passe-solide-7")
    assert client.get("/accounts/password/change/").status_code == 200


def _rate_limited_code_requests() -> list:
    cache.clear()
    ContactFactory(email="camille@exemple.fr")
    # A fresh browser each time: one with a code pending is sent back to the code page.
    return [request_code(Client(), "camille@exemple.fr") for _ in range(3)]


def _assert_third_request_blocked(responses) -> None:
    assert [r.status_code for r in responses] == [302, 302, 200]
    html = responses[2].content.decode()
    assert "Trop de demandes de code en peu de temps" in html
    assert 'role="alert"' in html
    assert len(mail.outbox) == 2


def test_rate_limit_blocks_the_third_code_request_on_local_memory(settings):
    settings.ACCOUNT_RATE_LIMITS = {"request_login_code": "2/m/ip"}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "sign-in-rate-limits",
        }
    }

    _assert_third_request_blocked(_rate_limited_code_requests())


@pytest.mark.redis
def test_rate_limit_blocks_the_third_code_request_on_redis(settings, redis_broker):
    broker = urlparse(redis_broker)
    settings.ACCOUNT_RATE_LIMITS = {"request_login_code": "2/m/ip"}
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{broker.hostname}:{broker.port or 6379}/13",
        }
    }

    try:
        _assert_third_request_blocked(_rate_limited_code_requests())
    finally:
        cache.clear()


def _cache_warnings() -> list[str]:
    return [
        message.id
        for message in run_checks(include_deployment_checks=True, tags=["caches"])
        if message.id == "members.W001"
    ]


def test_deploy_check_warns_when_the_cache_is_local_memory(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    assert _cache_warnings() == ["members.W001"]


def test_deploy_check_warns_when_the_cache_is_dummy(settings):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    assert _cache_warnings() == ["members.W001"]


def test_deploy_check_is_quiet_with_redis_or_in_development(settings):
    settings.DEBUG = False
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
        }
    }
    assert _cache_warnings() == []

    settings.DEBUG = True
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert _cache_warnings() == []


def test_too_many_password_attempts_get_a_page_in_the_site_s_look(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login": "1/m/ip"}
    cache.clear()
    for _attempt in range(2):
        response = client.post(
            reverse("account_login"), {"login": "x@example.org", "password": "faux-mot-2-passe"}
        )

    assert response.status_code == 429
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Trop de tentatives" in page
    cache.clear()


#: The reverse proxy's address, as the site sees it (REMOTE_ADDR).
PROXY = "10.0.0.2"


def request_code_through_the_proxy(client_address: str, email: str, *, forwarded: str = ""):
    """A code request from ``client_address`` as the site gets it through one TLS proxy, which
    adds the address it got the request from to the client's own X-Forwarded-For, if any."""
    browser = Client(
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"{forwarded}, {client_address}" if forwarded else client_address,
        HTTP_X_FORWARDED_PROTO="https",
    )
    return browser.post(REQUEST_CODE_URL, {"email": email})


def one_client_spends_its_code_requests(settings) -> list:
    """With allauth's own rate limits, as in production (20 code requests a minute per address),
    one client sends 21 code requests through the proxy, each for another address and each with
    another forged X-Forwarded-For of its own; then a second client asks for a code. The
    responses, the second client's last."""
    del settings.ACCOUNT_RATE_LIMITS
    cache.clear()
    responses = [
        request_code_through_the_proxy(
            "203.0.113.10", f"inconnu{n}@exemple.fr", forwarded=f"198.51.100.{n}"
        )
        for n in range(21)
    ]
    ContactFactory(email="camille@exemple.fr")
    return [*responses, request_code_through_the_proxy("203.0.113.99", "camille@exemple.fr")]


def _client_address_warnings() -> list[str]:
    return [
        message.id
        for message in run_checks(include_deployment_checks=True)
        if message.id == "members.W003"
    ]


def test_behind_a_proxy_code_requests_count_per_client_not_per_proxy(settings, tmp_path):
    # The settings of the documented production setup (behind one TLS proxy), read afresh from
    # its environment.
    production = read_settings(
        "SECURE_PROXY_SSL_HEADER", "ALLAUTH_TRUSTED_PROXY_COUNT", **production_variables(tmp_path)
    )
    settings.SECURE_PROXY_SSL_HEADER = tuple(production["SECURE_PROXY_SSL_HEADER"])
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = production["ALLAUTH_TRUSTED_PROXY_COUNT"]

    try:
        *first, other = one_client_spends_its_code_requests(settings)
    finally:
        cache.clear()

    # The first client is limited, whatever it forged: the proxy's entry is the one counted...
    assert [response.status_code for response in first] == [302] * 20 + [200]
    assert "Trop de demandes de code en peu de temps" in first[-1].content.decode()
    # ...and the other client is not.
    assert other.status_code == 302, other.content.decode()
    assert (mail.outbox[-1].to, mail.outbox[-1].subject) == (["camille@exemple.fr"], CODE_SUBJECT)
    assert _client_address_warnings() == []


def test_behind_a_proxy_trusting_no_forwarded_address_check_deploy_warns(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0

    try:
        *_first, other = one_client_spends_its_code_requests(settings)
    finally:
        cache.clear()

    # What the warning is about: the proxy's address is counted, one client blocks everyone.
    assert "Trop de demandes de code en peu de temps" in other.content.decode()
    assert _client_address_warnings() == ["members.W003"]
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = "X-Real-IP"
    assert _client_address_warnings() == []
    settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER = None
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    assert _client_address_warnings() == []
    # Not behind a proxy: REMOTE_ADDR is the client's address.
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    assert _client_address_warnings() == []


@pytest.mark.parametrize(
    ("seconds", "french", "english"),
    [
        (10 * 60, "valable 10 minutes", "valid for 10 minutes"),
        (5 * 60, "valable 5 minutes", "valid for 5 minutes"),
        (90, "valable 1 minute", "valid for 1 minute"),  # never more than it lasts
    ],
)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_code_page_and_its_e_mail_give_the_same_validity_from_the_setting(
    client, mailbox, settings, seconds, french, english, language
):
    settings.ACCOUNT_LOGIN_BY_CODE_TIMEOUT = seconds
    ContactFactory(email="camille@exemple.fr", language=language)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    expected = french if language == "fr" else english

    request_code(client, "camille@exemple.fr")
    page = client.get(CONFIRM_CODE_URL).content.decode()

    [message] = mailbox.wait_for(1)
    assert expected in mailbox.text(message)
    assert expected in " ".join(page.split())
    assert "quelques minutes" not in page and "few minutes" not in page
