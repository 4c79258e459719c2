"""The members app's own deployment checks (``manage.py check --deploy``) that the other test
files do not already cover: the site's address in e-mails."""

import pytest
from django.core.checks import run_checks


def _site_url_warnings() -> list[str]:
    return [
        message.msg
        for message in run_checks(include_deployment_checks=True)
        if message.id == "members.W004"
    ]


@pytest.mark.parametrize(
    ("site_url", "problem"),
    [
        ("http://localhost:8000", "is not an HTTPS address and names this machine"),
        ("http://members.example.org", "is not an HTTPS address:"),
        ("https://localhost", "names this machine"),
        ("https://app.localhost", "names this machine"),
        ("https://127.0.0.1:8000", "names this machine"),
        ("https://127.1.2.3", "names this machine"),
        ("https://[::1]:8000", "names this machine"),
        ("https://0.0.0.0", "names this machine"),
        ("members.example.org", "is not an HTTPS address and names no host"),
        ("https://[::1", "is not a valid URL"),
    ],
)
def test_check_deploy_warns_about_a_site_url_members_cannot_follow(settings, site_url, problem):
    settings.DEBUG = False
    settings.SITE_URL = site_url

    [warning] = _site_url_warnings()

    assert warning.startswith(f"SITE_URL ({site_url!r}) ")
    assert problem in warning


@pytest.mark.parametrize(
    "site_url",
    [
        "https://members.example.org",
        "https://members.example.org/",
        "https://members.example.org:8443",
    ],
)
def test_check_deploy_accepts_a_public_https_site_url(settings, site_url):
    settings.DEBUG = False
    settings.SITE_URL = site_url

    assert _site_url_warnings() == []


def test_check_deploy_leaves_site_url_alone_in_development(settings):
    settings.DEBUG = True
    settings.SITE_URL = "http://localhost:8000"

    assert _site_url_warnings() == []
