"""Renewal: the membership year it covers, the plan it suggests, the three steps of the member
area, what each step says when the membership cannot be renewed, one term and one invoice however
many clicks, tabs or colleagues, and the signed renewal link of reminders."""

import datetime as dt
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core import signing
from django.db import connection
from django.test import Client
from django.urls import reverse

from cluster.celery import app as celery_app
from members.models import ContactRole, Invoice, Plan, PlanCategory, Term
from members.services import contact_login_ensure
from members.services.billing import invoice_issue
from members.services.renewals import (
    RenewalState,
    membership_renew,
    plan_suggested,
    renewal_link_read,
    renewal_link_token,
    renewal_opens_on,
    renewal_outlook,
    renewal_period,
    renewal_url,
)
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    cluster,
)

pytestmark = pytest.mark.django_db

D = dt.date
PARIS = ZoneInfo("Europe/Paris")
# Mid-November 2026: renewals of terms ending on 31 December 2026 are open (90 days before).
TODAY = D(2026, 11, 15)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 15, 10, tzinfo=PARIS), tick=False)
    return TODAY


def plan(slug: str, category: str) -> Plan:
    return Plan.objects.get(cluster__slug=slug, category=category)


@pytest.fixture
def member(client):
    """A primary contact of a DigitalPlace member (12 people, Startup plan) whose 2026 term is
    paid, signed in; returns its contact."""
    organisation = OrganisationFactory(name="Octo Sud", address_line1="3 rue du Pont", headcount=12)
    membership = MembershipFactory(organisation=organisation, member_number="DP-0042")
    TermFactory(membership=membership, year=2026, plan=plan("digitalplace", "startup"))
    contact = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    return contact


def latest_term(contact) -> Term:
    return Term.objects.filter(membership__organisation=contact.organisation).latest("start_date")


def urls(membership_id: int) -> dict[str, str]:
    return {
        step: reverse(f"members:renewal_{step}", args=[membership_id])
        for step in ("details", "plan", "confirm")
    }


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def confirm(client, term: Term, plan_id: int | None = None):
    return client.post(
        urls(term.membership_id)["confirm"],
        {"after": term.pk, "plan": plan_id or term.plan_id},
    )


# --- The membership year, when renewals open, the plan suggested ---------------------------------


@pytest.mark.parametrize(
    ("start", "end", "today", "expected"),
    [
        # A calendar year renews for the next calendar year, before or after it ends.
        (D(2026, 1, 1), D(2026, 12, 31), D(2026, 11, 15), (D(2027, 1, 1), D(2027, 12, 31))),
        (D(2026, 1, 1), D(2026, 12, 31), D(2027, 1, 20), (D(2027, 1, 1), D(2027, 12, 31))),
        # An anniversary term keeps its anniversary.
        (D(2026, 4, 1), D(2027, 3, 31), D(2027, 2, 1), (D(2027, 4, 1), D(2028, 3, 31))),
        (D(2025, 9, 15), D(2026, 9, 14), D(2026, 9, 1), (D(2026, 9, 15), D(2027, 9, 14))),
        # A lapsed membership renews for the year that has not ended yet, not for years past.
        (D(2023, 1, 1), D(2023, 12, 31), D(2026, 6, 1), (D(2026, 1, 1), D(2026, 12, 31))),
        (D(2023, 4, 1), D(2024, 3, 31), D(2026, 6, 1), (D(2026, 4, 1), D(2027, 3, 31))),
    ],
)
def test_renewal_period(start, end, today, expected):
    term = TermFactory(start_date=start, end_date=end)
    assert renewal_period(after=term, today=today) == expected


def test_renewal_opens_90_days_before_the_end_of_the_term(settings):
    term = TermFactory(year=2026)
    assert renewal_opens_on(after=term) == D(2026, 10, 2)
    settings.RENEWAL_OPENS_DAYS_BEFORE = 30
    assert renewal_opens_on(after=term) == D(2026, 12, 1)


