"""The member area: what a contact sees of each of its organisations (memberships, statuses,
numbers, terms, invoices, contacts), in a number of queries that does not grow with the data."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import ContactRole, Invoice
from members.services import contact_login_ensure, staff_user_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    OrganisationFactory,
    TermFactory,
    UserFactory,
    cluster,
)

pytestmark = pytest.mark.django_db

D = dt.date
AREA = reverse("members:area")


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 15, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
    return D(2026, 11, 15)


def paid_term(membership, year: int):
    """A term of ``year`` with its invoice, paid on 20 January."""
    term = TermFactory(membership=membership, year=year, is_paid=False)
    invoice = invoice_issue(term=term, on=D(year, 1, 10))
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(year, 1, 20))
    term.refresh_from_db()
    return term


def sign_in(client, contact):
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    return user


def text_of(response) -> str:
    """The page's text, tags removed and blanks collapsed (no-break spaces kept)."""
    html = response.content.decode().replace("&nbsp;", "\xa0")
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def two_organisations(client):
    """Camille, primary contact of Octo Sud (member of both source clusters) and billing contact
    of Lab Est (DigitalPlace, transferred to the Grand Cluster), signed in."""
    octo = OrganisationFactory(name="Octo Sud", siret="73282932000074", city="Toulouse")
    dp = MembershipFactory(organisation=octo, member_number="DP-0042", member_since=D(2019, 3, 1))
    paid_term(dp, 2025)
    paid_term(dp, 2026)
    fs = MembershipFactory(organisation=octo, cluster=cluster("frenchsouth"), member_number="FS-7")
    unpaid = TermFactory(membership=fs, year=2026, is_paid=False)
    invoice_issue(term=unpaid, on=D(2026, 2, 1))
    camille = ContactFactory(
        organisation=octo,
        first_name="Camille",
        last_name="Roux",
        email="camille@octo.example",
        role=ContactRole.PRIMARY,
    )
    ContactFactory(
        organisation=octo,
        first_name="Léa",
        last_name="Blanc",
        email="lea@octo.example",
        role=ContactRole.BILLING,
    )

    lab = OrganisationFactory(name="Lab Est")
    old = MembershipFactory(organisation=lab, member_number="DP-0100", transferred_on=D(2026, 9, 1))
    paid_term(old, 2026)
    successor = MembershipFactory(
        organisation=lab, cluster=cluster("grand-cluster"), member_number="GC-0001"
    )
    TermFactory(membership=successor, start_date=D(2026, 9, 1), end_date=D(2027, 8, 31))
    camille_at_lab = ContactFactory(
        organisation=lab,
        email="camille@octo.example",
        role=ContactRole.BILLING,
        first_name="Camille",
    )
    ContactFactory(organisation=lab, email="chef@lab.example", role=ContactRole.PRIMARY)
    sign_in(client, camille)
    contact_login_ensure(contact=camille_at_lab)  # the same account: one e-mail, two contacts
    return octo, lab


def test_a_contact_of_two_organisations_sees_what_it_needs(client, two_organisations):
    octo, _lab = two_organisations
    response = client.get(AREA)
    assert response.status_code == 200
    page = response.content.decode()
    text = text_of(response)
    # Each organisation, with its details.
    for expected in ("Octo Sud", "73282932000074", "Toulouse", "Lab Est", "12 personnes"):
        assert expected in text
    # Each membership: cluster, status in words, number, seniority, current term.
    for expected in (
        "Adhésion à DigitalPlace",
        "Adhésion à FrenchSouth.digital",
        "Adhésion à Grand Cluster Occitanie",
        "DP-0042",
        "FS-7",
        "DP-0100",
        "GC-0001",
        "1er mars 2019",
        "Période en cours du 1er janvier 2026 au 31 décembre 2026",
        "Transférée le 1er septembre 2026",
    ):
        assert expected in text, expected
    assert 'class="badge badge-current">À jour<' in page
    assert 'class="badge badge-pending">En attente de paiement<' in page
    assert 'class="badge badge-transferred">Transférée<' in page
    # The history of terms, its invoices and certificates.
    assert "Payée le 20/01/2025" in text and "Payée le 20/01/2026" in text
    for number in ("DP-2025-00001", "DP-2026-00001", "FS-2026-00001"):
        assert number in text
    dp_2026 = octo.memberships.get(member_number="DP-0042").terms.get(start_date__year=2026)
    assert reverse("members:invoice_pdf", args=[dp_2026.invoice.pk]) in page
    assert reverse("members:certificate_pdf", args=[dp_2026.pk]) in page
    # The unpaid invoice, to pay.
    fs_term = octo.memberships.get(member_number="FS-7").terms.get()
    assert "Facture FS-2026-00001 : 300,00\xa0€, échéance le 3 mars 2026" in text
    assert f'href="{reverse("members:invoice_detail", args=[fs_term.invoice.pk])}"' in page
    assert reverse("members:certificate_pdf", args=[fs_term.pk]) not in page
    # Contacts with their e-mail and role.
    for expected in ("Camille Roux", "camille@octo.example", "Contact principal"):
        assert expected in text
    assert "lea@octo.example" in text and "Contact facturation" in text
    assert "chef@lab.example" in text


