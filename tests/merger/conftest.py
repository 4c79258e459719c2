"""Fixtures of the merger's tests: the merger that ``migrate`` creates, the two clusters' sample
files imported, the command run in this process, and the committee's users."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from members.imports.services import import_file_run
from members.models import Cluster
from merger.selectors import merger_current
from merger.services import merger_update
from tests.factories import committee_user
from tests.merger.adoptions import adoptions_recorded
from tests.samples import FILES

#: The sample files' terms are the calendar year 2017: their members are current (or waiting for
#: their payment) on its first day.
SAMPLES_DAY = dt.date(2017, 1, 1)


@pytest.fixture
def merger():
    """The merger of the initial data (DigitalPlace and FrenchSouth.digital → Grand Cluster)."""
    return merger_current()


@pytest.fixture
def committee():
    user = committee_user()
    user.email = "comite@example.org"
    user.save(update_fields=["email"])
    return user


@pytest.fixture
def samples(settings, tmp_path):
    """Both clusters' sample files imported (their valid rows), as staff would."""
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    for profile, path in FILES.items():
        _record, report = import_file_run(
            path=path, cluster=Cluster.objects.get(slug=profile), profile=profile, skip_invalid=True
        )
        assert report.written


def schedule(merger, day: dt.date):
    """Fix the merger's effective date on ``day`` (status "scheduled"), as the committee does
    once each source cluster's assembly adopted the merger."""
    adoptions_recorded(merger)
    merger_update(
        merger=merger,
        by=None,
        reason="Date arrêtée par les AG",
        status="scheduled",
        planned_date=day,
    )
    merger.refresh_from_db()
    return merger


def run(*args) -> tuple[int, str, str]:
    """``manage.py merger …`` in this process: (exit status, stdout, error)."""
    stdout = StringIO()
    try:
        call_command("merger", *[str(arg) for arg in args], stdout=stdout)
    except CommandError as error:
        return error.returncode, stdout.getvalue(), str(error)
    return 0, stdout.getvalue(), ""


def run_json(*args) -> tuple[int, dict]:
    status, out, _error = run(*args, "--json")
    return status, json.loads(out)
