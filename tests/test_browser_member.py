"""A member's journey in a real browser (Debian's Chromium, driven by Playwright, against the live
server and a real SMTP server): sign in with the code read from the mailbox, renew, download the
invoice, switch to English; a member's day (pay the open invoice by card, then renew) at 1280 and
375 px, with only Stripe faked (tests/stripe_fake.py); every member page fitting the window at both
widths; and who may open which member URL."""

import datetime as dt
import io
import re
from urllib.parse import urlparse

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from pypdf import PdfReader

from members.formatting import long_date
from members.models import ContactRole, Invoice, Term
from members.services import contact_login_ensure
from members.services.billing import invoice_issue
from tests.factories import ContactFactory, MembershipFactory, OrganisationFactory, TermFactory
from tests.member_urls import member, member_urls, post_data, state
from tests.members.billing_helpers import bank_details_give
from tests.stripe_fake import stripe_fake_server

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


# --- A member's day, and every member page at 1280 and 375 px -------------------------------------

WIDTHS = {"desktop": 1280, "phone": 375}

#: What sticks out of the window, in the page: every visible element whose box passes its left or
#: right edge (the skip link waits off screen on purpose; visually hidden text is 1 px, clipped).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width) {
    out.push(`page: ${document.documentElement.scrollWidth} px wide`);
  }
  for (const element of document.querySelectorAll("body *")) {
    if (element.closest(".visually-hidden, .skip-link, script, style")) continue;
    const box = element.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    if (box.left < -1 || box.right > width + 1) {
      const text = (element.innerText || "").trim().slice(0, 40);
      out.push(`${element.tagName.toLowerCase()}.${element.className} ${Math.round(box.left)}`
        + `–${Math.round(box.right)} px: ${text}`);
    }
  }
  return out;
}"""


#: Where a line of the page, as laid out, starts with punctuation: a French colon, semicolon,
#: question or exclamation mark, closing quote or euro sign after a breakable space, put on the
#: next line by the window's width (they take a no-break space before them).
STRAY_PUNCTUATION = """() => {
  const found = [];
  const range = document.createRange();
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.data;
    if (node.parentElement.closest(".visually-hidden")) continue;
    for (let i = 1; i < text.length; i++) {
      if (!":;?!»€".includes(text[i]) || !" \\t\\n".includes(text[i - 1])) continue;
      let j = i - 1;
      while (j >= 0 && " \\t\\n".includes(text[j])) j--;
      if (j < 0) continue;
      range.setStart(node, i); range.setEnd(node, i + 1);
      const mark = range.getBoundingClientRect();
      range.setStart(node, j); range.setEnd(node, j + 1);
      const before = range.getBoundingClientRect();
      if (mark.height && before.height && mark.top >= before.bottom - 2) {
        found.push(text.slice(Math.max(0, j - 30), i + 1).replace(/\\s+/g, " "));
      }
    }
  }
  return found;
}"""


#: The text fields of the page squeezed narrower than a short word (a city's field beside the
#: postcode's on a phone).
NARROW_FIELDS = """() => Array.from(document.querySelectorAll(
    "main input:not([type=radio]):not([type=checkbox]):not([type=hidden]), "
    + "main select, main textarea"
  )).filter(field => field.getBoundingClientRect().width < 80)
    .map(field => `${field.name}: ${Math.round(field.getBoundingClientRect().width)} px`)"""


def looks_right(page, shots, name: str) -> None:
    """The page fits its window (nothing sticks out), no line of its text starts with stray
    punctuation (a comma left of a piece laid out apart, a colon wrapped to the next line), no
    field is squeezed, and its screenshot is saved."""
    page.wait_for_load_state()
    assert page.evaluate(OVERFLOW) == [], (name, page.url)
    lines = [line.strip() for line in page.locator("main").inner_text().split("\n")]
    assert [line for line in lines if re.match(r"[,;:.)»]", line)] == [], (name, page.url)
    assert page.evaluate(STRAY_PUNCTUATION) == [], (name, page.url)
    assert page.evaluate(NARROW_FIELDS) == [], (name, page.url)
    page.screenshot(path=shots / f"{name}.png", full_page=True)


def main_buttons(scope) -> list[str]:
    """The names of the main (filled) buttons in ``scope`` (the action to take first), as a
    screen reader says them."""
    buttons = scope.locator("a.button:not(.button-secondary), button.button:not(.button-secondary)")
    return [" ".join(label.split()) for label in buttons.all_inner_texts()]


@pytest.fixture
def card_payment(settings):
    """Card payment through the fake Stripe API, its Checkout page answered in the browser."""
    with stripe_fake_server() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = ["whsec_test_secret"]
        settings.STRIPE_API_BASE = fake.url
        yield fake


def stripe_pays(page, fake) -> None:
    """Stripe's Checkout page, in the browser: the customer pays and Stripe sends them back to
    the session's success URL, as it does."""

    def checkout_page(route):
        session_id = route.request.url.rsplit("/", 1)[-1]
        session = fake.pay(session_id)
        back = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        route.fulfill(status=303, headers={"Location": back})

    page.route("https://checkout.stripe.test/**", checkout_page)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_members_day_pay_the_open_invoice_by_card_then_renew(
    live_server, page, mailbox, card_payment, tmp_path, width
):
    page.set_viewport_size({"width": width, "height": 900})
    today = timezone.localdate()
    bank_details_give()
    organisation = OrganisationFactory(name="Garrigue Logiciels", headcount=35)
    membership = MembershipFactory(organisation=organisation, member_number="DP-0777")
    term = TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=330),
        end_date=today + dt.timedelta(days=34),
        is_paid=False,
    )
    invoice = invoice_issue(term=term)
    ContactFactory(
        organisation=organisation,
        email="ines@garrigue.example",
        first_name="Inès",
        last_name="Garrigue",
        job_title="Directrice administrative et financière",
        role=ContactRole.PRIMARY,
    )
    with translation.override("fr"):
        next_year = (
            long_date(today + dt.timedelta(days=35)),
            long_date(today.replace(year=today.year + 1) + dt.timedelta(days=34)),
        )

    # Signed in by code, the member sees what to do first: pay the open invoice, then renew.
    sign_in_by_code(page, live_server, mailbox, "ines@garrigue.example")
    card = page.locator("article.membership")
    assert card.locator(".badge").inner_text() == "En attente de paiement"
    assert card.get_by_role("heading", name="À faire, dans cet ordre").is_visible()
    steps = card.locator(".due-list > li")
    assert steps.count() == 2
    assert steps.nth(0).inner_text().startswith(f"Facture {invoice.number} : 300,00")
    assert (
        steps.nth(1)
        .inner_text()
        .startswith(
            f"Ensuite, le renouvellement pour la période du {next_year[0]} au {next_year[1]}"
        )
    )
    assert main_buttons(card) == [f"Payer la facture {invoice.number}"]
    looks_right(page, tmp_path, "1-area-invoice-first")

    # The invoice, paid by card on Stripe's page.
    steps.nth(0).get_by_role("link", name=f"Payer la facture {invoice.number}").click()
    page.get_by_role("heading", name=f"Facture {invoice.number}").wait_for()
    assert page.locator(".invoice-status").inner_text().strip() == "À payer"
    looks_right(page, tmp_path, "2-invoice-to-pay")
    stripe_pays(page, card_payment)
    page.get_by_role("button", name="Payer par carte").click()
    page.get_by_text("Paiement reçu, merci ! Votre facture est réglée.").wait_for()
    assert page.url == live_server.url + reverse("members:invoice_detail", args=[invoice.pk])
    assert page.locator(".invoice-status").inner_text().strip() == f"Payée le {long_date(today)}"
    assert page.get_by_role("link", name="Télécharger l’attestation d’adhésion (PDF)").is_visible()
    looks_right(page, tmp_path, "3-invoice-paid")

    # Back in the area: up to date, and the renewal is now the thing to do.
    page.get_by_role("link", name="Retour à l’espace adhérent").click()
    card = page.locator("article.membership")
    assert card.locator(".badge").inner_text() == "À jour"
    assert card.locator(".due-list").count() == 0
    assert main_buttons(card) == ["Renouveler l’adhésion à DigitalPlace"]
    assert card.get_by_text(
        f"Le renouvellement est ouvert pour la période du {next_year[0]} au {next_year[1]}."
    ).is_visible()
    looks_right(page, tmp_path, "4-area-renewal-open")

    # Renewed for next year: its invoice, then the area says it waits for its payment.
    card.get_by_role("link", name="Renouveler").click()
    looks_right(page, tmp_path, "5-renewal-details")
    page.get_by_role("link", name="Continuer").click()
    assert page.get_by_role("radio", checked=True).get_attribute("value") == str(
        membership.cluster.plans.get(name="PME").pk
    )
    looks_right(page, tmp_path, "6-renewal-plan")
    page.get_by_role("button", name="Continuer").click()
    looks_right(page, tmp_path, "7-renewal-confirm")
    page.get_by_role("button", name="Confirmer le renouvellement").click()
    renewal = Term.objects.get(membership=membership, start_date=today + dt.timedelta(days=35))
    page.get_by_text(f"Renouvellement enregistré : facture {renewal.invoice.number}").wait_for()
    assert page.get_by_role("heading", name=f"Facture {renewal.invoice.number}").is_visible()
    assert page.locator(".invoice-status").inner_text().strip() == "À payer"
    page.get_by_role("link", name="Retour à l’espace adhérent").click()
    card = page.locator("article.membership")
    assert card.locator(".badge").inner_text() == "À jour"
    assert card.get_by_text(
        f"Votre adhésion du {next_year[0]} au {next_year[1]} est enregistrée et attend son "
        "paiement."
    ).is_visible()
    assert card.get_by_role("heading", name="À régler").is_visible()
    assert main_buttons(card) == [f"Payer la facture {renewal.invoice.number}"]
    assert card.get_by_role("link", name="Renouveler").count() == 0
    looks_right(page, tmp_path, "8-area-renewed")
    assert Invoice.objects.get(pk=invoice.pk).is_paid
    assert (renewal.plan.name, renewal.is_paid) == ("PME", False)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_every_member_page_fits_the_window(
    live_server, page, mailbox, card_payment, tmp_path, width
):
    """Each page of the member area and of the member's account, with long names, titles and
    e-mails, at a desktop's and a phone's width: nothing sticks out, no stray punctuation, and a
    contact's title sits beside its label, under the name, not under the label."""
    page.set_viewport_size({"width": width, "height": 900})
    today = timezone.localdate()
    bank_details_give()
    organisation = OrganisationFactory(
        name="Société Coopérative des Logiciels Libres du Languedoc-Roussillon", headcount=35
    )
    membership = MembershipFactory(organisation=organisation, member_number="DP-0777")
    TermFactory(membership=membership, year=today.year - 1)
    term = TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=330),
        end_date=today + dt.timedelta(days=34),
        is_paid=False,
    )
    invoice = invoice_issue(term=term)
    contact = ContactFactory(
        organisation=organisation,
        email="ines.garrigue-de-montferrand@logiciels-libres-languedoc.example",
        first_name="Inès",
        last_name="Garrigue de Montferrand",
        job_title="Directrice administrative et financière",
        role=ContactRole.PRIMARY,
    )
    colleague = ContactFactory(
        organisation=organisation,
        first_name="Noé",
        last_name="Vidal",
        job_title="Responsable des partenariats",
        role=ContactRole.BILLING,
    )
    shots = tmp_path

    # Signed out: the sign-in page and the code's.
    page.goto(live_server.url + reverse("account_login"))
    looks_right(page, shots, "sign-in")
    page.get_by_role("textbox", name="Adresse e-mail").fill(contact.email)
    page.get_by_role("button", name="Recevoir un code de connexion").click()
    page.get_by_label("Code de connexion").wait_for()
    looks_right(page, shots, "sign-in-code")
    (message,) = mailbox.wait_for(1)
    page.get_by_label("Code de connexion").fill(CODE.search(mailbox.text(message))[1])
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(live_server.url + reverse("members:area"))

    # The contacts: the title under the name, in the value's column on a phone.
    row = page.locator(".contacts-table tbody tr").filter(has_text="Noé Vidal")
    name, title = row.locator(".contact-name"), row.locator(".contact-title")
    assert title.inner_text() == "Responsable des partenariats"
    assert title.bounding_box()["x"] == name.bounding_box()["x"]
    assert title.bounding_box()["y"] > name.bounding_box()["y"]
    assert "," not in row.locator("th").inner_text()

    plan = membership.cluster.plans.get(name="PME")
    for name, url in (
        ("area", reverse("members:area")),
        ("organisation-edit", reverse("members:organisation_edit", args=[organisation.pk])),
        ("contact-add", reverse("members:contact_add", args=[organisation.pk])),
        ("contact-edit", reverse("members:contact_edit", args=[organisation.pk, colleague.pk])),
        ("contact-edit-own", reverse("members:contact_edit", args=[organisation.pk, contact.pk])),
        ("contact-remove", reverse("members:contact_remove", args=[organisation.pk, colleague.pk])),
        ("renewal-details", reverse("members:renewal_details", args=[membership.pk])),
        ("renewal-plan", reverse("members:renewal_plan", args=[membership.pk])),
        (
            "renewal-confirm",
            reverse("members:renewal_confirm", args=[membership.pk]) + f"?plan={plan.pk}",
        ),
        ("invoice", reverse("members:invoice_detail", args=[invoice.pk])),
        ("account-email", "/accounts/email/"),
        ("account-password", "/accounts/password/set/"),
    ):
        assert page.goto(live_server.url + url).status == 200, url
        looks_right(page, shots, name)