@pytest.mark.parametrize(
    ("headcount", "current", "expected"),
    [
        (5, None, PlanCategory.STARTUP),
        (12, PlanCategory.STARTUP, PlanCategory.STARTUP),
        (30, PlanCategory.STARTUP, PlanCategory.SME),  # grew out of its band
        (19, PlanCategory.SME, PlanCategory.STARTUP),  # shrank below its band
        (300, PlanCategory.SME, PlanCategory.LARGE),
        (300, PlanCategory.ACADEMIC, PlanCategory.ACADEMIC),  # a lab stays academic
        (2, PlanCategory.ACADEMIC, PlanCategory.ACADEMIC),
        (1, PlanCategory.FREELANCE, PlanCategory.FREELANCE),
        (None, PlanCategory.SME, PlanCategory.SME),  # headcount unknown: keep the plan
    ],
)
def test_plan_suggested_from_headcount(headcount, current, expected):
    plans = list(Plan.objects.filter(cluster__slug="digitalplace").order_by("position"))
    current_plan = plan("digitalplace", current) if current else None
    suggested = plan_suggested(plans=plans, headcount=headcount, current=current_plan)
    assert suggested.category == expected


@pytest.mark.parametrize(
    ("membership_kwargs", "term_kwargs", "expected"),
    [
        ({}, {"year": 2026}, RenewalState.OPEN),
        ({}, {"year": 2024}, RenewalState.OPEN),  # lapsed: renews for the current year
        ({}, {"start_date": D(2026, 6, 1), "end_date": D(2027, 5, 31)}, RenewalState.NOT_OPEN_YET),
        ({}, {"year": 2027, "is_paid": False}, RenewalState.PENDING_PAYMENT),
        ({"cancelled_on": D(2026, 6, 30)}, {"year": 2026}, RenewalState.CANCELLED),
        ({"transferred_on": D(2026, 10, 1)}, {"year": 2026}, RenewalState.TRANSFERRED),
        ({"cancelled_on": D(2027, 1, 1)}, {"year": 2026}, RenewalState.OPEN),  # not yet
        ({}, None, RenewalState.NO_TERM),
    ],
)
def test_renewal_outlook(membership_kwargs, term_kwargs, expected):
    membership = MembershipFactory(**membership_kwargs)
    term = TermFactory(membership=membership, **term_kwargs) if term_kwargs is not None else None
    outlook = renewal_outlook(membership=membership, latest=term, today=TODAY)
    assert outlook.state == expected
    assert outlook.is_open == (expected == RenewalState.OPEN)


# --- The three steps ------------------------------------------------------------------------------


def test_step_1_shows_the_details_to_check_and_leads_to_the_plans(client, member):
    term = latest_term(member)
    response = client.get(urls(term.membership_id)["details"])
    page = response.content.decode()
    assert response.status_code == 200
    for text in ("Octo Sud", "3 rue du Pont", "12 personnes", "1. Vos informations", "Continuer"):
        assert text in page
    assert 'aria-current="step"' in page
    assert urls(term.membership_id)["plan"] in page
    edit = reverse("members:organisation_edit", args=[member.organisation_id])
    assert f"{edit}?next=" in page  # a primary contact may correct them, and come back


def test_each_step_says_what_is_due_comes_first_and_leads_to_it(client, member, settings):
    term = latest_term(member)
    assert "renewal-dues" not in client.get(urls(term.membership_id)["details"]).content.decode()
    older = TermFactory(membership=term.membership, year=2025, is_paid=False)
    invoice = invoice_issue(term=older, on=D(2025, 1, 10))
    TermFactory(membership=term.membership, year=2024, is_paid=False)  # imported, no invoice

    sme = plan("digitalplace", "sme")
    for step, query in (("details", ""), ("plan", ""), ("confirm", f"?plan={sme.pk}")):
        page = client.get(urls(term.membership_id)[step] + query).content.decode()
        text = re.sub(r"[ \t\r\n]+", " ", page.replace("&nbsp;", "\xa0"))
        assert (
            "2 paiements de cette adhésion sont encore en attente\xa0: réglez-les d’abord. Le "
            "renouvellement ajoutera sa propre facture, sans régler celles-ci." in text
        ), step
        assert f'href="{reverse("members:invoice_detail", args=[invoice.pk])}"' in page
        assert f"Facture {invoice.number} : 300,00\xa0€" in text
        assert "Cotisation du 1er janvier 2024 au 31 décembre 2024" in text
        assert page.index("Cotisation du 1er janvier 2024") < page.index(invoice.number)

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(urls(term.membership_id)["details"]).content.decode()
    assert "2 payments of this membership are still due: pay them first." in page


