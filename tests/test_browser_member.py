"""A member's journey in a real browser (Debian's Chromium, driven by Playwright, against the live
server and a real SMTP server): sign in with the code read from the mailbox, renew, download the
invoice, switch to English; and who may open which member URL."""

import datetime as dt
import io
import re
from urllib.parse import urlparse

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from members.models import ContactRole, Invoice, Term
from members.services import contact_login_ensure
from tests.factories import ContactFactory, MembershipFactory, OrganisationFactory, TermFactory
from tests.member_urls import member, member_urls, post_data, state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODE = re.compile(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", re.MULTILINE)


def sign_in_by_code(page, live_server, mailbox, email: str) -> None:
    """Sign in from the home page with a code, as a member does: the code comes from the mail."""
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Se connecter à l’espace adhérent").click()
    page.get_by_role("textbox", name="Adresse e-mail").fill(email)
    page.get_by_role("button", name="Recevoir un code de connexion").click()
    page.get_by_label("Code de connexion").wait_for()
    (message,) = mailbox.wait_for(1)
    assert message["X-Envelope-To"] == email
    code = CODE.search(mailbox.text(message))[1]
    page.get_by_label("Code de connexion").fill(code)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(live_server.url + reverse("members:area"))


def test_a_member_signs_in_by_code_renews_downloads_the_invoice_and_reads_it_in_english(
    live_server, page, mailbox, tmp_path
):
    today = timezone.localdate()
    organisation = OrganisationFactory(name="Garrigue Logiciels", headcount=35)
    membership = MembershipFactory(organisation=organisation, member_number="DP-0777")
    TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=330),
        end_date=today + dt.timedelta(days=34),
    )
    ContactFactory(
        organisation=organisation, email="ines@garrigue.example", role=ContactRole.PRIMARY
    )

    sign_in_by_code(page, live_server, mailbox, "ines@garrigue.example")

    assert page.get_by_role("heading", name="Mon espace adhérent").is_visible()
    assert page.get_by_role("heading", name="Garrigue Logiciels").is_visible()
    assert page.get_by_text("DP-0777").is_visible()
    page.get_by_role("link", name="Renouveler").click()
    page.get_by_role("link", name="Continuer").click()
    # 35 people: the SME plan is suggested, and checked.
    suggested = page.get_by_role("radio", checked=True)
    assert suggested.get_attribute("value") == str(membership.cluster.plans.get(name="PME").pk)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("button", name="Confirmer le renouvellement").click()

    invoice = Invoice.objects.get(term__membership=membership)
    page.wait_for_url(live_server.url + reverse("members:invoice_detail", args=[invoice.pk]))
    assert invoice.number == f"DP-{today.year}-00001"
    assert page.get_by_role("heading", name=f"Facture {invoice.number}").is_visible()
    renewal = Term.objects.get(invoice=invoice)
    assert (renewal.plan.name, renewal.is_paid) == ("PME", False)
    assert renewal.start_date == today + dt.timedelta(days=35)
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger la facture (PDF)").click()
    assert download.value.suggested_filename == f"facture-{invoice.number}.pdf"
    path = tmp_path / "facture.pdf"
    download.value.save_as(path)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert invoice.number in text
    assert "Garrigue Logiciels" in text
    assert "600,00 €" in text.replace("\xa0", " ")

    page.get_by_role("button", name="English").click()
    page.wait_for_selector("html[lang=en]")
    assert page.get_by_role("heading", name=f"Invoice {invoice.number}").is_visible()
    assert page.get_by_role("link", name="Download the invoice (PDF)").is_visible()
    page.get_by_role("link", name="Member area").first.click()
    assert page.get_by_role("heading", name="My member area").is_visible()
    page.screenshot(path=tmp_path / "area-en.png", full_page=True)


def test_an_anonymous_visitor_is_sent_to_sign_in_from_every_member_url(live_server, page):
    _contact, term, colleague = member("Organisation B", "b@example.org")
    before = state(term.membership.organisation)
    page.goto(live_server.url + "/")  # the visitor's CSRF cookie, so that a POST gets that far
    csrf = _csrf_token(page)
    for method, url in member_urls(term, colleague):
        if method == "get":
            page.goto(live_server.url + url)
            landed = urlparse(page.url).path
        else:
            response = page.request.post(
                live_server.url + url,
                form={k: str(v) for k, v in post_data(term, colleague).items()},
                headers={"X-CSRFToken": csrf, "Referer": live_server.url + "/"},
                max_redirects=0,
            )
            assert response.status == 302, (url, response.status)
            landed = urlparse(response.headers["location"]).path
        assert landed.startswith(reverse("account_login")), (method, url, landed)
    assert _visible_sign_in_form(page)
    assert state(term.membership.organisation) == before


def _visible_sign_in_form(page) -> bool:
    return page.get_by_role("button", name="Recevoir un code de connexion").is_visible()


def _csrf_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


def test_a_contact_of_a_gets_403_or_404_on_every_member_url_with_the_identifiers_of_b(
    live_server, page
):
    contact_a, _term_a, _colleague_a = member("Organisation A", "a@example.org")
    contact_login_ensure(contact=contact_a, password="mot-de-passe-a-1")
    _contact_b, term_b, colleague_b = member("Organisation B", "b@example.org")
    before = state(term_b.membership.organisation)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_text("Se connecter avec un mot de passe").click()
    password_form = page.locator("details#mot-de-passe form")
    password_form.get_by_label("Adresse e-mail").fill("a@example.org")
    password_form.get_by_label("Mot de passe").fill("mot-de-passe-a-1")
    page.get_by_role("button", name="Se connecter avec le mot de passe").click()
    page.wait_for_url(live_server.url + reverse("members:area"))
    csrf = _csrf_token(page)

    for method, url in member_urls(term_b, colleague_b):
        if url == reverse("members:area"):
            continue  # names no organisation: it shows A's only, checked below
        if method == "get":
            status = page.goto(live_server.url + url).status
        else:
            status = page.request.post(
                live_server.url + url,
                form={k: str(v) for k, v in post_data(term_b, colleague_b).items()},
                headers={"X-CSRFToken": csrf, "Referer": live_server.url + "/"},
                max_redirects=0,
            ).status
        assert status in (403, 404), (method, url, status)
    assert state(term_b.membership.organisation) == before

    page.goto(live_server.url + reverse("members:area"))
    assert page.get_by_role("heading", name="Organisation A").is_visible()
    assert page.get_by_text("Organisation B").count() == 0