def test_renew_button_or_when_renewal_opens(client, two_organisations):
    octo, lab = two_organisations
    page = client.get(AREA).content.decode()
    dp = octo.memberships.get(member_number="DP-0042")
    fs = octo.memberships.get(member_number="FS-7")
    gc = lab.memberships.get(member_number="GC-0001")
    old = lab.memberships.get(member_number="DP-0100")
    for open_membership in (dp, fs):  # both end on 31 December: renewals opened on 2 October
        assert reverse("members:renewal_details", args=[open_membership.pk]) in page
    assert reverse("members:renewal_details", args=[gc.pk]) not in page
    assert reverse("members:renewal_details", args=[old.pk]) not in page
    assert "Le renouvellement ouvrira le 2 juin 2027." in text_of(client.get(AREA))
    assert "transférée au cluster successeur le 1er septembre 2026" in text_of(client.get(AREA))


def test_a_renewal_waiting_for_payment_links_to_its_invoice(client, two_organisations):
    from members.services.renewals import membership_renew

    octo, _lab = two_organisations
    dp = octo.memberships.get(member_number="DP-0042")
    latest = dp.terms.order_by("-start_date").first()
    renewal = membership_renew(membership=dp, after=latest, plan=latest.plan)
    response = client.get(AREA)
    text = text_of(response)
    assert "Votre adhésion du 1er janvier 2027 au 31 décembre 2027 est enregistrée" in text
    detail = reverse("members:invoice_detail", args=[renewal.invoice.pk])
    assert f'href="{detail}"' in response.content.decode()
    assert reverse("members:renewal_details", args=[dp.pk]) not in response.content.decode()


def test_the_queries_do_not_grow_with_organisations_memberships_and_terms(
    client, django_assert_num_queries
):
    user = UserFactory(email="multi@example.org", username="multi@example.org")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)

    def organisation(name: str, years: range, clusters: tuple[str, ...]):
        org = OrganisationFactory(name=name)
        for slug in clusters:
            membership = MembershipFactory(organisation=org, cluster=cluster(slug))
            for year in years:
                paid_term(membership, year)
        ContactFactory(organisation=org, email=user.email, user=user, role=ContactRole.PRIMARY)
        ContactFactory(organisation=org)
        return org

    client.force_login(user)
    organisation("Petite", range(2026, 2027), ("digitalplace",))
    with CaptureQueriesContext(connection) as short_history:
        assert client.get(AREA).status_code == 200

    organisation("Grande", range(2015, 2027), ("digitalplace", "frenchsouth"))
    organisation("Troisième", range(2020, 2027), ("frenchsouth",))
    with django_assert_num_queries(len(short_history)):
        response = client.get(AREA)
    assert response.content.decode().count("<tr>") > 30


def test_without_organisation_staff_are_sent_to_the_admin(client):
    staff, _created = staff_user_ensure(email="staff@example.org", password="x-Motdepasse-1")
    client.force_login(staff)
    response = client.get(AREA)
    assert response.status_code == 200
    text = text_of(response)
    assert "Aucune organisation n’est rattachée à votre compte" in text
    assert "staff@example.org" in text
    assert f'href="{reverse("admin:index")}"' in response.content.decode()


def test_without_organisation_a_member_is_told_whom_to_ask(client):
    client.force_login(UserFactory())
    response = client.get(AREA)
    text = text_of(response)
    assert "Aucune organisation n’est rattachée à votre compte" in text
    assert "demandez à son contact principal" in text
    assert reverse("admin:index") not in response.content.decode()


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(AREA)
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={AREA}"


def test_header_and_home_lead_a_signed_in_member_to_the_area(client, two_organisations):
    home = client.get(reverse("home")).content.decode()
    assert f'<a class="button" href="{AREA}">Accéder à mon espace adhérent</a>' in home
    assert "Mon espace</a>" in home
    area = client.get(AREA).content.decode()
    assert f'<a href="{AREA}" aria-current="page">Mon espace</a>' in area


