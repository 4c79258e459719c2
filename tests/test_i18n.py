"""French first, English second: on every page, whatever the browser asks for."""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"


def test_french_whatever_the_browser_asks(client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.headers["Content-Language"] == "fr"
    assert "Se connecter à l’espace adhérent" in response.text
    assert '<html lang="fr">' in response.text


def test_the_language_switch_turns_the_site_and_the_admin_to_english(client, admin_user):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"}, follow=True)
    assert '<html lang="en">' in response.text
    assert "Sign in to the member area" in response.text
    assert "Se connecter" not in response.text
    client.force_login(admin_user)
    assert "Membership terms" in client.get("/admin/").text

    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/"}, follow=True)
    assert '<html lang="fr">' in response.text
    assert "Périodes d’adhésion" in client.get("/admin/").text


@pytest.mark.parametrize("language", ["en", "fr"])
def test_compiled_translations_match_their_sources(language):
    source = polib.pofile(LOCALE / language / "LC_MESSAGES" / "django.po")
    compiled = polib.mofile(LOCALE / language / "LC_MESSAGES" / "django.mo")
    expected = {(e.msgctxt, e.msgid): e.msgstr for e in source if e.translated() and not e.obsolete}
    assert {(e.msgctxt, e.msgid): e.msgstr for e in compiled if e.msgid} == expected


def test_every_string_has_its_english_translation():
    source = polib.pofile(LOCALE / "en" / "LC_MESSAGES" / "django.po")
    untranslated = [e.msgid for e in source if not e.obsolete and not e.translated()]
    assert untranslated == []


def test_the_catalogue_holds_every_string_of_the_sources(tmp_path):
    """A string added to the code or the templates without running makemessages would show in
    French to English readers: extract the strings afresh, in a copy, and compare."""
    if shutil.which("xgettext") is None:
        pytest.skip("needs GNU gettext (apt-get install gettext) to extract the strings")
    base = Path(settings.BASE_DIR)
    for name in ("assemblies", "cluster", "members", "merger", "templates", "locale"):
        shutil.copytree(base / name, tmp_path / name, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(base / "manage.py", tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-obsolete", "-v0"],
        cwd=tmp_path,
        check=True,
        env={"PATH": "/usr/bin:/bin", "DJANGO_ENV_FILE": "/dev/null"},
    )

    def entries(path: Path) -> set:
        return {(e.msgctxt, e.msgid) for e in polib.pofile(path) if not e.obsolete}

    committed = entries(LOCALE / "en" / "LC_MESSAGES" / "django.po")
    extracted = entries(tmp_path / "locale" / "en" / "LC_MESSAGES" / "django.po")
    missing = sorted(extracted - committed, key=str)
    assert not missing, (
        "strings missing from locale/en/LC_MESSAGES/django.po: run makemessages (README) and "
        f"translate them: {missing}"
    )
