"""The merger committee's day up to its decisions, in a real browser at 1280 px and on a 375 px
phone, on the demo data: the merger's steps, the duplicates (the search keeps the filter, a
pair's differences are highlighted), the proposals, all of them selected and approved "only the
unflagged" with a double click: the flagged ones are still to decide, the others approved, each
once."""

import re

import pytest
from playwright.sync_api import expect

from members.demo import COMMITTEE_PASSWORD, demo_seed
from merger.models import Decision, TransferDecision, TransferProposal
from merger.selectors import proposals_flagged

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASON = "Comité de fusion du 15 décembre"


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_the_committee_approves_only_the_unflagged_proposals(live_server, page, settings, width):
    # On a phone the admin's lists scroll sideways (they are made to fit 1280 px): the committee
    # can still do the whole of it there.
    page.set_viewport_size({"width": width, "height": 900})
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_seed()
    page.goto(live_server.url + "/admin/login/?next=/admin/merger/merger/")
    page.fill("#id_username", "comite-fusion@demo.example")
    page.fill("#id_password", COMMITTEE_PASSWORD)
    page.get_by_role("button", name="Connexion").click()

    # The merger's page: one list of steps, each saying where it stands.
    page.get_by_role("link", name="Fusion de DigitalPlace").click()
    steps = page.locator(".merger-step")
    expect(steps).to_have_count(6)
    expect(page.locator('[data-step="decide"]')).to_contain_text("pas encore possible")
    expect(page.locator('[data-step="decide"]')).to_contain_text(
        "Établissez d’abord les propositions."
    )

    # The duplicates: the search keeps the list's filter; a pair's differences stand out.
    page.get_by_role("link", name="Examiner les doublons possibles").click()
    expect(page).to_have_url(re.compile(r"state__exact=open"))
    page.get_by_role("button", name="Rechercher les doublons").click()
    expect(page.get_by_text("doublon(s) possible(s) à examiner")).to_be_visible()
    assert "state__exact=open" in page.url
    page.locator("#result_list tbody tr").first.locator("a").first.click()
    expect(page.locator(".merger-column")).to_have_count(2)
    expect(page.locator(".merger-differs-legend")).to_contain_text("diffèr")
    differing = page.locator("dd.merger-differs")
    assert differing.count() >= 2
    highlighted = differing.first.evaluate("e => getComputedStyle(e).backgroundColor")
    quiet = page.locator("dd.merger-same").first.evaluate("e => getComputedStyle(e).color")
    assert highlighted not in ("rgba(0, 0, 0, 0)", "transparent")
    assert quiet != differing.first.evaluate("e => getComputedStyle(e).color")
    page.locator("input[name=survivor]").first.check()
    page.locator("#id_merge_reason").fill("Même entreprise : un seul adhérent")
    page.get_by_role("button", name="Fusionner", exact=True).click()
    expect(page.get_by_text("Fiches fusionnées")).to_be_visible()

    # The proposals, established from the merger's page.
    page.goto(live_server.url + "/admin/merger/merger/")
    page.get_by_role("link", name="Fusion de DigitalPlace").click()
    page.get_by_role("button", name="Établir les propositions").click()
    expect(page.get_by_text("Propositions établies au")).to_be_visible()
    everything = TransferProposal.objects.all()
    flagged = set(proposals_flagged(everything).values_list("pk", flat=True))
    total = everything.count()
    assert flagged and total - len(flagged) > 100

    # All selected, approved: the confirmation groups them, "only the unflagged" by default.
    page.locator("#action-toggle").check()
    page.locator(".actions .question a").click()
    page.locator("select[name=action]").select_option(label="Approuver la sélection…")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("td.count-flagged")).to_have_text(str(len(flagged)))
    expect(page.locator("td.count-unflagged")).to_have_text(str(total - len(flagged)))
    expect(page.locator(".merger-decide-flagged tbody tr")).to_have_count(len(flagged))
    expect(page.locator(".merger-decide-unflagged-list ul")).to_be_hidden()
    expect(page.get_by_label("Seulement les propositions non signalées")).to_be_checked()
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    if width >= 1280:
        assert size[0] <= width, size
        assert size[1] < 4 * 900, size
    page.get_by_label("Motif").fill(REASON)
    page.get_by_role("button", name="Confirmer : Approuvée").dblclick()
    expect(page.get_by_text(f"{total - len(flagged)} propositions : approuvée.")).to_be_visible()
    expect(
        page.get_by_text(f"{len(flagged)} propositions signalées laissées à décider.")
    ).to_be_visible()

    decided = dict(everything.values_list("pk", "decision"))
    assert {decided[pk] for pk in flagged} == {Decision.PENDING}
    assert {decision for pk, decision in decided.items() if pk not in flagged} == {
        Decision.APPROVED
    }
    assert TransferDecision.objects.filter(reason=REASON).count() == total - len(flagged)
    assert not TransferDecision.objects.filter(proposal__in=flagged).exists()

    # Back on the merger's page, the decisions' step says what is left.
    page.goto(live_server.url + "/admin/merger/merger/")
    page.get_by_role("link", name="Fusion de DigitalPlace").click()
    expect(page.locator('[data-step="decide"]')).to_contain_text(
        f"{len(flagged)} proposition(s) à décider, dont {len(flagged)} signalée(s)."
    )