def test_step_1_tells_other_contacts_to_ask_their_primary_contact(client, member):
    colleague = ContactFactory(organisation=member.organisation, role=ContactRole.BILLING)
    user, _created = contact_login_ensure(contact=colleague)
    client.force_login(user)
    page = client.get(urls(latest_term(member).membership_id)["details"]).content.decode()
    assert "Seul un contact principal" in page
    assert member.email in page
    assert reverse("members:organisation_edit", args=[member.organisation_id]) not in page


def test_step_2_lists_the_active_plans_with_the_suggested_one_checked(client, member):
    term = latest_term(member)
    sme = plan("digitalplace", "sme")
    retired = Plan.objects.create(
        cluster=cluster("digitalplace"),
        name="Ancienne formule",
        category="sme",
        annual_fee=1,
        is_active=False,
    )
    member.organisation.headcount = 40
    member.organisation.save()
    response = client.get(urls(term.membership_id)["plan"])
    page = response.content.decode()
    active = Plan.objects.filter(cluster__slug="digitalplace", is_active=True)
    for each in active:
        assert f'value="{each.pk}"' in page
        assert each.name in page
    assert f'value="{retired.pk}"' not in page
    assert f'value="{sme.pk}" id="plan-{sme.pk}" checked' in page
    assert page.count("Suggérée pour votre effectif") == 1
    assert "600,00\xa0€ par an" in page
    assert "De 20 à 249 personnes" in page
    assert f'action="{urls(term.membership_id)["confirm"]}"' in page
    assert 'method="get"' in page


def test_step_3_sums_up_and_renewing_leads_to_the_invoice(client, member):
    term = latest_term(member)
    sme = plan("digitalplace", "sme")
    page = client.get(urls(term.membership_id)["confirm"], {"plan": sme.pk}).content.decode()
    for text in (
        "DigitalPlace",
        "du 1er janvier 2027 au 31 décembre 2027",
        "PME",
        "600,00",
        "Octo Sud",
    ):
        assert text in page
    assert f'name="after" value="{term.pk}"' in page
    assert f'name="plan" value="{sme.pk}"' in page

    response = confirm(client, term, sme.pk)
    renewal = latest_term(member)
    invoice = Invoice.objects.get(term=renewal)
    assert response.status_code == 302
    assert response.url == reverse("members:invoice_detail", args=[invoice.pk])
    assert messages_of(response) == ["Renouvellement enregistré : facture DP-2026-00001"]
    assert (renewal.start_date, renewal.end_date) == (D(2027, 1, 1), D(2027, 12, 31))
    assert (renewal.plan, renewal.fee, renewal.is_paid) == (sme, Decimal("600.00"), False)
    assert invoice.amount == Decimal("600.00")


def test_renewing_e_mails_the_invoice_once_after_commit(
    client, member, django_capture_on_commit_callbacks
):
    term = latest_term(member)
    with django_capture_on_commit_callbacks() as callbacks:
        confirm(client, term)
    assert len(callbacks) == 1  # members.tasks.invoice_notice_send, queued after commit
    with django_capture_on_commit_callbacks() as callbacks:
        confirm(client, term)  # already renewed: no second e-mail
    assert callbacks == []


def test_step_3_without_a_plan_sends_back_to_step_2(client, member):
    term = latest_term(member)
    other_cluster = plan("frenchsouth", "sme")
    for query in ({}, {"plan": "x"}, {"plan": other_cluster.pk}):
        response = client.get(urls(term.membership_id)["confirm"], query)
        assert response.status_code == 302
        assert response.url == urls(term.membership_id)["plan"]


def test_a_refused_renewal_goes_back_with_the_reason(client, member):
    term = latest_term(member)
    startup = term.plan
    startup.is_active = False
    startup.save()
    response = confirm(client, term, startup.pk)
    assert response.status_code == 302
    assert response.url == f"{urls(term.membership_id)['confirm']}?plan={startup.pk}"
    assert messages_of(response) == ["Cette formule n’est pas proposée par DigitalPlace."]
    assert latest_term(member) == term


