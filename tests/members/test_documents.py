"""The invoice and certificate PDFs, read back with pypdf, and the member area's downloads."""

import datetime as dt
from io import BytesIO

import pypdf
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils import translation
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.fr import siren as stdnum_siren

from members import documents
from members.demo import DEMO_LEGAL_DETAILS, demo_seed
from members.models import Cluster
from members.services import contact_login_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date
ISSUER_MENTIONS = [
    "Association DigitalPlace",
    "SIREN : 812345676",
    "27 rue des Innovateurs",
    "31400 Toulouse",
    "adhesions@digitalplace.example",
    "TVA non applicable, art. 261-7-1° du CGI",
]


def customer_term(**membership):
    return unpaid_term(
        organisation__name="Garonne Data",
        organisation__siret="73282932000074",
        organisation__siren="732829320",
        organisation__address_line1="12 rue Ampère",
        organisation__postcode="31000",
        organisation__city="Toulouse",
        member_number="DP-0042",
        **membership,
    )


def test_the_invoice_prints_every_mention_and_how_to_pay():
    legal_details()
    invoice = invoice_issue(term=customer_term(), on=ISSUED)

    text = pdf_text(documents.invoice_pdf(invoice))

    for mention in [
        "Facture",
        "DP-2027-00001",
        *ISSUER_MENTIONS,
        "Date d’émission : 1er mars 2027",
        "Échéance : 31 mars 2027",
        "Garonne Data",
        "12 rue Ampère",
        "SIRET : 73282932000074",
        "N° d’adhérent : DP-0042",
        "Cotisation DigitalPlace",
        "300,00 €",
        "IBAN : FR76 9900 1310 0000 0123 4567 812",
        "BIC : DPLCFRP1XXX",
        "Référence à indiquer : DP-2027-00001",
    ]:
        assert mention in text, mention
    assert "Acquittée" not in text


@pytest.mark.usefixtures("after_the_invoices")
def test_a_paid_invoice_says_so_instead_of_how_to_pay():
    legal_details()
    invoice = invoice_issue(term=customer_term(), on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(2027, 3, 9))
    invoice.refresh_from_db()

    text = pdf_text(documents.invoice_pdf(invoice))

    assert "Acquittée le 9 mars 2027" in text
    assert "IBAN" not in text


def test_the_invoice_prints_what_it_froze_and_leaves_blank_details_out():
    invoice = invoice_issue(term=customer_term(), on=ISSUED)  # the cluster has no SIREN nor IBAN
    legal_details()
    organisation = invoice.term.membership.organisation
    organisation.name = "Nouveau nom"
    organisation.save()

    text = pdf_text(documents.invoice_pdf(invoice))

    assert "Garonne Data" in text and "Nouveau nom" not in text
    for label in ("SIREN", "IBAN", "BIC", "812345676"):
        assert label not in text
    assert "Référence à indiquer : DP-2027-00001" in text


def test_the_invoice_in_its_language_and_with_a_large_amount():
    legal_details()
    invoice = invoice_issue(term=customer_term(fee="1200.00"), on=ISSUED)
    english_term = unpaid_term(fee="1200.00")
    contact(english_term, "boss@english.example", language="en")
    english_invoice = invoice_issue(term=english_term, on=ISSUED)

    with translation.override("en"):  # whoever reads it: the invoice keeps its language
        french = pdf_text(documents.invoice_pdf(invoice))
    english = pdf_text(documents.invoice_pdf(english_invoice))

    assert "1 200,00 €" in french
    assert "€1,200.00" in english
    assert "March 31, 2027" in english


def test_the_pdfs_embed_their_fonts():
    invoice = invoice_issue(term=customer_term(), on=ISSUED)

    reader = pypdf.PdfReader(BytesIO(documents.invoice_pdf(invoice)))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    vera = [
        font.get_object() for font in fonts.values() if "Vera" in font.get_object()["/BaseFont"]
    ]

    assert {font["/Subtype"] for font in vera} == {"/TrueType"}
    assert all("/FontFile2" in font["/FontDescriptor"] for font in vera)


