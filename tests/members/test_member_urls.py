"""Every URL of the member area, for every method it answers: an anonymous visitor is sent to
sign in, and a contact of organisation A who puts organisation B's identifiers in it gets 403 or
404, and nothing of B's changes."""

import datetime as dt
from urllib.parse import urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Contact, ContactRole, Invoice, Organisation, Payment, Term
from members.services import contact_login_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.renewals import renewal_link_token
from tests.factories import ContactFactory, MembershipFactory, TermFactory

pytestmark = pytest.mark.django_db


def _member(name: str, email: str):
    """An organisation with a primary contact, a DigitalPlace membership, a paid term ending soon
    with its invoice, and a second contact; returns (contact, term, colleague)."""
    today = timezone.localdate()
    membership = MembershipFactory(organisation__name=name)
    term = TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=330),
        end_date=today + dt.timedelta(days=34),
        is_paid=False,
    )
    invoice = invoice_issue(term=term)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=today)
    contact = ContactFactory(
        organisation=membership.organisation, email=email, role=ContactRole.PRIMARY
    )
    colleague = ContactFactory(organisation=membership.organisation)
    return contact, Term.objects.get(pk=term.pk), colleague


@pytest.fixture
def organisation_b():
    return _member("Organisation B", "b@example.org")


def member_urls(term: Term, colleague: Contact) -> list[tuple[str, str]]:
    """(method, URL) of every member URL, with the identifiers of ``term``'s organisation."""
    membership = term.membership
    organisation = membership.organisation
    invoice = term.invoice
    return [
        ("get", reverse("members:area")),
        ("get", reverse("members:organisation_edit", args=[organisation.pk])),
        ("post", reverse("members:organisation_edit", args=[organisation.pk])),
        ("get", reverse("members:contact_add", args=[organisation.pk])),
        ("post", reverse("members:contact_add", args=[organisation.pk])),
        ("get", reverse("members:contact_remove", args=[organisation.pk, colleague.pk])),
        ("post", reverse("members:contact_remove", args=[organisation.pk, colleague.pk])),
        ("get", reverse("members:renewal_details", args=[membership.pk])),
        ("get", reverse("members:renewal_plan", args=[membership.pk])),
        ("get", reverse("members:renewal_confirm", args=[membership.pk])),
        ("post", reverse("members:renewal_confirm", args=[membership.pk])),
        ("get", reverse("members:invoice_detail", args=[invoice.pk])),
        ("get", reverse("members:invoice_pdf", args=[invoice.pk])),
        ("get", reverse("members:certificate_pdf", args=[term.pk])),
        ("post", reverse("members:card_checkout", args=[invoice.pk])),
        ("get", reverse("members:card_return", args=[invoice.pk]) + "?session_id=cs_test_x"),
        (
            "get",
            reverse(
                "members:renewal_link",
                args=[renewal_link_token(term=term, email="a@example.org")],
            ),
        ),
    ]


def _post_data(term: Term, colleague: Contact) -> dict:
    """What a well-formed POST to any of those URLs could carry, aimed at ``term``'s data."""
    plan = term.plan
    return {
        "after": term.pk,
        "plan": plan.pk,
        "address_line1": "Piraté",
        "postcode": "75001",
        "city": "Paris",
        "headcount": "999",
        "sector": "Piraté",
        "first_name": "Intrus",
        "last_name": "Intrus",
        "email": "intrus@example.org",
        "role": ContactRole.PRIMARY,
        "language": "fr",
    }


def _state(organisation: Organisation) -> tuple:
    return (
        Organisation.objects.filter(pk=organisation.pk).values().get(),
        sorted(Contact.objects.filter(organisation=organisation).values_list("email", flat=True)),
        Term.objects.filter(membership__organisation=organisation).count(),
        Invoice.objects.filter(term__membership__organisation=organisation).count(),
        Payment.objects.filter(invoice__term__membership__organisation=organisation).count(),
    )


def test_an_anonymous_visitor_is_sent_to_sign_in_from_every_member_url(client, organisation_b):
    _contact, term, colleague = organisation_b
    before = _state(term.membership.organisation)
    for method, url in member_urls(term, colleague):
        response = getattr(client, method)(url, _post_data(term, colleague))
        assert response.status_code == 302, (method, url, response.status_code)
        # The sign-in page, or the code request page for a renewal link (its e-mail filled in).
        location = urlparse(response["Location"])
        assert location.path.startswith(reverse("account_login")), (method, url, location)
    assert _state(term.membership.organisation) == before


def test_a_contact_of_a_gets_403_or_404_with_the_identifiers_of_b(client, organisation_b):
    contact_a, _term_a, _colleague_a = _member("Organisation A", "a@example.org")
    user, _created = contact_login_ensure(contact=contact_a, password="mot-de-passe-a-1")
    client.force_login(user)
    _contact_b, term_b, colleague_b = organisation_b
    before = _state(term_b.membership.organisation)
    for method, url in member_urls(term_b, colleague_b):
        if url == reverse("members:area"):
            continue  # the member area names no organisation: it shows A's, checked below
        response = getattr(client, method)(url, _post_data(term_b, colleague_b))
        assert response.status_code in (403, 404), (method, url, response.status_code)
    assert _state(term_b.membership.organisation) == before
    area = client.get(reverse("members:area")).content.decode()
    assert "Organisation A" in area
    assert "Organisation B" not in area