def test_a_double_post_makes_one_term_and_one_invoice(client, member):
    term = latest_term(member)
    first = confirm(client, term)
    second = confirm(client, term)
    assert Term.objects.filter(membership=term.membership).count() == 2
    assert Invoice.objects.filter(term__membership=term.membership).count() == 1
    assert second.url == first.url
    assert messages_of(second)[-1] == (
        "Cette adhésion a déjà été renouvelée : voici la facture DP-2026-00001."
    )


@pytest.mark.django_db(transaction=True)
def test_two_colleagues_renewing_at_once_make_one_term_and_one_invoice(postgresql):
    """Each colleague in their own thread, database connection and browser session, started
    together, several times over (one organisation per round)."""
    rounds = []
    for n in range(5):
        membership = MembershipFactory(organisation__name=f"Course {n}")
        term = TermFactory(membership=membership, year=2026)
        browsers = []
        for role in (ContactRole.PRIMARY, ContactRole.MEMBER):
            contact = ContactFactory(organisation=membership.organisation, role=role)
            browser = Client()
            browser.force_login(contact_login_ensure(contact=contact)[0])
            browsers.append(browser)
        rounds.append((term, browsers))

    def race(term, browsers) -> list[str]:
        start = threading.Barrier(len(browsers))

        def renew(browser):
            start.wait()
            try:
                return confirm(browser, term).url
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
            return list(pool.map(renew, browsers))

    try:
        for term, browsers in rounds:
            first, second = race(term, browsers)
            renewals = Term.objects.filter(membership=term.membership, start_date__gt=term.end_date)
            assert renewals.count() == 1
            invoice = Invoice.objects.get(term__membership=term.membership)
            assert first == second == reverse("members:invoice_detail", args=[invoice.pk])
        numbers = sorted(Invoice.objects.values_list("number", flat=True))
        assert numbers == [f"DP-2026-{n:05d}" for n in range(1, 6)]
    finally:
        celery_app.control.purge()  # the invoice e-mails queued on commit


# --- What each step says when the membership cannot be renewed ----------------------------------


def assert_every_step_says(client, term: Term, text: str) -> None:
    for step, url in urls(term.membership_id).items():
        response = client.get(url, {"plan": term.plan_id})
        page = response.content.decode()
        assert response.status_code == 200, step
        assert text in page, step
        assert "Continuer" not in page and "Confirmer le renouvellement" not in page, step
        assert "Étapes du renouvellement" not in page, step


def test_not_open_yet(client, member):
    term = latest_term(member)
    term.start_date, term.end_date = D(2026, 6, 1), D(2027, 5, 31)
    term.save()
    assert_every_step_says(client, term, "Le renouvellement ouvrira le 2 mars 2027.")
    response = confirm(client, term)
    assert messages_of(response) == ["Le renouvellement ouvrira le 02/03/2027."]
    assert latest_term(member) == term


def test_cancelled(client, member):
    term = latest_term(member)
    term.membership.cancelled_on = D(2026, 9, 30)
    term.membership.save()
    assert_every_step_says(client, term, "Cette adhésion a été résiliée le 30 septembre 2026.")
    confirm(client, term)
    assert latest_term(member) == term


def test_transferred(client, member):
    term = latest_term(member)
    term.membership.transferred_on = D(2026, 10, 1)
    term.membership.save()
    assert_every_step_says(client, term, "transférée au cluster successeur le 1er octobre 2026")
    confirm(client, term)
    assert latest_term(member) == term


def test_already_renewed_each_step_leads_to_the_invoice_to_pay(client, member):
    term = latest_term(member)
    renewal = membership_renew(membership=term.membership, after=term, plan=term.plan)
    detail = reverse("members:invoice_detail", args=[renewal.invoice.pk])
    assert_every_step_says(client, term, "attend son paiement")
    page = client.get(urls(term.membership_id)["details"]).content.decode()
    assert f'href="{detail}"' in page
    assert "Voir et payer la facture DP-2026-00001" in page


# --- The signed renewal link ---------------------------------------------------------------------


