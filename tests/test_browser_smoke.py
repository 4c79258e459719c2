"""Real-browser smoke tests: Debian's Chromium, driven by Playwright, against the live server."""

import pytest

from members.services import staff_user_ensure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_speaks_french_until_the_switch_turns_it_to_english(live_server, page):
    page.goto(live_server.url + "/")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Votre adhésion au cluster du numérique en Occitanie"
    assert page.locator("html").get_attribute("lang") == "fr"

    page.get_by_role("button", name="English").click()

    page.wait_for_selector("html[lang=en]")
    assert heading.inner_text() == "Your membership of the Occitanie digital cluster"
    assert page.get_by_role("link", name="Sign in to the member area").is_visible()
    assert page.get_by_role("button", name="Français").is_visible()


def test_staff_user_signs_in_to_the_admin_in_french(live_server, page, tmp_path):
    staff_user_ensure(email="staff@example.org", password="browser-test-pw", is_superuser=True)

    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "staff@example.org")
    page.fill("#id_password", "browser-test-pw")
    page.get_by_role("button", name="Connexion").click()

    page.wait_for_url(live_server.url + "/admin/")
    assert page.get_by_role("heading", name="Tableau de bord").is_visible()
    assert page.get_by_text("Grand Cluster — administration des adhésions").is_visible()
    screenshot = tmp_path / "admin.png"
    page.screenshot(path=screenshot, full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert screenshot.stat().st_size > 1000
