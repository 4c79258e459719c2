"""What the billing tests share: clusters with every legal detail, unpaid terms to invoice, the
text of a PDF."""

import datetime as dt
from decimal import Decimal
from io import BytesIO

import pypdf
from django.utils import timezone

from members.demo import DEMO_LEGAL_DETAILS
from members.models import Cluster, ContactRole, Invoice, Term
from members.services import contact_login_ensure
from members.services.billing import invoice_issue
from tests.factories import ContactFactory, TermFactory, cluster

#: The day the tests' invoices are issued on.
ISSUED = dt.date(2027, 3, 1)


def legal_details(slug: str = "digitalplace") -> Cluster:
    """The cluster ``slug`` with the demo's SIREN, address, e-mail, IBAN and BIC."""
    Cluster.objects.filter(slug=slug).update(**DEMO_LEGAL_DETAILS[slug])
    return Cluster.objects.get(slug=slug)


def unpaid_term(
    slug: str = "digitalplace", *, year: int = 2027, fee: str = "300.00", **membership
) -> Term:
    """An unpaid calendar-year term of a new member of ``slug``; ``membership`` sets fields of
    the membership (``organisation__name="…"``, ``member_number="…"``)."""
    return TermFactory(
        membership__cluster=cluster(slug),
        year=year,
        fee=Decimal(fee),
        is_paid=False,
        **{f"membership__{name}": value for name, value in membership.items()},
    )


IBAN = "fr7630006000011234567890189"  # as staff may type it: lower case, no spaces
IBAN_GROUPED = "FR76 3000 6000 0112 3456 7890 189"
BIC = "AGRIFRPPXXX"


def bank_details_give(slug: str = "digitalplace") -> Cluster:
    """Give the cluster ``slug`` bank details, before its invoices are issued."""
    Cluster.objects.filter(slug=slug).update(iban=IBAN, bic=BIC)
    return Cluster.objects.get(slug=slug)


def member_invoice(*, email: str = "camille@acme.example", name: str = "ACME", fee="300.00"):
    """A contact with an account, its organisation's DigitalPlace membership with an unpaid
    term covering today, and that term's invoice issued today; returns (user, invoice)."""
    term = unpaid_term(year=timezone.localdate().year, fee=fee, organisation__name=name)
    user, _created = contact_login_ensure(contact=contact(term, email, role=ContactRole.MEMBER))
    return user, invoice_issue(term=term)


def signed_in_invoice(client) -> Invoice:
    """:func:`member_invoice` of a cluster with bank details, its contact signed in."""
    bank_details_give()
    user, invoice = member_invoice()
    client.force_login(user)
    return invoice


def contact(term: Term, email: str, *, role: str = ContactRole.PRIMARY, language: str = "fr"):
    """A contact of ``term``'s organisation."""
    return ContactFactory(
        organisation=term.membership.organisation, email=email, role=role, language=language
    )


def pdf_text(content: bytes) -> str:
    """The text of every page of the PDF ``content``, no-break spaces read as spaces."""
    assert content.startswith(b"%PDF-")
    reader = pypdf.PdfReader(BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages).replace("\xa0", " ")
