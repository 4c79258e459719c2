"""The admin in a real browser: its header switches between French and English on every page, the
login's too, and comes back to the same page; an import's report then reads in English; the
import's confirm button says why it waits for the box, with JavaScript and without."""

import pytest
from playwright.sync_api import expect

from members.models import Cluster, ImportRecord
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from tests.samples import FILES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

REASON = (
    "Pour confirmer, cochez d’abord « Importer les lignes valides et ignorer les lignes "
    "refusées » : les lignes refusées ne seront pas importées."
)


def sign_in(page, live_server, email: str) -> None:
    page.goto(live_server.url + "/admin/login/?next=/admin/members/membership/")
    page.fill("#id_username", email)
    page.fill("#id_password", "browser-test-pw")
    page.get_by_role("button", name="Connexion").click()


def test_the_language_switch_and_the_confirm_buttons_reason(live_server, page, settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    staff_user_ensure(
        email="staff@digitalplace.example",
        password="browser-test-pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug="digitalplace")],
    )
    # The login page has the switch; it turns English and stays the login page.
    page.goto(live_server.url + "/admin/login/?next=/admin/members/membership/")
    switch = page.locator("#header form.admin-language")
    assert switch.inner_text().split() == ["Français", "/", "English"]
    switch.get_by_role("button", name="English").click()
    assert page.url.endswith("/admin/login/?next=/admin/members/membership/")
    assert page.get_by_role("button", name="Log in").is_visible()
    page.locator("#header form.admin-language").get_by_role("button", name="Français").click()
    assert page.get_by_role("button", name="Connexion").is_visible()
    sign_in(page, live_server, "staff@digitalplace.example")

    page.get_by_role("link", name="Importer un fichier").click()
    page.locator("input[type=file]").set_input_files(FILES["digitalplace"])
    page.get_by_role("button", name="Analyser le fichier").click()
    record = ImportRecord.objects.get()
    record_path = f"/admin/members/importrecord/{record.pk}/change/"
    assert page.url.endswith(record_path)

    # The confirm button waits for the box, and says so beside it.
    confirm = page.get_by_role("button", name="Confirmer l’import")
    reason = page.get_by_text(REASON)
    # Waited for: the page's script disables the button once the page has loaded.
    expect(confirm).to_be_disabled()
    expect(reason).to_be_visible()
    box = page.get_by_label("Importer les lignes valides et ignorer les lignes refusées")
    box.check()
    expect(confirm).to_be_enabled()
    expect(reason).to_be_hidden()
    box.uncheck()
    expect(confirm).to_be_disabled()
    expect(reason).to_be_visible()

    # The same record in English, from the header, back on the same page.
    page.locator("#header form.admin-language").get_by_role("button", name="English").click()
    assert page.url.endswith(record_path)
    assert page.get_by_text("“gratuit ?” is not an amount.").is_visible()
    assert page.get_by_text("Missing company name.").is_visible()
    assert page.get_by_role("button", name="Confirm the import").is_disabled()
    # The choice stays from page to page.
    page.goto(live_server.url + "/admin/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.locator("#header form.admin-language").get_by_role("button", name="Français").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    record.refresh_from_db()
    assert record.status == ImportRecord.Status.ANALYSED


def test_without_javascript_the_confirm_button_goes_and_the_server_says_why(
    live_server, browser, settings, tmp_path
):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    staff_user_ensure(
        email="staff@digitalplace.example",
        password="browser-test-pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug="digitalplace")],
    )
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, live_server, "staff@digitalplace.example")
        page.get_by_role("link", name="Importer un fichier").click()
        page.locator("input[type=file]").set_input_files(FILES["digitalplace"])
        page.get_by_role("button", name="Analyser le fichier").click()

        assert page.get_by_text(REASON).is_visible()
        page.get_by_role("button", name="Confirmer l’import").click()
        assert page.get_by_text(
            "Des lignes sont refusées : corrigez le fichier, ou cochez"
        ).is_visible()
        assert ImportRecord.objects.get().status == ImportRecord.Status.ANALYSED
    finally:
        context.close()
