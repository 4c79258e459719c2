"""Credit notes in a real browser: a cluster's staff open an invoice, issue a credit note for
part of it (a malformed amount first, which the page refuses), then one for the rest that
invoices the period again at a corrected fee; the member then sees the first invoice cancelled,
with its credit notes, and nothing to pay on it."""

import datetime as dt

import pytest
from django.urls import reverse

from members.models import ContactRole, CreditNote, Invoice
from members.roles import MEMBERSHIP_STAFF
from members.services import contact_login_ensure, staff_user_ensure
from members.services.billing import invoice_issue
from tests.members.billing_helpers import contact, legal_details, unpaid_term

# Transactional (live_server): conftest restores the clusters and plans of the data migration.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_reduce_then_correct_an_invoice_and_the_member_sees_it(live_server, page):
    cluster = legal_details("digitalplace")
    term = unpaid_term(year=dt.date.today().year, fee="300.00", organisation__name="Garonne Data")
    invoice = invoice_issue(term=term)
    contact_login_ensure(
        contact=contact(term, "camille@garonne.example", role=ContactRole.PRIMARY),
        password="mot-de-passe-c-1",
    )
    staff_user_ensure(
        email="tresorier@digitalplace.example",
        password="browser-test-pw",
        roles=[MEMBERSHIP_STAFF],
        clusters=[cluster],
    )
    page.goto(live_server.url + f"/admin/login/?next=/admin/members/invoice/{invoice.pk}/change/")
    page.fill("#id_username", "tresorier@digitalplace.example")
    page.fill("#id_password", "browser-test-pw")
    page.get_by_role("button", name="Connexion").click()

    page.get_by_role("link", name="Émettre un avoir").click()
    assert page.get_by_label("Montant de l’avoir (€)").input_value() == "300,00"
    page.get_by_label("Montant de l’avoir (€)").fill("12,345")
    page.get_by_label("Motif").fill("Remise membre fondateur")
    page.get_by_role("button", name="Émettre l’avoir").click()
    assert "2 chiffres après la virgule" in page.locator(".errorlist").inner_text()
    page.get_by_label("Montant de l’avoir (€)").fill("100")
    page.get_by_role("button", name="Émettre l’avoir").click()
    assert "Avoir DP-AV-" in page.locator(".messagelist").inner_text()
    assert "200,00" in page.locator(".field-amount_due_display").inner_text()

    page.get_by_role("link", name="Émettre un avoir").click()
    page.get_by_label("Motif").fill("Mauvaise formule")
    page.get_by_label("refacturer la période au montant corrigé").check()
    page.get_by_label("Montant corrigé (€)").fill("150")
    page.get_by_role("button", name="Émettre l’avoir").click()
    assert "Période refacturée" in page.locator(".messagelist").inner_text()
    reissued = Invoice.objects.exclude(pk=invoice.pk).get()
    assert page.url.endswith(f"/admin/members/invoice/{reissued.pk}/change/")
    assert CreditNote.objects.count() == 2

    # The member, in a browser of their own.
    member = page.context.browser.new_context(locale="fr-FR").new_page()
    try:
        member.goto(live_server.url + "/accounts/login/")
        member.get_by_text("Se connecter avec un mot de passe").click()
        password_form = member.locator("details#mot-de-passe form")
        password_form.get_by_label("Adresse e-mail").fill("camille@garonne.example")
        password_form.get_by_label("Mot de passe").fill("mot-de-passe-c-1")
        member.get_by_role("button", name="Se connecter avec le mot de passe").click()
        member.wait_for_url(live_server.url + reverse("members:area"))
        member.goto(live_server.url + reverse("members:invoice_detail", args=[invoice.pk]))
        text = member.locator("main").inner_text()
        assert "Cette facture est annulée par l’avoir" in text
        assert "Régler cette facture" not in text and "IBAN" not in text
        first = CreditNote.objects.order_by("pk").first()
        with member.expect_download() as download:
            member.get_by_role("link", name=first.number).click()
        assert download.value.suggested_filename == f"avoir-{first.number}.pdf"
    finally:
        member.context.close()