@pytest.mark.usefixtures("after_the_invoices")
def test_the_certificate_of_a_paid_term():
    legal_details()
    term = customer_term()
    invoice = invoice_issue(term=term, on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(2027, 3, 9))
    term.refresh_from_db()

    text = pdf_text(documents.certificate_pdf(term, on=D(2027, 3, 10)))

    for mention in [
        "Attestation d’adhésion",
        *ISSUER_MENTIONS[:5],
        "Association DigitalPlace atteste que l’organisation ci-dessous est membre",
        "Garonne Data",
        "73282932000074",
        "DP-0042",
        "1er janvier 2020",
        "du 1er janvier 2027 au 31 décembre 2027",
        "9 mars 2027",
        "Délivrée le 10 mars 2027",
    ]:
        assert mention in text, mention
    assert documents.certificate_filename(term) == "attestation-DP-0042-2027.pdf"


def test_no_certificate_for_an_unpaid_term():
    with pytest.raises(ValidationError):
        documents.certificate_pdf(unpaid_term())


def test_the_demo_clusters_get_valid_legal_details_once(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    Cluster.objects.filter(slug="frenchsouth").update(siren="", email="staff@fs.example")

    demo_seed()
    demo_seed()

    for slug in ("digitalplace", "frenchsouth"):
        cluster = Cluster.objects.get(slug=slug)
        cluster.full_clean()
        assert stdnum_siren.is_valid(cluster.siren)
        assert stdnum_iban.is_valid(cluster.iban) and cluster.iban.startswith("FR76")
        assert stdnum_bic.is_valid(cluster.bic)
        assert cluster.address and cluster.iban == DEMO_LEGAL_DETAILS[slug]["iban"]
    assert Cluster.objects.get(slug="frenchsouth").email == "staff@fs.example"


# --- Downloads from the member area -------------------------------------------------------------


@pytest.fixture
def paid_term(after_the_invoices):
    legal_details()
    term = customer_term()
    invoice = invoice_issue(term=term, on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(2027, 3, 9))
    term.refresh_from_db()
    return term


def signed_in(client, term, email="camille@garonne.example"):
    user, _created = contact_login_ensure(contact=contact(term, email))
    client.force_login(user)
    return user


def test_a_contact_downloads_its_invoice_and_certificate(client, paid_term):
    signed_in(client, paid_term)

    invoice = client.get(reverse("members:invoice_pdf", args=[paid_term.invoice.pk]))
    certificate = client.get(reverse("members:certificate_pdf", args=[paid_term.pk]))

    assert invoice.status_code == 200
    assert invoice["Content-Type"] == "application/pdf"
    assert invoice["Content-Disposition"] == 'attachment; filename="facture-DP-2027-00001.pdf"'
    assert "DP-2027-00001" in pdf_text(invoice.content)
    assert certificate.status_code == 200
    assert certificate["Content-Type"] == "application/pdf"
    assert certificate["Content-Disposition"] == (
        'attachment; filename="attestation-DP-0042-2027.pdf"'
    )
    assert "Attestation d’adhésion" in pdf_text(certificate.content)


def test_the_certificate_follows_the_visitors_language_the_invoice_its_own(client, paid_term):
    signed_in(client, paid_term)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    invoice = client.get(reverse("members:invoice_pdf", args=[paid_term.invoice.pk]))
    certificate = client.get(reverse("members:certificate_pdf", args=[paid_term.pk]))

    assert "300,00 €" in pdf_text(invoice.content), "a French member's invoice, in French"
    assert "March 9, 2027" in pdf_text(certificate.content)


def test_another_organisations_documents_are_not_found(client, paid_term):
    other = unpaid_term(organisation__name="Autre")
    signed_in(client, other, email="autre@example.org")

    assert (
        client.get(reverse("members:invoice_pdf", args=[paid_term.invoice.pk])).status_code == 404
    )
    assert client.get(reverse("members:certificate_pdf", args=[paid_term.pk])).status_code == 404


def test_no_certificate_for_an_unpaid_term_of_ones_own(client):
    term = unpaid_term()
    invoice_issue(term=term, on=ISSUED)
    signed_in(client, term)

    assert client.get(reverse("members:certificate_pdf", args=[term.pk])).status_code == 404
    assert client.get(reverse("members:invoice_pdf", args=[term.invoice.pk])).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(client, paid_term):
    for url in (
        reverse("members:invoice_pdf", args=[paid_term.invoice.pk]),
        reverse("members:certificate_pdf", args=[paid_term.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(resolve_url(settings.LOGIN_URL) + "?next=")
