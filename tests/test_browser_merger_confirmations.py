"""The committee's last two steps of the merger in a real browser (Chromium, 1280 px), on the demo
data, with a real Celery worker: informing the members (the e-mail read in French and in
English, the recipients counted, a test sent to oneself, the box ticked, the sending followed
to its end), then executing the transfers (the preview searched and paged, "irréversible", the
box ticked, the execution followed to its end), and a member found by its old number."""

import datetime as dt

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from cluster.celery import app as celery_app
from members.demo import COMMITTEE_PASSWORD, demo_seed
from members.models import Membership
from merger.models import Decision, Merger, MergerExecution, MergerNotice, TransferProposal
from merger.selectors import merger_current, notice_audience
from merger.services import merger_update, proposals_refresh, transfer_decide
from tests.merger.adoptions import adoptions_recorded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMMITTEE = "comite-fusion@demo.example"


def test_the_committee_informs_the_members_then_executes_with_progress(
    live_server, page, settings, postgresql, redis_broker, mailbox
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    demo_seed()
    merger = merger_current()
    adoptions_recorded(merger)
    merger_update(
        merger=merger,
        by=None,
        reason="Date votée par les deux AG",
        status=Merger.Status.SCHEDULED,
        planned_date=dt.date(timezone.localdate().year + 1, 1, 1),
    )
    proposals_refresh(merger=merger)
    transfer_decide(
        proposal_ids=list(TransferProposal.objects.values_list("pk", flat=True)),
        decision=Decision.APPROVED,
        by=get_user_model().objects.get(email=COMMITTEE),
        reason="Comité de fusion du 15 décembre",
    )
    proposals = TransferProposal.objects.filter(decision=Decision.APPROVED).count()
    audience = notice_audience(merger=merger)
    english = dict((code, count) for code, _label, count in audience.by_language)["en"]
    assert proposals > 200 and audience.recipients > proposals and english > 0

    page.goto(live_server.url + "/admin/login/?next=/admin/merger/merger/")
    page.fill("#id_username", COMMITTEE)
    page.fill("#id_password", COMMITTEE_PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    page.get_by_role("link", name="Fusion de DigitalPlace").click()

    # Informing the members: the e-mail in both languages, the recipients counted.
    page.get_by_role("link", name="Informer les membres").click()
    expect(page.locator("td.count-recipients")).to_have_text(str(audience.recipients))
    expect(page.locator("td.count-language-en")).to_have_text(str(english))
    subjects = page.locator(".merger-notice-subject")
    expect(subjects.nth(0)).to_contain_text(": votre adhésion passe à Grand Cluster")
    expect(subjects.nth(1)).to_contain_text(": your membership moves to Grand Cluster")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    expect(page.frame_locator("#preview-fr iframe").locator("body")).to_contain_text("Bonjour")
    expect(page.frame_locator("#preview-en iframe").locator("body")).to_contain_text(
        "Object to the transfer"
    )

    # A test to oneself, twice: not a notice.
    page.get_by_role("button", name="M’envoyer un essai").click()
    expect(page.get_by_text(f"Essai (Français) envoyé à {COMMITTEE}.")).to_be_visible()
    page.get_by_role("button", name="M’envoyer un essai").click()
    assert [m["X-Envelope-To"] for m in mailbox.wait_for(4)] == [COMMITTEE] * 4
    assert not MergerNotice.objects.exists()

    # The button without the box ticked sends nothing and says why; ticked, it sends.
    send = page.get_by_role("button", name=f"Envoyer {audience.recipients} e-mails")
    send.click()
    expect(page.get_by_text("Cochez la case pour confirmer : rien n’a été envoyé.")).to_be_visible()
    assert not MergerNotice.objects.exists()
    page.get_by_label("J’ai relu l’e-mail et je confirme son envoi").check()
    send.click()
    expect(
        page.get_by_text(f"{audience.recipients} e-mail(s) d’information mis en file")
    ).to_be_visible()
    expect(page.get_by_text(f"0 envoyé(s) sur {audience.recipients} (0 %)")).to_be_visible()

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        # The page refreshes itself until every notice is sent.
        expect(
            page.get_by_text(f"{audience.recipients} envoyé(s) sur {audience.recipients} (100 %)")
        ).to_be_visible(timeout=120_000)
        assert len(mailbox.messages) == 4 + audience.recipients
        expect(page.locator("td.count-recipients")).to_have_text("0")

        # The execution: the preview searched, then paged.
        page.get_by_role("link", name="Fusion de DigitalPlace").click()
        page.get_by_role("link", name="Exécuter les transferts").click()
        expect(page.locator("td.count-executed")).to_have_text(str(proposals))
        expect(page.locator("table.merger-preview tbody tr")).to_have_count(50)
        expect(page.locator("table.merger-preview tbody tr td").first).to_have_text("GC-0001")
        expect(page.get_by_text("Cette opération est irréversible.")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        both = TransferProposal.objects.filter(members_of_both=True).first()
        old_number = both.old_member_numbers.split(", ")[0]
        page.get_by_label("Rechercher").fill(old_number)
        page.get_by_role("button", name="Rechercher").click()
        rows = page.locator("table.merger-preview tbody tr")
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text(both.organisation.name)
        page.get_by_role("link", name="Tout afficher").click()
        page.locator(".merger-preview-pages").get_by_role("link", name="2", exact=True).click()
        expect(page.locator("table.merger-preview tbody tr td").first).to_have_text("GC-0051")
        assert not Membership.objects.filter(cluster__slug="grand-cluster").exists()

        # Confirmed with the box ticked: the worker executes, the page follows it to the end.
        page.get_by_label("Je comprends que cette opération est irréversible").check()
        page.get_by_role("button", name="Exécuter les transferts").click()
        expect(page.get_by_text(f"{proposals} adhésions au successeur créées")).to_be_visible(
            timeout=120_000
        )
        expect(page.locator(".merger-execution-state")).to_contain_text("Terminée")

    assert MergerExecution.objects.count() == 1
    assert Merger.objects.get().status == Merger.Status.EFFECTIVE
    assert Membership.objects.filter(cluster__slug="grand-cluster").count() == proposals

    # A member found by its old number.
    both.refresh_from_db()
    page.goto(live_server.url + "/admin/members/membership/?q=" + old_number)
    expect(page.locator("#result_list tbody tr").filter(has_text="GC-")).to_contain_text(
        [both.successor_membership.member_number]
    )
