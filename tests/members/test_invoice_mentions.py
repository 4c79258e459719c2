"""Late-payment mentions on invoices (art. L441-10 of the Code de commerce), set per cluster and
frozen at issuance, and invoices written in the member's language: description, PDF, credit
notes; the e-mails keep each recipient's language."""

import datetime as dt
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from django.utils import translation

from members import documents
from members.models import Cluster, ContactRole
from members.services.billing import credit_note_issue, invoice_issue, invoice_notice_send
from tests.html_forms import form_data
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

PENALTIES_FR = (
    "En cas de retard de paiement, des pénalités sont exigibles au taux annuel de 12 % à "
    "compter du jour suivant la date d’échéance (art. L441-10 du Code de commerce)."
)
RECOVERY_FEE_FR = (
    "Indemnité forfaitaire pour frais de recouvrement due en cas de retard de paiement : "
    "40,00 € (art. L441-10 et D441-5 du Code de commerce)."
)


def one_line(text: str) -> str:
    """``text`` with its line breaks (where the PDF wrapped a paragraph) read as spaces."""
    return " ".join(text.split())


def mentions_set(*, rate: str | None = "12", recovery_fee: bool = True) -> Cluster:
    cluster = legal_details()
    cluster.late_payment_rate = None if rate is None else Decimal(rate)
    cluster.recovery_fee_mention = recovery_fee
    cluster.save()
    return cluster


def test_the_mentions_set_are_printed_with_article_l441_10():
    mentions_set()
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    text = one_line(pdf_text(documents.invoice_pdf(invoice)))

    assert PENALTIES_FR in text
    assert RECOVERY_FEE_FR in text


def test_nothing_is_printed_when_no_mention_is_set():
    legal_details()
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    text = pdf_text(documents.invoice_pdf(invoice))

    assert "L441-10" not in text
    assert "pénalités" not in text and "recouvrement" not in text


def test_each_mention_is_printed_alone_and_a_rate_with_decimals_reads_as_such():
    mentions_set(rate="10.15", recovery_fee=False)
    rate_only = invoice_issue(term=unpaid_term(), on=ISSUED)
    mentions_set(rate=None, recovery_fee=True)
    fee_only = invoice_issue(term=unpaid_term(), on=ISSUED)

    rate_text = one_line(pdf_text(documents.invoice_pdf(rate_only)))
    fee_text = one_line(pdf_text(documents.invoice_pdf(fee_only)))

    assert "au taux annuel de 10,15 % à compter" in rate_text
    assert "recouvrement" not in rate_text
    assert RECOVERY_FEE_FR in fee_text
    assert "pénalités" not in fee_text


def test_the_mentions_are_frozen_at_issuance():
    before = invoice_issue(term=unpaid_term(), on=ISSUED)
    cluster = mentions_set()
    issued = invoice_issue(term=unpaid_term(), on=ISSUED)
    cluster.late_payment_rate = Decimal("15")
    cluster.recovery_fee_mention = False
    cluster.save()
    later = invoice_issue(term=unpaid_term(), on=ISSUED)

    before_text = one_line(pdf_text(documents.invoice_pdf(before)))
    issued_text = one_line(pdf_text(documents.invoice_pdf(issued)))
    later_text = one_line(pdf_text(documents.invoice_pdf(later)))

    assert "L441-10" not in before_text, "issued before the mentions were set"
    assert PENALTIES_FR in issued_text and RECOVERY_FEE_FR in issued_text
    assert "15 %" not in issued_text
    assert "au taux annuel de 15 % à compter" in later_text
    assert "recouvrement" not in later_text


def test_a_credit_note_keeps_the_mentions_of_its_invoice():
    cluster = mentions_set()
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
    cluster.late_payment_rate = None
    cluster.save()

    credit_note = credit_note_issue(invoice=invoice, reason="Erreur de formule", on=ISSUED)

    assert credit_note.issuer_details["late_payment_rate"] == "12.00"
    assert credit_note.issuer_details["recovery_fee"] is True


# --- The cluster's settings in the admin ---------------------------------------------------------


def cluster_form(client, cluster: Cluster, **changes) -> dict:
    """What the admin's change form of ``cluster`` posts back, as the page shows it to the
    signed-in user, with ``changes`` (an empty value leaves the field out, as an unticked box)."""
    page = client.get(reverse("admin:members_cluster_change", args=[cluster.pk]))
    data = form_data(page, id="cluster_form") | changes
    return {name: value for name, value in data.items() if value != ""}


def cluster_form_forged(cluster: Cluster, **changes) -> dict:
    """A change form of ``cluster`` forged from its stored values by whoever cannot open it."""
    data = {
        name: "" if value is None else value
        for name, value in model_to_dict(cluster).items()
        if name not in ("id", "staff")
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not False and value != ""}


@pytest.mark.parametrize("typed", ["12,5", "12.5"])
def test_staff_set_the_mentions_of_their_cluster(client, dp_staff, typed):
    cluster = legal_details()
    client.force_login(dp_staff)
    url = reverse("admin:members_cluster_change", args=[cluster.pk])

    page = client.get(url)
    response = client.post(
        url, cluster_form(client, cluster, late_payment_rate=typed, recovery_fee_mention="on")
    )

    assert "taux des pénalités de retard" in page.content.decode().lower()
    assert response.status_code == 302, response.context["adminform"].form.errors
    cluster.refresh_from_db()
    assert cluster.late_payment_rate == Decimal("12.50")
    assert cluster.recovery_fee_mention is True
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
    assert "au taux annuel de 12,50 % à compter" in one_line(
        pdf_text(documents.invoice_pdf(invoice))
    )


@pytest.mark.parametrize("rate", ["douze", "-3", "0", "250", "12,345"])
def test_a_malformed_rate_is_a_form_error(client, dp_staff, rate):
    cluster = legal_details()
    client.force_login(dp_staff)

    response = client.post(
        reverse("admin:members_cluster_change", args=[cluster.pk]),
        cluster_form(client, cluster, late_payment_rate=rate),
    )

    assert response.status_code == 200
    assert "late_payment_rate" in response.context["adminform"].form.errors
    cluster.refresh_from_db()
    assert cluster.late_payment_rate is None


@pytest.mark.parametrize("who", ["dp_staff", "committee"])
def test_neither_another_clusters_staff_nor_the_committee_set_the_mentions(client, request, who):
    other = legal_details("frenchsouth")
    client.force_login(request.getfixturevalue(who))

    response = client.post(
        reverse("admin:members_cluster_change", args=[other.pk]),
        cluster_form_forged(other, late_payment_rate="12"),
    )

    assert response.status_code in (302, 403, 404)
    assert response.status_code != 302 or "/admin/login/" not in response["Location"]
    other.refresh_from_db()
    assert other.late_payment_rate is None


# --- The member's language -----------------------------------------------------------------------


def english_member_term():
    term = unpaid_term(organisation__name="Garonne Data", member_number="DP-0042")
    contact(term, "boss@garonne.example", language="en")
    contact(term, "compta@garonne.example", role=ContactRole.BILLING, language="fr")
    return term


def test_an_english_member_gets_its_invoice_in_english():
    mentions_set()
    invoice = invoice_issue(term=english_member_term(), on=ISSUED)

    text = one_line(pdf_text(documents.invoice_pdf(invoice)))

    assert invoice.language == "en"
    assert invoice.description.startswith("DigitalPlace membership fee, ")
    assert invoice.description.endswith(" plan, from 1 Jan 2027 to 31 Dec 2027")
    for mention in [
        "Invoice",
        "Issue date: March 1, 2027",
        "Due date: March 31, 2027",
        "Member number: DP-0042",
        "€300.00",
        "Payment reference: DP-2027-00001",
        "Late payment penalties are due at the annual rate of 12% from the day after the due "
        "date (art. L441-10 of the French Commercial Code).",
        "Fixed compensation for recovery costs due in case of late payment: €40.00 "
        "(art. L441-10 and D441-5 of the French Commercial Code).",
    ]:
        assert mention in text, mention
    assert "Échéance" not in text and "pénalités" not in text


def test_a_french_member_gets_its_invoice_in_french_whatever_the_readers_language():
    mentions_set()
    term = unpaid_term(organisation__name="Garonne Data")
    contact(term, "patronne@garonne.example", language="fr")
    contact(term, "compta@garonne.example", role=ContactRole.BILLING, language="en")
    invoice = invoice_issue(term=term, on=ISSUED)

    with translation.override("en"):
        text = one_line(pdf_text(documents.invoice_pdf(invoice)))

    assert invoice.language == "fr"
    assert invoice.description.startswith("Cotisation DigitalPlace, formule ")
    assert "Échéance : 31 mars 2027" in text
    assert PENALTIES_FR in text
    assert "Due date" not in text


def test_the_language_is_the_one_at_issuance():
    term = english_member_term()
    invoice = invoice_issue(term=term, on=ISSUED)
    term.membership.organisation.contacts.update(language="fr")

    invoice.refresh_from_db()
    assert invoice.language == "en"
    assert "Due date: March 31, 2027" in pdf_text(documents.invoice_pdf(invoice))


def test_a_credit_note_is_written_in_its_invoices_language():
    invoice = invoice_issue(term=english_member_term(), on=ISSUED)

    credit_note = credit_note_issue(invoice=invoice, reason="Wrong plan", on=dt.date(2027, 3, 5))

    assert credit_note.language == "en"
    assert credit_note.description == "Credit note on invoice DP-2027-00001 of 1 Mar 2027"


def test_each_contact_reads_the_email_in_its_language_with_the_invoice_in_the_members(mailbox):
    legal_details()
    invoice = invoice_issue(term=english_member_term(), on=ISSUED)

    assert invoice_notice_send(invoice=invoice) is True
    messages = {message["To"]: message for message in mailbox.wait_for(2)}

    english, french = messages["boss@garonne.example"], messages["compta@garonne.example"]
    assert english["Content-Language"] == "en" and french["Content-Language"] == "fr"
    assert "31 mars 2027" in mailbox.text(french)
    for message in (english, french):
        (part,) = list(message.iter_attachments())
        assert part.get_filename() == "facture-DP-2027-00001.pdf"
        assert "Due date: March 31, 2027" in pdf_text(part.get_content())
