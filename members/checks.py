"""System checks of the members app (``manage.py check``)."""

import ipaddress
from urllib.parse import urlsplit

from allauth import app_settings as allauth_settings
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

# Caches that each process keeps to itself (or that keep nothing): allauth's sign-in rate limits
# count in the default cache, so with these each gunicorn worker counts on its own, and a
# restart forgets everything.
PROCESS_LOCAL_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def rate_limit_cache_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn, outside DEBUG, when the default cache is not shared between processes."""
    if settings.DEBUG:
        return []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    try:
        backend_class = import_string(backend)
    except ImportError:
        return []
    if not any(issubclass(backend_class, import_string(name)) for name in PROCESS_LOCAL_CACHES):
        return []
    return [
        checks.Warning(
            f"The default cache ({backend}) is not shared between processes: the sign-in rate "
            "limits (codes by e-mail, passwords) do not hold across gunicorn workers.",
            hint="Set CACHE_URL to a Redis server, e.g. CACHE_URL=redis://127.0.0.1:6379/1.",
            id="members.W001",
        )
    ]


def card_payment_webhook_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when card payment is on but Stripe's notifications cannot be received: a member who
    pays and closes the tab before coming back would never be recorded as paid."""
    if not settings.STRIPE_SECRET_KEY or settings.STRIPE_WEBHOOK_SECRET:
        return []
    return [
        checks.Warning(
            "Card payment is on (STRIPE_SECRET_KEY) but the Stripe webhook is off "
            "(STRIPE_WEBHOOK_SECRET is empty): payments of members who do not come back to the "
            "site after paying are never recorded.",
            hint="Register https://<site>/paiements/stripe/webhook/ in Stripe's dashboard and "
            "set STRIPE_WEBHOOK_SECRET to its signing secret.",
            id="members.W002",
        )
    ]


def client_address_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn when the site is behind a TLS proxy but takes no client address from it: the
    sign-in rate limits per address would then count every request against the proxy's
    address, and one client's requests would block every other client."""
    if not settings.SECURE_PROXY_SSL_HEADER:
        return []
    if allauth_settings.TRUSTED_PROXY_COUNT > 0 or allauth_settings.TRUSTED_CLIENT_IP_HEADER:
        return []
    return [
        checks.Warning(
            "The site is behind a TLS proxy (DJANGO_BEHIND_TLS_PROXY) but trusts no client "
            "address that it forwards (ALLAUTH_TRUSTED_PROXY_COUNT is 0): the sign-in rate "
            "limits per address count every request against the proxy's address, so that one "
            "client's requests block everyone's.",
            hint="Set ALLAUTH_TRUSTED_PROXY_COUNT to the number of reverse proxies in front of "
            "the site (1 for one nginx), each of which adds the address it received the request "
            "from to X-Forwarded-For.",
            id="members.W003",
        )
    ]


def site_url_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Warn, outside DEBUG, when ``SITE_URL`` is not an HTTPS address of another machine: the
    links of every e-mail sent outside a request (reminders, invoices, the merger's notices)
    are built on it, and would lead members nowhere (the default, ``http://localhost:8000``)
    or over plain HTTP."""
    if settings.DEBUG:
        return []
    problems = []
    try:
        url = urlsplit(settings.SITE_URL)
        scheme, host = url.scheme, url.hostname
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        problems.append("is not a valid URL")
    else:
        if scheme != "https":
            problems.append("is not an HTTPS address")
        if not host:
            problems.append("names no host")
        elif _is_loopback(host):
            problems.append("names this machine, not the site's public host")
    if not problems:
        return []
    return [
        checks.Warning(
            f"SITE_URL ({settings.SITE_URL!r}) {' and '.join(problems)}: the links in the "
            "e-mails sent to members (reminders, invoices, notices) are built on it.",
            hint="Set SITE_URL to the site's public address, e.g. "
            "SITE_URL=https://members.example.org.",
            id="members.W004",
        )
    ]


def _is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: localhost, 127.0.0.0/8, ::1, 0.0.0.0."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified
