"""The settings, as a fresh process reads them from the environment.

Each check runs Django in a subprocess whose environment has none of the variables that
``cluster/settings.py`` reads (CI sets DATABASE_URL and CELERY_BROKER_URL), and an empty env file
in place of a developer's ``.env``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SETTINGS_SOURCE = (BASE_DIR / "cluster" / "settings.py").read_text()
PRODUCTION_SECRET_KEY = "a-production-like-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def settings_variables() -> set[str]:
    """The names of the environment variables that ``cluster/settings.py`` reads."""
    return set(re.findall(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", SETTINGS_SOURCE))


def django_environment(**variables: str) -> dict[str, str]:
    """This process's environment with, of the settings' variables, only ``variables``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in settings_variables() and name != "DJANGO_SETTINGS_MODULE"
    }
    return {**environment, "DJANGO_ENV_FILE": os.devnull, **variables}


def run_django(args: list[str], **variables: str) -> subprocess.CompletedProcess:
    """Run ``python args`` in the project with :func:`django_environment` of ``variables``."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=django_environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def read_settings(*names: str, **variables: str) -> dict:
    """The values of the settings ``names`` in a fresh process, as JSON-able values."""
    code = (
        "import json, django\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}, default=str))\n"
    )
    completed = run_django(["-c", code], DJANGO_SETTINGS_MODULE="cluster.settings", **variables)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def production_variables(tmp_path: Path) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": PRODUCTION_SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "members.example.org",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://members.example.org",
        "DJANGO_BEHIND_TLS_PROXY": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "EMAIL_URL": "smtp://localhost:25",
        "CACHE_URL": "redis://127.0.0.1:6379/1",
        "SITE_URL": "https://members.example.org",
    }


def test_production_without_secret_key_refuses_to_start(tmp_path):
    variables = production_variables(tmp_path)
    del variables["DJANGO_SECRET_KEY"]

    completed = run_django(["manage.py", "check"], **variables)

    assert completed.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in completed.stderr


def test_production_settings_pass_the_deployment_checks(tmp_path):
    completed = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **production_variables(tmp_path),
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


def test_production_settings_with_the_default_site_url_fail_the_deployment_checks(tmp_path):
    variables = production_variables(tmp_path)
    del variables["SITE_URL"]

    completed = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **variables
    )

    assert completed.returncode != 0
    assert "members.W004" in completed.stderr
    assert "'http://localhost:8000'" in completed.stderr


def test_behind_a_tls_proxy_the_client_address_is_the_forwarded_one_by_default(tmp_path):
    names = ("SECURE_PROXY_SSL_HEADER", "ALLAUTH_TRUSTED_PROXY_COUNT")

    assert read_settings(*names) == {
        "SECURE_PROXY_SSL_HEADER": None,
        "ALLAUTH_TRUSTED_PROXY_COUNT": 0,
    }
    assert read_settings(*names, DJANGO_BEHIND_TLS_PROXY="true") == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "ALLAUTH_TRUSTED_PROXY_COUNT": 1,
    }
    two_proxies = read_settings(
        *names, DJANGO_BEHIND_TLS_PROXY="true", ALLAUTH_TRUSTED_PROXY_COUNT="2"
    )
    assert two_proxies["ALLAUTH_TRUSTED_PROXY_COUNT"] == 2

    # Told to trust none behind a proxy, the deployment checks fail.
    completed = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        **production_variables(tmp_path),
        ALLAUTH_TRUSTED_PROXY_COUNT="0",
    )
    assert completed.returncode != 0
    assert "members.W003" in completed.stderr


def test_defaults_need_no_server_and_keep_runtime_files_under_var():
    values = read_settings(
        "DEBUG",
        "DATABASES",
        "CELERY_BROKER_URL",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_RESULT_BACKEND",
        "CELERY_BEAT_SCHEDULE_FILENAME",
        "EMAIL_BACKEND",
        "EMAIL_FILE_PATH",
    )
    var = BASE_DIR / "var"

    assert values["DEBUG"] is True
    database = values["DATABASES"]["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(var / "db.sqlite3")
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    transport = values["CELERY_BROKER_TRANSPORT_OPTIONS"]
    # kombu's filesystem transport only works with one folder for both directions.
    assert transport["data_folder_in"] == transport["data_folder_out"] == str(var / "celery/queue")
    assert Path(transport["data_folder_in"]).is_dir()
    assert transport["control_folder"] == str(var / "celery/control")
    assert values["CELERY_RESULT_BACKEND"] == f"file://{var / 'celery/results'}"
    assert values["CELERY_BEAT_SCHEDULE_FILENAME"] == str(var / "celerybeat-schedule")
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["EMAIL_FILE_PATH"] == str(var / "mail")


def test_var_dir_moves_every_runtime_file(tmp_path):
    values = read_settings(
        "DATABASES",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
        "CELERY_RESULT_BACKEND",
        "CELERY_BEAT_SCHEDULE_FILENAME",
        "EMAIL_FILE_PATH",
        DJANGO_VAR_DIR=str(tmp_path),
    )

    assert values["DATABASES"]["default"]["NAME"] == str(tmp_path / "db.sqlite3")
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"]["data_folder_in"] == str(
        tmp_path / "celery/queue"
    )
    assert (tmp_path / "celery/queue").is_dir()
    assert values["CELERY_RESULT_BACKEND"] == f"file://{tmp_path / 'celery/results'}"
    assert values["CELERY_BEAT_SCHEDULE_FILENAME"] == str(tmp_path / "celerybeat-schedule")
    assert values["EMAIL_FILE_PATH"] == str(tmp_path / "mail")


def test_redis_broker_keeps_results_in_redis_too():
    values = read_settings(
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/3",
    )

    assert values == {
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3",
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/3",
    }


def test_env_file_fills_in_what_the_environment_does_not_set(tmp_path):
    env_file = tmp_path / "production.env"
    env_file.write_text(
        "DEFAULT_FROM_EMAIL=Grand Cluster <adhesions@members.example.org>\n"
        "SERVER_EMAIL=from-the-file@members.example.org\n"
    )

    values = read_settings(
        "DEFAULT_FROM_EMAIL",
        "SERVER_EMAIL",
        DJANGO_ENV_FILE=str(env_file),
        SERVER_EMAIL="from-the-environment@members.example.org",
    )

    assert values == {
        "DEFAULT_FROM_EMAIL": "Grand Cluster <adhesions@members.example.org>",
        "SERVER_EMAIL": "from-the-environment@members.example.org",
    }


def test_french_first_english_second_in_paris_time():
    assert settings.LANGUAGE_CODE == "fr"
    assert [code for code, _name in settings.LANGUAGES] == ["fr", "en"]
    assert settings.TIME_ZONE == "Europe/Paris"
    assert settings.USE_TZ is True


def test_env_example_documents_every_variable_of_the_settings():
    example = (BASE_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))

    assert {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"} <= settings_variables()
    assert settings_variables() - documented == set()


def test_superusers_need_two_factor_authentication_in_production_only_by_default(tmp_path):
    production = read_settings("MFA_REQUIRED_FOR_SUPERUSERS", **production_variables(tmp_path))
    development = read_settings("MFA_REQUIRED_FOR_SUPERUSERS")
    turned_off = read_settings(
        "MFA_REQUIRED_FOR_SUPERUSERS",
        **production_variables(tmp_path),
        MFA_REQUIRED_FOR_SUPERUSERS="false",
    )

    assert production == {"MFA_REQUIRED_FOR_SUPERUSERS": True}
    assert development == {"MFA_REQUIRED_FOR_SUPERUSERS": False}
    assert turned_off == {"MFA_REQUIRED_FOR_SUPERUSERS": False}
