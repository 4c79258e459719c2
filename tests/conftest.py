"""Shared fixtures. Tests that need a real server (PostgreSQL, Redis) ask for ``postgresql`` or
``redis_broker``: without the server they are skipped with the reason, except under ``CI``, where
they fail, so that CI can never pass without running them."""

import os
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection


def _server_missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so tests that need this server must run.")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    # allauth keeps rate-limit state in the cache between tests otherwise (allauth #3893).
    settings.ACCOUNT_RATE_LIMITS = False


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
    return url
