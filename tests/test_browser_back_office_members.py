"""Staff's back office in a real browser, at 1280 px: a payment corrected with its reason, shown
in the invoice's history; the reminder pass seen, tried on oneself and started, from the ledger.
No page is wider than the window."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from members.models import Cluster, ContactRole, Payment, PaymentChange
from members.roles import MEMBERSHIP_STAFF
from members.services import staff_user_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from tests.factories import ContactFactory, TermFactory, cluster

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-pw"
# J−30 of the terms ending on 31 December 2026; the clock of the live server's thread too.
DAY = dt.datetime(2026, 12, 1, 10, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(DAY, tick=True)


def sign_in(page, live_server, next_url: str) -> None:
    staff_user_ensure(
        email="staff@digitalplace.example",
        password=PASSWORD,
        roles=[MEMBERSHIP_STAFF],
        clusters=[Cluster.objects.get(slug="digitalplace")],
    )
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", "staff@digitalplace.example")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Connexion").click()


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_staff_correct_a_payment_and_read_it_in_the_invoices_history(live_server, page):
    term = TermFactory(
        membership__cluster=cluster("digitalplace"),
        membership__organisation__name="Garonne Data",
        year=2027,
        fee=Decimal("300.00"),
        is_paid=False,
    )
    invoice = invoice_issue(term=term, on=dt.date(2026, 11, 2))
    invoice_payment_record(
        invoice=invoice,
        amount=Decimal("300.00"),
        received_on=dt.date(2026, 11, 20),
        reference="VIR GARONNE",
    )
    sign_in(page, live_server, f"/admin/members/invoice/{invoice.pk}/change/")

    page.get_by_role("link", name="Corriger ou supprimer").click()
    assert fits(page)
    page.get_by_label("Montant (€)").fill("150.00")
    page.get_by_label("Motif").fill("Relevé : 150 € reçus, pas 300 €.")
    page.get_by_role("button", name="Enregistrer la correction").click()

    assert "Paiement corrigé" in page.locator(".messagelist").inner_text()
    history = page.locator("table.payment-history").inner_text().replace("\xa0", " ")
    assert "300,00 € · 20/11/2026 · Virement · VIR GARONNE" in history
    assert "enregistré le 01/12/2026 10:00" in history
    assert "150,00 € · 20/11/2026 · Virement · VIR GARONNE" in history
    assert "Relevé : 150 € reçus, pas 300 €." in history
    assert "staff@digitalplace.example" in history
    assert fits(page)
    assert Payment.objects.get().amount == Decimal("150.00")
    assert PaymentChange.objects.count() == 1


def test_staff_see_try_and_start_their_clusters_reminder_pass(live_server, page, mailbox):
    for name, language in (("Ondine Vision", "fr"), ("Garonne Data", "en")):
        term = TermFactory(
            membership__cluster=cluster("digitalplace"),
            membership__organisation__name=name,
            year=2026,
        )
        ContactFactory(
            organisation=term.membership.organisation,
            role=ContactRole.PRIMARY,
            language=language,
        )
    sign_in(page, live_server, "/admin/members/reminder/")

    page.get_by_role("link", name="Voir et lancer le passage des relances").click()
    # Each click loads a page: wait for it (expect) before reading it.
    expect(page.get_by_role("heading", name="Passage des relances de DigitalPlace")).to_be_visible()
    counts = page.locator("table.reminder-pass-counts tbody tr").inner_text()
    assert counts.split() == ["J−30", "2", "0", "2", "1", "1", "0"]
    assert fits(page)

    page.get_by_role("button", name="M’envoyer un essai").nth(1).click()
    expect(page.locator(".messagelist")).to_contain_text("envoyé à staff@digitalplace.example")
    [test] = mailbox.wait_for(1)
    assert test["Subject"].startswith("[Test] Your DigitalPlace membership")

    page.get_by_role("link", name="Lancer le passage (2 relances à envoyer)…").click()
    expect(page.locator("#content-main")).to_contain_text(
        "Un e-mail envoyé ne peut pas être repris."
    )
    confirm = page.locator("#content-main").inner_text().replace("\xa0", " ")
    assert "2 relances vont être enregistrées dans le journal" in confirm
    assert "Un e-mail envoyé ne peut pas être repris." in confirm
    assert fits(page)
    page.get_by_role("button", name="Lancer le passage maintenant").click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Passage des relances de DigitalPlace lancé"
    )
    assert "/admin/members/reminder/" in page.url
