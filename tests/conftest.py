"""Shared fixtures. Tests that need a real server (PostgreSQL, Redis) ask for ``postgresql`` or
``redis_broker``: without the server they are skipped with the reason, except under ``CI``, where
they fail, so that CI can never pass without running them. Browser tests ask for ``page`` (with
pytest-django's ``live_server``): Debian's Chromium driven by Playwright, skipped (failed under
``CI``) likewise when it is absent."""

import asyncio
import email
import email.policy
import os
import socket
import threading
import time
from email.message import EmailMessage
from urllib.parse import urlparse

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection, connections
from django.utils import translation
from playwright.sync_api import sync_playwright

from cluster.celery import app as celery_app


def _server_missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so tests that need this server must run.")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # allauth keeps rate-limit state in the cache between tests otherwise (allauth #3893).
    settings.ACCOUNT_RATE_LIMITS = False


@pytest.fixture(autouse=True)
def _each_test_starts_in_french():
    # Django's test client leaves the language of the last response it got active in the test's
    # thread: a test reading a page in English would make the next test's messages English.
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Production hashes with PBKDF2 (a third of a second per password on a small machine); the
    # suite creates and checks hundreds of passwords, none of which needs to resist cracking.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _mfa_not_required(settings):
    # Its default follows DJANGO_DEBUG: the admin's tests of superusers (client.force_login) must
    # not depend on the environment. The tests of the requirement turn it on.
    settings.MFA_REQUIRED_FOR_SUPERUSERS = False


@pytest.fixture
def postgresql():
    """Skip (or fail under CI) unless the tests run on PostgreSQL (DATABASE_URL=postgres://…)."""
    if connection.vendor != "postgresql":
        _server_missing(
            f"needs PostgreSQL: DATABASE_URL points to {connection.vendor}, "
            "set DATABASE_URL=postgres://… to run it"
        )


@pytest.fixture
def redis_broker() -> str:
    """The Redis broker URL; skips (fails under CI) unless CELERY_BROKER_URL is a live Redis."""
    url = settings.CELERY_BROKER_URL
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        _server_missing(
            f"needs Redis: CELERY_BROKER_URL is {url!r}, set CELERY_BROKER_URL=redis://… to run it"
        )
    try:
        socket.create_connection((parsed.hostname or "localhost", parsed.port or 6379), 2).close()
    except OSError as exc:
        _server_missing(f"needs Redis at {url}: {exc}")
    # Tasks that earlier tests sent after their commits (an invoice e-mail after a renewal, …)
    # wait in the queue with nobody to run them: a worker started by this test must not.
    celery_app.control.purge()
    return url


@pytest.fixture(scope="session", autouse=True)
def _tasks_stay_in_the_tests():
    """Tasks sent by tests never reach a developer's own queue: the default broker is kombu's
    filesystem transport under ``var/``, where ``make run``'s worker would run them against the
    development database. Without Redis they go to kombu's in-memory transport instead."""
    if celery_app.conf.broker_url.startswith("filesystem"):
        celery_app.conf.broker_url = "memory://"
        celery_app.conf.result_backend = "cache+memory://"
    yield


class Mailbox:
    """The messages received by the test SMTP server, parsed, in order of arrival. Set ``delay``
    for a slow server (seconds before it answers each message); :meth:`refuse` makes it refuse
    messages, and ``refused`` lists the recipients of those it refused."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0
        self.refused: list[str] = []
        self._refusals: list[list] = []  # [answer, times left, recipient or None]
        self._arrived = threading.Condition()

    def refuse(self, answer: str, *, times: int = 1, to: str | None = None) -> None:
        """Answer ``answer`` ("451 …": try again later, "550 …": never) to the next ``times``
        messages (those to ``to`` only, if given) instead of accepting them."""
        self._refusals.append([answer, times, to])

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        if self.delay:
            await asyncio.sleep(self.delay)
        for refusal in self._refusals:
            answer, times, to = refusal
            if times and (to is None or to in envelope.rcpt_tos):
                refusal[1] -= 1
                self.refused.append(", ".join(envelope.rcpt_tos))
                return answer
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        message["X-Peer"] = "{}:{}".format(*session.peer)  # one per SMTP connection
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        """The messages once there are at least ``count`` of them; fails after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"{count} e-mail(s) expected, {len(self.messages)} received")
                self._arrived.wait(left)
            return list(self.messages)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address``."""
        return [m for m in self.messages if address in m["X-Envelope-To"].split(", ")]

    @staticmethod
    def text(message: EmailMessage) -> str:
        """The plain-text body of ``message``."""
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def mailbox(settings) -> Mailbox:
    """A real SMTP server (aiosmtpd) on a free local port, and Django's SMTP backend pointed at
    it for the test (the live server and Celery workers in this process included)."""
    box = Mailbox()
    with socket.socket() as probe:  # a free port: aiosmtpd checks its own port once started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield box
    finally:
        controller.stop()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.hookimpl(trylast=True)  # after pytest-django's own reordering
def pytest_collection_modifyitems(items):
    # Playwright's sync API leaves its event loop marked as running in the main thread for as long
    # as the session-scoped ``browser`` lives, so Django needs DJANGO_ALLOW_ASYNC_UNSAFE meanwhile
    # (see ``browser``). Browser tests run last, so that no other test runs in that state.
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        _transactional_tests_restore_the_initial_data(item)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def _transactional_tests_restore_the_initial_data(item) -> None:
    """Every transactional test runs with ``serialized_rollback``: the database is emptied after
    it, and the clusters and plans come from a data migration, so the next one needs them back.
    All or none: the flush after a test without it re-creates content types, permissions and role
    groups (post_migrate), which the restore of the next serialized test would then collide
    with."""
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        restoring = pytest.mark.django_db(
            *marker.args, **marker.kwargs | {"serialized_rollback": True}
        )
        item.add_marker(restoring, append=False)


@pytest.fixture(scope="session")
def browser(django_db_setup):
    """Debian's Chromium, headless, driven by Playwright, launched once per session; skips (fails
    under CI) unless it is at CHROMIUM_PATH (default /usr/bin/chromium). Tests that use it (or
    ``page``) are marked ``browser`` and run after all the others."""
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        _server_missing(
            f"needs Chromium at {path} (apt-get install chromium, or set CHROMIUM_PATH)"
        )
    # The test databases' initial data, serialized when they were created, for serialized_rollback.
    serialized = {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }
    # From here to the end of the session, this thread has a running event loop in Django's eyes:
    # without this, every ORM call (the test database's setup and flush included) would raise
    # SynchronousOnlyOperation.
    with pytest.MonkeyPatch.context() as mp, sync_playwright() as playwright:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # With a running loop, Django's connections are other objects (asgiref's Local turns into
        # a context variable): give them the serialized data too.
        for alias, contents in serialized.items():
            connections[alias]._test_serialized_contents = contents
        browser = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context (French, 1280×900, 10 s timeouts), closed after the test.
    With pytest-django's ``live_server``: ``page.goto(live_server.url + "/")``."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
