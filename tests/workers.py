"""Celery workers for the tests of the ledgers sent exactly once: one in a thread of the test's
process, and the run where a real worker is killed with SIGKILL in the middle of a batch and
another one, started after Redis's visibility timeout, is given the task again."""

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from cluster.celery import app as celery_app
from tests.test_settings import django_environment

#: Seconds an unacknowledged task stays invisible (Redis's default in production: one hour).
VISIBILITY_TIMEOUT = 2


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    """Seconds until ``condition()`` holds; fails after ``timeout`` seconds."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - start


def embedded_worker():
    """A worker thread of this process: it reads the test's settings (the mailbox's port, the
    retry backoff) and has its own database connection, hence ``transaction=True``."""
    return start_worker(celery_app, pool="solo", perform_ping_check=False)


@dataclass(frozen=True)
class KilledRun:
    """What :func:`worker_killed_mid_batch` saw: the e-mails received before the kill, the
    ledger's states then, how long the second worker took, and how often each address received
    an e-mail in all."""

    received_before: int
    at_kill: Counter
    redelivered: float
    received: Counter

    @property
    def twice(self) -> int:
        return sum(self.received.values()) - len(self.received)


def worker_killed_mid_batch(
    *,
    redis_broker: str,
    mailbox,
    tmp_path,
    queue: Callable[[], None],
    states: Callable[[], Counter],
    done: Callable[[], bool],
    what: str,
) -> KilledRun:
    """``queue()`` the ledger's batch (once committed: the test is ``transaction=True``), start a
    real worker process, kill it with SIGKILL after 3 e-mails, wait the visibility timeout, start
    another one and wait until ``done()``. ``states()`` reads the ledger at the kill."""
    database = settings.DATABASES["default"]
    environment = django_environment(
        DATABASE_URL=(
            f"postgres://{database['USER']}:{database['PASSWORD']}"
            f"@{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}/{database['NAME']}"
        ),
        CELERY_BROKER_URL=redis_broker,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        EMAIL_URL=f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
        DJANGO_VAR_DIR=str(tmp_path / "var"),
    )

    def worker(name: str) -> subprocess.Popen:
        with (tmp_path / f"{name}.log").open("w") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "cluster", "worker", "--pool=solo",
                 "--loglevel=INFO", f"--hostname={name}@%h"],
                cwd=settings.BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    queue()
    started = time.monotonic()
    first = worker("first")
    try:
        wait_until(lambda: len(mailbox.messages) >= 3, timeout=30, what="3 e-mails")
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=10)
    killed = time.monotonic()
    received_before = len(mailbox.messages)
    at_kill = states()

    # Redis gives the unacknowledged task to a worker that starts once it has been invisible
    # for the visibility timeout (a running worker looks again only every 100 s or so).
    time.sleep(max(0.0, killed + VISIBILITY_TIMEOUT - time.monotonic()))
    second = worker("second")
    try:
        redelivered = wait_until(done, timeout=30, what=what)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=10)

    received = Counter(address for message in mailbox.messages
                       for address in message["X-Envelope-To"].split(", "))  # fmt: skip
    run = KilledRun(received_before, at_kill, redelivered, received)
    print(
        f"\nkilled {killed - started:.1f} s after the start, {received_before} e-mails received; "
        f"restarted, all sent {redelivered:.1f} s later; {run.twice} sent twice"
    )
    return run