def test_an_anonymous_home_page_leads_to_sign_in(client):
    home = client.get(reverse("home")).content.decode()
    assert "Mon espace" not in home
    assert reverse("account_login") in home


def test_a_contact_whose_email_staff_changed_no_longer_opens_its_organisation(client):
    contact = ContactFactory(email="ancien@octo.example", role=ContactRole.PRIMARY)
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    edit = reverse("members:organisation_edit", args=[contact.organisation.pk])
    assert client.get(edit).status_code == 200

    contact.email = "nouvelle@octo.example"  # the person left; staff gave the role to another
    contact.save()

    assert client.get(edit).status_code == 404
    assert contact.organisation.name not in client.get(reverse("members:area")).content.decode()


def test_a_member_gets_the_invoice_of_an_unpaid_term_the_cluster_entered_without_one(client):
    contact = ContactFactory(email="paul@garonne.example", role=ContactRole.PRIMARY)
    membership = MembershipFactory(organisation=contact.organisation)
    imported = TermFactory(membership=membership, year=2026, is_paid=False)
    sign_in(client, contact)
    get_it = reverse("members:term_invoice", args=[imported.pk])

    page = client.get(AREA).content.decode()
    assert f'action="{get_it}"' in page
    assert "Obtenir la facture" in page
    first = client.post(get_it)
    second = client.post(get_it)  # a double click

    invoice = Invoice.objects.get(term=imported)
    assert (
        first["Location"]
        == second["Location"]
        == reverse("members:invoice_detail", args=[invoice.pk])
    )
    assert invoice.amount == imported.fee
    page = client.get(AREA).content.decode()
    assert f'action="{get_it}"' not in page
    assert reverse("members:invoice_detail", args=[invoice.pk]) in page


# --- What to do first: what is due, then the renewal ----------------------------------------------


def invoiced(membership, year: int, **dates):
    """An unpaid term of ``year`` (or of the ``start_date``/``end_date`` given) with its invoice."""
    term = TermFactory(membership=membership, year=year, is_paid=False, **dates)
    invoice_issue(term=term, on=term.start_date if term.start_date <= D(2026, 11, 15) else None)
    return term


def card_of(response, membership) -> dict:
    """What the member area shows of ``membership``: the card's text, its steps in order (each
    step's text and whether its button is the main one) and the labels of its main buttons."""
    page = response.content.decode().replace("&nbsp;", "\xa0")
    start = page.index(f'id="membership-{membership.pk}-title"')
    article = page[start : page.index("</article>", start)]
    history = article.find('<details class="history"')
    article = article if history < 0 else article[:history]  # the history has no buttons

    def text(html: str) -> str:
        html = re.sub(r'<span class="visually-hidden">.*?</span>', "", html)
        return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html)).strip()

    steps = []
    ordered = re.search(r'<ol class="due-list[^"]*">(.*?)</ol>', article, re.S)
    for item in re.findall(r"<li[^>]*>(.*?)</li>", ordered[1] if ordered else "", re.S):
        steps.append((text(item), 'class="button"' in item))
    main = re.findall(r'<(a|button) [^>]*class="button"[^>]*>(.*?)</\1>', article, re.S)
    return {"text": text(article), "steps": steps, "main": [text(label) for _tag, label in main]}


def test_an_unpaid_invoice_comes_first_and_the_renewal_after_it(
    client, two_organisations, settings
):
    octo, _lab = two_organisations
    fs = octo.memberships.get(member_number="FS-7")  # 2026 invoiced and unpaid; renewals open

    card = card_of(client.get(AREA), fs)

    assert card["main"] == ["Payer"]  # one main button: the invoice
    assert card["steps"] == [
        ("Facture FS-2026-00001 : 300,00\xa0€, échéance le 3 mars 2026 Payer", True),
        (
            "Ensuite, le renouvellement pour la période du 1er janvier 2027 au 31 décembre "
            "2027\xa0: il ajoutera sa propre facture, sans régler ce qui précède. Renouveler",
            False,
        ),
    ]
    assert "À faire, dans cet ordre" in card["text"]
    assert "Le renouvellement est ouvert" not in card["text"]
    page = client.get(AREA).content.decode()
    assert reverse("members:renewal_details", args=[fs.pk]) in page  # offered, second

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    card = card_of(client.get(AREA), fs)
    assert "To do, in this order" in card["text"]
    assert card["steps"][1][0].startswith(
        "Then the renewal for the term from January 1, 2027 to December 31, 2027: it will add "
        "an invoice of its own"
    )


