"""Every URL of the member area, with the identifiers of one organisation, to check who may reach
them (tests/members/test_member_urls.py with Django's client, tests/test_browser_member.py with
the browser)."""

import datetime as dt
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from members.models import Contact, ContactRole, Invoice, Organisation, Payment, Term
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from members.services.renewals import renewal_link_token
from tests.factories import ContactFactory, MembershipFactory, TermFactory, cluster


def member(name: str, email: str, *, cluster_slug: str = "digitalplace"):
    """An organisation with a primary contact, a membership of the cluster ``cluster_slug``, a
    paid term ending soon with its invoice and a credit note of 1 € on it (after an unpaid one
    the cluster entered without invoice), and a second contact; returns (contact, term,
    colleague)."""
    today = timezone.localdate()
    membership = MembershipFactory(organisation__name=name, cluster=cluster(cluster_slug))
    TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=695),
        end_date=today - dt.timedelta(days=331),
        is_paid=False,
    )
    term = TermFactory(
        membership=membership,
        start_date=today - dt.timedelta(days=330),
        end_date=today + dt.timedelta(days=34),
        is_paid=False,
    )
    invoice = invoice_issue(term=term)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=today)
    credit_note_issue(invoice=invoice, amount=Decimal("1.00"), reason="Remise")
    contact = ContactFactory(
        organisation=membership.organisation, email=email, role=ContactRole.PRIMARY
    )
    colleague = ContactFactory(organisation=membership.organisation)
    return contact, Term.objects.get(pk=term.pk), colleague


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
        ("get", reverse("members:contact_edit", args=[organisation.pk, colleague.pk])),
        ("post", reverse("members:contact_edit", args=[organisation.pk, colleague.pk])),
        ("get", reverse("members:contact_remove", args=[organisation.pk, colleague.pk])),
        ("post", reverse("members:contact_remove", args=[organisation.pk, colleague.pk])),
        ("get", reverse("members:renewal_details", args=[membership.pk])),
        ("get", reverse("members:renewal_plan", args=[membership.pk])),
        ("get", reverse("members:renewal_confirm", args=[membership.pk])),
        ("post", reverse("members:renewal_confirm", args=[membership.pk])),
        ("get", reverse("members:invoice_detail", args=[invoice.pk])),
        ("get", reverse("members:invoice_pdf", args=[invoice.pk])),
        ("get", reverse("members:credit_note_pdf", args=[invoice.credit_notes.get().pk])),
        ("get", reverse("members:certificate_pdf", args=[term.pk])),
        ("post", reverse("members:term_invoice", args=[_uninvoiced(membership).pk])),
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


def post_data(term: Term, colleague: Contact) -> dict:
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
        "job_title": "Intrus",
        "role": ContactRole.PRIMARY,
        "language": "fr",
    }


def state(organisation: Organisation) -> tuple:
    """What a member URL could change of ``organisation``."""
    return (
        Organisation.objects.filter(pk=organisation.pk).values().get(),
        sorted(
            Contact.objects.filter(organisation=organisation).values_list(
                "email", "first_name", "last_name", "job_title", "role"
            )
        ),
        Term.objects.filter(membership__organisation=organisation).count(),
        Invoice.objects.filter(term__membership__organisation=organisation).count(),
        Payment.objects.filter(invoice__term__membership__organisation=organisation).count(),
    )


def _uninvoiced(membership) -> Term:
    return membership.terms.get(is_paid=False, invoice__isnull=True)