def test_renewal_link_token_names_the_term_and_the_e_mail_and_resists_tampering(member):
    term = latest_term(member)
    token = renewal_link_token(term=term, email=" Camille@Example.ORG ")
    assert renewal_link_read(token=token) == (term.pk, "camille@example.org")
    for tampered in (token[:-1], token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "x"):
        with pytest.raises(signing.BadSignature):
            renewal_link_read(token=tampered)
    other_salt = signing.dumps([term.pk, "camille@example.org"], salt="another")
    with pytest.raises(signing.BadSignature):
        renewal_link_read(token=other_salt)


def test_renewal_url_is_absolute_on_site_url(member, settings):
    settings.SITE_URL = "https://adhesions.example.org/"
    term = latest_term(member)
    url = renewal_url(term=term, email=member.email)
    token = renewal_link_token(term=term, email=member.email)
    assert url == f"https://adhesions.example.org/renouveler/{token}/"


def link(term: Term, email: str) -> str:
    return reverse("members:renewal_link", args=[renewal_link_token(term=term, email=email)])


def test_renewal_link_sends_an_anonymous_visitor_to_the_code_request_with_the_e_mail(member):
    visitor = Client()
    url = link(latest_term(member), member.email)
    response = visitor.get(url)
    assert response.status_code == 302
    target = urlparse(response.url)
    assert target.path == reverse("account_request_login_code")
    assert parse_qs(target.query) == {"next": [url]}
    assert visitor.session["members_login_email"] == member.email
    code_request = visitor.get(response.url).content.decode()
    assert f'value="{member.email}"' in code_request


def test_renewal_link_leads_a_signed_in_contact_to_the_renewal(client, member):
    term = latest_term(member)
    response = client.get(link(term, member.email))
    assert response.status_code == 302
    assert response.url == urls(term.membership_id)["details"]


def test_renewal_link_once_renewed_leads_to_the_renewal_invoice(client, member):
    term = latest_term(member)
    renewal = membership_renew(membership=term.membership, after=term, plan=term.plan)
    response = client.get(link(term, member.email))
    assert response.status_code == 302
    assert response.url == reverse("members:invoice_detail", args=[renewal.invoice.pk])
    assert messages_of(response) == [
        "Cette adhésion a déjà été renouvelée pour la période du 01/01/2027 au 31/12/2027."
    ]
    assert Term.objects.filter(membership=term.membership).count() == 2


def test_renewal_link_tampered_is_a_friendly_404(client, member):
    token = renewal_link_token(term=latest_term(member), email=member.email)
    for tampered in (token[:-3], token.replace(":", ":x", 1)):
        response = client.get(reverse("members:renewal_link", args=[tampered]))
        page = response.content.decode()
        assert response.status_code == 404
        assert "Ce lien de renouvellement n’est pas valide" in page
        assert reverse("members:area") in page
    anonymous = Client().get(reverse("members:renewal_link", args=[token[:-3]]))
    assert anonymous.status_code == 404
    assert reverse("account_login") in anonymous.content.decode()


def test_renewal_link_of_another_organisation_is_404(client, member):
    other = TermFactory(year=2026)
    response = client.get(link(other, member.email))
    assert response.status_code == 404


# --- Anonymous visitors and other organisations' identifiers ------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(member):
    visitor = Client()
    term = latest_term(member)
    for url in urls(term.membership_id).values():
        for method in ("get", "post"):
            if method == "post" and not url.endswith("/confirmer/"):
                continue
            response = getattr(visitor, method)(url, {"after": term.pk, "plan": term.plan_id})
            assert response.status_code == 302
            assert response.url.startswith(reverse("account_login") + "?next=")
    assert Term.objects.filter(membership=term.membership).count() == 1


def test_another_organisations_membership_is_404_at_every_step(client, member):
    other = TermFactory(year=2026)
    for url in urls(other.membership_id).values():
        assert client.get(url, {"plan": other.plan_id}).status_code == 404
    assert confirm(client, other).status_code == 404
    # Nor may its term be named after one's own membership.
    own = latest_term(member)
    response = client.post(urls(own.membership_id)["confirm"], {"after": other.pk, "plan": 1})
    assert response.status_code == 404
    assert Term.objects.count() == 2