@pytest.fixture
def member_of(client):
    """A signed-in primary contact's membership of DigitalPlace, terms to be added."""
    contact = ContactFactory(role=ContactRole.PRIMARY)
    sign_in(client, contact)
    return MembershipFactory(organisation=contact.organisation)


def test_renewal_open_nothing_due_renew_is_the_main_button(client, member_of):
    paid_term(member_of, 2026)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Renouveler"]
    assert card["steps"] == []
    assert (
        "Le renouvellement est ouvert pour la période du 1er janvier 2027 au 31 décembre 2027."
        in card["text"]
    )


def test_an_unpaid_term_without_invoice_comes_first_then_the_renewal(client, member_of):
    TermFactory(membership=member_of, year=2026, is_paid=False)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Obtenir la facture"]
    assert [primary for _text, primary in card["steps"]] == [True, False]
    assert card["steps"][0][0].startswith("Cotisation du 1er janvier 2026 au 31 décembre 2026")
    assert card["steps"][1][0].startswith("Ensuite, le renouvellement pour la période du 1er")


def test_several_dues_oldest_first_then_the_renewal(client, member_of):
    TermFactory(membership=member_of, year=2025, is_paid=False)  # imported, never invoiced
    invoiced(member_of, 2026)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Obtenir la facture"]
    assert [(text.split(" ")[0], primary) for text, primary in card["steps"]] == [
        ("Cotisation", True),
        ("Facture", False),
        ("Ensuite,", False),
    ]
    assert "du 1er janvier 2025" in card["steps"][0][0]


def test_renewal_not_open_yet_the_unpaid_invoice_alone(client, member_of):
    invoiced(member_of, 2026, start_date=D(2026, 7, 1), end_date=D(2027, 6, 30))
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Payer"]
    assert [primary for _text, primary in card["steps"]] == [True]
    assert "À régler" in card["text"]
    assert (
        "Votre adhésion du 1er juillet 2026 au 30 juin 2027 est enregistrée et attend son "
        "paiement." in card["text"]
    )
    assert "Renouveler" not in card["text"]


def test_renewal_not_open_yet_nothing_due_says_when_it_opens(client, member_of):
    TermFactory(membership=member_of, start_date=D(2026, 7, 1), end_date=D(2027, 6, 30))
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == []
    assert card["steps"] == []
    assert (
        "Votre adhésion est réglée jusqu’au 30 juin 2027. Le renouvellement ouvrira le "
        "1er avril 2027." in card["text"]
    )


def test_renewed_waiting_for_payment_the_renewal_invoice_alone(client, member_of):
    paid_term(member_of, 2026)
    invoiced(member_of, 2027)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Payer"]
    # Issued today, in 2026: its number is of 2026.
    assert len(card["steps"]) == 1 and card["steps"][0][0].startswith("Facture DP-2026-00002")
    assert "du 1er janvier 2027 au 31 décembre 2027 est enregistrée" in card["text"]


def test_lapsed_nothing_due_says_so_and_renews_for_the_year_not_over(client, member_of):
    paid_term(member_of, 2025)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Renouveler"]
    assert (
        "Votre adhésion a expiré\xa0: sa dernière période s’est terminée le 31 décembre 2025."
        in card["text"]
    )
    assert "pour la période du 1er janvier 2026 au 31 décembre 2026." in card["text"]


def test_lapsed_with_its_last_invoice_unpaid_pays_it_first(client, member_of):
    invoiced(member_of, 2025)
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Payer"]
    assert "Votre adhésion a expiré" in card["text"]
    assert [primary for _text, primary in card["steps"]] == [True, False]
    assert card["steps"][0][0].startswith("Facture DP-2025-")
    assert "du 1er janvier 2026 au 31 décembre 2026" in card["steps"][1][0]


def test_in_grace_says_the_term_ended_and_renews(client, member_of):
    TermFactory(membership=member_of, start_date=D(2025, 11, 1), end_date=D(2026, 10, 31))
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Renouveler"]
    assert "Votre dernière période d’adhésion s’est terminée le 31 octobre 2026" in card["text"]
    assert "du 1er novembre 2026 au 31 octobre 2027." in card["text"]


def test_transferred_with_an_unpaid_invoice_pays_it_and_renews_nothing(client, member_of):
    invoiced(member_of, 2026)
    member_of.transferred_on = D(2026, 9, 1)
    member_of.save()
    card = card_of(client.get(AREA), member_of)
    assert card["main"] == ["Payer"]
    assert [primary for _text, primary in card["steps"]] == [True]
    assert "transférée au cluster successeur le 1er septembre 2026" in card["text"]
    assert "Renouveler" not in card["text"]
