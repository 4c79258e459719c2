"""Celery for real: the health check goes through a real worker and comes back with its result.

On Redis (CI, production) with an embedded worker thread; and on kombu's filesystem transport,
which ``make run`` uses when no broker is configured, with the same ``celery`` commands as there
and as the operators' health check.
"""

import signal
import subprocess
import sys

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection

from cluster.celery import app as celery_app
from cluster.tasks import health_check

from .test_settings import django_environment, run_django


def test_the_worker_registers_the_health_check():
    celery_app.loader.import_default_modules()

    assert "cluster.tasks.health_check" in celery_app.tasks


# The worker thread opens its own database connection: it sees only committed data, and the
# test database must accept connections from another thread.
@pytest.mark.django_db(transaction=True)
def test_health_check_round_trip_through_a_redis_worker(redis_broker):
    assert celery_app.conf.broker_url == redis_broker

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        result = health_check.delay().get(timeout=30)

    # An embedded worker reports the machine's name, a `celery worker` its node name (below).
    assert result.pop("worker")
    assert result == {"status": "pong", "database": connection.vendor}


def test_a_worker_consumes_tasks_on_the_filesystem_transport_without_any_server(tmp_path):
    variables = {"DJANGO_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "cluster.settings"}
    celery = ["-m", "celery", "-A", "cluster"]
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, *celery, "worker", "--pool=solo", "--loglevel=INFO"],
            cwd=settings.BASE_DIR,
            env=django_environment(**variables),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        sent = run_django([*celery, "call", "cluster.tasks.health_check"], **variables)
        assert sent.returncode == 0, sent.stderr
        task_id = sent.stdout.strip()
        answered = run_django([*celery, "result", task_id], **variables)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    worker_log = log_path.read_text()
    assert answered.returncode == 0, answered.stderr + worker_log
    assert "'status': 'pong'" in answered.stdout
    assert "'worker': 'celery@" in answered.stdout
    assert "'database': 'sqlite'" in answered.stdout
    assert "transport:   filesystem://" in worker_log
    assert f"cluster.tasks.health_check[{task_id}] succeeded" in worker_log
    assert not list((tmp_path / "celery/queue").iterdir()), "the message was not consumed"
    assert (tmp_path / "celery/control/celery.exchange").is_file()
