"""The merger from the admin, in a real browser, on the demo data (both source clusters'
assemblies adopted the merger, as in June): the committee fixes the date, merges a duplicate
pair, establishes the proposals, filters the members of both clusters, compares one side by side
and approves it, approves the rest in bulk with a reason (the flagged ones included). Informing
the members and the execution, with a Celery worker: tests/test_browser_merger_confirmations.py.
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from members.demo import COMMITTEE_PASSWORD
from merger.models import DuplicatePair, TransferDecision, TransferProposal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_committee_runs_the_merger_from_the_admin(live_server, page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The demo as the command seeds it: both source clusters' assemblies adopted the merger.
    call_command("seed_demo", "--force", stdout=StringIO())
    next_year = timezone.localdate().year + 1
    page.goto(live_server.url + "/admin/login/?next=/admin/merger/merger/")
    page.fill("#id_username", "comite-fusion@demo.example")
    page.fill("#id_password", COMMITTEE_PASSWORD)
    page.get_by_role("button", name="Connexion").click()

    # The date is fixed, with the reason, in the merger's history.
    page.get_by_role("link", name="Fusion de DigitalPlace").click()
    page.get_by_label("Statut").select_option(label="Date arrêtée")
    page.get_by_label("Date d’effet prévue").fill(f"01/01/{next_year}")
    page.get_by_label("Motif du changement").fill("Date votée par les deux AG")
    page.get_by_role("button", name="Enregistrer et continuer les modifications").click()
    expect(page.locator("#events-group").get_by_text("Date votée par les deux AG")).to_be_visible()

    # A duplicate pair, compared side by side, merged into the record with a SIRET.
    page.get_by_role("link", name="Examiner les doublons possibles").click()
    page.get_by_role("button", name="Rechercher les doublons").click()
    expect(page.get_by_text("6 doublon(s) possible(s) à examiner")).to_be_visible()
    page.locator("#result_list tbody tr").first.locator("a").first.click()
    expect(page.locator(".merger-column")).to_have_count(2)
    page.locator("input[name=survivor]").first.check()
    page.locator("#id_merge_reason").fill("Même SIREN : un seul adhérent")
    page.get_by_role("button", name="Fusionner", exact=True).click()
    expect(page.get_by_text("Fiches fusionnées")).to_be_visible()
    assert DuplicatePair.objects.filter(state=DuplicatePair.State.MERGED).count() == 1

    # Proposals, then the members of both clusters, one of them side by side.
    page.goto(live_server.url + "/admin/merger/merger/")
    page.get_by_role("link", name="Fusion de DigitalPlace").click()
    page.get_by_role("button", name="Établir les propositions").click()
    expect(page.get_by_text("Propositions établies au 01/01/")).to_be_visible()
    proposals = TransferProposal.objects.count()
    both = TransferProposal.objects.filter(members_of_both=True).count()
    assert proposals > 200 and both >= 10
    page.locator("#changelist-filter").get_by_role("link", name="Membres des deux").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(both)
    page.locator("#result_list tbody tr").first.locator("th a").click()
    columns = page.locator(".merger-column")
    expect(columns.get_by_role("heading")).to_have_text(["DigitalPlace", "FrenchSouth.digital"])
    page.get_by_label("Approuver le transfert").check()
    page.locator("#id_reason").fill("Adhérent des deux clusters : une seule adhésion")
    page.get_by_role("button", name="Enregistrer la décision").click()
    expect(page.get_by_text("1 proposition : approuvée.")).to_be_visible()

    # Everything else approved in bulk, with a reason.
    page.goto(live_server.url + "/admin/merger/transferproposal/?decision__exact=pending")
    page.locator("#action-toggle").check()
    page.locator(".actions .question a").click()
    page.locator("select[name=action]").select_option(label="Approuver la sélection…")
    page.get_by_role("button", name="Envoyer").click()
    page.get_by_label("Toutes, signalées comprises").check()
    page.get_by_label("Motif").fill("Comité de fusion du 15 décembre")
    page.get_by_role("button", name="Confirmer : Approuvée").click()
    expect(page.get_by_text(f"{proposals - 1} propositions : approuvée.")).to_be_visible()
    assert TransferDecision.objects.filter(reason="Comité de fusion du 15 décembre").count() == (
        proposals - 1
    )
