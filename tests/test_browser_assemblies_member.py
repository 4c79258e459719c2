"""A general assembly in a member's browser (Debian's Chromium, driven by Playwright, against the
live server and a real SMTP server): a member gives its proxy to another organisation; the
holder signs in by code and votes for both; the pages say so at 1280 and 375 px, and the counts
are right."""

import pytest
from django.urls import reverse

from assemblies.models import Ballot
from assemblies.selectors import assembly_results
from assemblies.services import voting_open
from members.models import Contact
from tests.assemblies.helpers import assembly_convened, member_in_good_standing
from tests.test_browser_member import OVERFLOW, STRAY_PUNCTUATION, WIDTHS, sign_in_by_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def member(name: str, email: str) -> None:
    membership = member_in_good_standing()
    membership.organisation.name = name
    membership.organisation.save(update_fields=["name"])
    Contact.objects.filter(organisation=membership.organisation).update(
        email=email, first_name=name, last_name="Votant"
    )


def looks_right(page, tmp_path, name: str) -> None:
    """``page`` at both widths, screenshots kept in ``tmp_path``: nothing sticks out of the
    window, no line starts with French punctuation."""
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=tmp_path / f"{name}-{label}.png", full_page=True)
        assert page.evaluate(OVERFLOW) == [], (name, label)
        assert page.evaluate(STRAY_PUNCTUATION) == [], (name, label)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_member_gives_its_proxy_and_the_holder_votes_for_both(
    live_server, browser, page, mailbox, tmp_path
):
    member("Garrigue Logiciels", "ines@garrigue.example")
    member("Causse Conseil", "paul@causse.example")
    member("Lagune Data", "lea@lagune.example")
    assembly = assembly_convened(secret_ballot=True, title="Assemblée générale ordinaire 2026")
    url = live_server.url + reverse("assemblies:member_assembly", args=[assembly.pk])

    sign_in_by_code(page, live_server, mailbox, "ines@garrigue.example")
    page.get_by_role("link", name="Assemblée générale ordinaire 2026").click()
    page.wait_for_url(url)
    assert page.get_by_role("heading", name="Ordre du jour").is_visible()
    proxy = page.get_by_label("Donner pouvoir à")
    assert "Causse Conseil" in proxy.inner_text()
    proxy.select_option(label="Causse Conseil")
    page.get_by_role("button", name="Donner pouvoir").click()
    assert page.get_by_text("Garrigue Logiciels a donné pouvoir à Causse Conseil.").is_visible()
    assert page.get_by_text("A donné pouvoir à Causse Conseil.", exact=True).is_visible()
    looks_right(page, tmp_path, "assembly-giver")

    voting_open(assembly=assembly)
    mailbox.messages.clear()
    holder = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    holder.set_default_timeout(10_000)
    page = holder.new_page()
    sign_in_by_code(page, live_server, mailbox, "paul@causse.example")
    assert page.get_by_role("heading", name="Assemblées générales").is_visible()
    assert page.get_by_text("Vote ouvert").first.is_visible()
    looks_right(page, tmp_path, "area-holder")
    page.get_by_role("link", name="Assemblée générale ordinaire 2026").click()

    for heading, choice in (
        ("Voter pour Causse Conseil", "Pour"),
        ("Voter au nom de Garrigue Logiciels", "Contre"),
    ):
        form = page.locator("form.ballot", has=page.get_by_role("heading", name=heading))
        if heading.startswith("Voter pour"):
            looks_right(page, tmp_path, "assembly-holder-ballots")
        for fieldset in form.locator("fieldset").all():
            fieldset.get_by_label(choice).check()
        form.get_by_role("button").click()
        page.wait_for_load_state()

    assert page.get_by_text("Le vote au nom de Garrigue Logiciels est enregistré.").is_visible()
    assert page.get_by_text("A voté.", exact=True).is_visible()
    assert page.get_by_text("Garrigue Logiciels — a voté").is_visible()
    assert page.locator("form.ballot").count() == 0
    assert "Ses choix" not in page.content()  # a secret ballot
    looks_right(page, tmp_path, "assembly-holder-voted")
    holder.close()

    results = assembly_results(assembly=assembly)
    assert [(r.votes_for, r.against, r.abstain) for r in results.resolutions] == [(1, 1, 0)] * 2
    assert (results.present, results.represented) == (1, 1)
    ballot = Ballot.objects.get(voice__organisation__name="Garrigue Logiciels")
    assert ballot.cast_by_holder.organisation.name == "Causse Conseil"
