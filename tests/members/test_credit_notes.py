"""Credit notes (avoirs), end to end below the screens: numbered without gap or repeat per
cluster and year under concurrency (on PostgreSQL), the PDF read back, the e-mail to the
organisation's contacts sent once through a real SMTP server, and a fee corrected by a credit
note and a new invoice."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from cluster.celery import app as celery_app
from members import documents
from members.models import (
    ContactRole,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Mail,
    MailPurpose,
    Payment,
    Term,
)
from members.selectors import invoice_with_balance
from members.services.billing import (
    credit_note_issue,
    credit_note_issue_and_reinvoice,
    credit_note_notice_send,
    invoice_issue,
    invoice_notice_send,
    invoice_payment_record,
)
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date


def words(content: bytes) -> str:
    """The text of the PDF ``content``, its lines joined by single spaces."""
    return " ".join(pdf_text(content).split())


def attachment(message) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    return part.get_filename(), part.get_content()


# --- Numbers ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_notes_are_numbered_without_gap_or_repeat(postgresql):
    threads_count, per_thread = 8, 3
    invoices = {
        slug: [invoice_issue(term=unpaid_term(slug), on=ISSUED) for _ in range(12)]
        for slug in ("digitalplace", "frenchsouth")
    }
    invoice_numbers = sorted(Invoice.objects.values_list("number", flat=True))
    # Each thread cancels three invoices, alternating between the two clusters.
    mixed = [invoice for pair in zip(*invoices.values(), strict=True) for invoice in pair]
    batches = [mixed[i * per_thread : (i + 1) * per_thread] for i in range(threads_count)]
    start = threading.Barrier(threads_count)
    errors = []

    def cancel(batch: list[Invoice]) -> None:
        try:
            start.wait()
            for invoice in batch:
                credit_note_issue(invoice=invoice, reason="Adhésion saisie deux fois", on=ISSUED)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for prefix, slug in (("DP", "digitalplace"), ("FS", "frenchsouth")):
        numbers = sorted(
            CreditNote.objects.filter(cluster__slug=slug).values_list("number", flat=True)
        )
        assert numbers == [f"{prefix}-AV-2027-{rank:05d}" for rank in range(1, 13)]
    # The invoices' own series is untouched, and every invoice is cancelled once.
    assert sorted(Invoice.objects.values_list("number", flat=True)) == invoice_numbers
    assert Invoice.objects.filter(cancelled_on=ISSUED).count() == 24
    assert Term.objects.filter(cancelled_on=ISSUED).count() == 24


@pytest.mark.django_db(transaction=True)
def test_one_page_submitted_from_8_tabs_at_once_issues_one_credit_note(postgresql):
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    start = threading.Barrier(8)
    issued, refused, errors = [], [], []

    def submit(amount: str) -> None:
        try:
            start.wait()
            credit_note = credit_note_issue(
                invoice=invoice, amount=Decimal(amount), reason="Remise", on=ISSUED, version=0
            )
            issued.append(credit_note.number)
        except ValidationError as refusal:
            refused.append(refusal.code)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(amount,)) for amount in ["50", "300"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert issued == ["DP-AV-2027-00001"]
    assert refused == ["credit_note_changed"] * 7
    assert CreditNote.objects.count() == 1


# --- The document -------------------------------------------------------------------------------


def test_the_credit_note_pdf_reads_back_with_its_invoice_reason_and_legal_mentions():
    legal_details()
    term = unpaid_term(organisation__name="Garonne & Fils", member_number="DP-0042")
    invoice = invoice_issue(term=term, on=ISSUED)
    partial = credit_note_issue(
        invoice=invoice, amount=Decimal("120.00"), reason="Remise membre fondateur", on=ISSUED
    )
    full = credit_note_issue(invoice=invoice, reason="Départ de l’adhérent", on=D(2027, 3, 15))

    assert documents.credit_note_filename(partial) == "avoir-DP-AV-2027-00001.pdf"
    text = words(documents.credit_note_pdf(partial))
    assert "Avoir" in text and "N° DP-AV-2027-00001" in text
    assert "Facture d’origine : n° DP-2027-00001 du 1er mars 2027" in text
    assert "Remise membre fondateur" in text
    assert "120,00 €" in text
    assert "Garonne & Fils" in text and "DP-0042" in text
    assert "SIREN : 812345676" in text, "the issuer's frozen legal mentions"
    assert "TVA non applicable" in text
    assert "réduit de 120,00 € le montant dû sur la facture n° DP-2027-00001" in text

    text = words(documents.credit_note_pdf(full))
    assert "N° DP-AV-2027-00002" in text and "15 mars 2027" in text
    assert "180,00 €" in text
    assert "annule la facture n° DP-2027-00001" in text


def test_the_credit_note_freezes_the_invoice_details():
    legal_details()
    term = unpaid_term(organisation__name="Garonne Data")
    invoice = invoice_issue(term=term, on=ISSUED)
    organisation = term.membership.organisation
    organisation.name = "Autre nom"
    organisation.save()

    credit_note = credit_note_issue(invoice=invoice, reason="Erreur", on=ISSUED)

    assert credit_note.customer_details["name"] == "Garonne Data"
    assert "Autre nom" not in pdf_text(documents.credit_note_pdf(credit_note))


# --- The e-mail ---------------------------------------------------------------------------------


def test_the_credit_note_goes_once_to_each_contact_in_their_language(mailbox):
    legal_details()
    term = unpaid_term(organisation__name="Garonne & Fils")
    contact(term, "camille@garonne.example")
    contact(term, "compta@garonne.example", role=ContactRole.BILLING, language="en")
    contact(term, "dev@garonne.example", role=ContactRole.MEMBER)
    invoice = invoice_issue(term=term, on=ISSUED)
    credit_note = credit_note_issue(invoice=invoice, reason="Adhésion en double", on=ISSUED)

    assert credit_note_notice_send(credit_note=credit_note) is True
    french, english = sorted(mailbox.wait_for(2), key=lambda m: m["Content-Language"] != "fr")

    assert french["To"] == "camille@garonne.example"
    assert english["To"] == "compta@garonne.example"
    assert "DP-AV-2027-00001" in french["Subject"] and "DP-2027-00001" in french["Subject"]
    assert french["Reply-To"] == "adhesions@digitalplace.example"
    text = mailbox.text(french)
    assert "Garonne & Fils" in text and "&amp;" not in text
    assert "300,00\xa0€" in text
    assert "Adhésion en double" in text
    assert "est annulée" in text
    filename, content = attachment(french)
    assert filename == "avoir-DP-AV-2027-00001.pdf"
    assert "DP-AV-2027-00001" in pdf_text(content)
    assert "€300.00" in mailbox.text(english)
    # The PDF is one legal document, in its invoice's language (French here), whoever reads it.
    assert "Avoir" in pdf_text(attachment(english)[1])
    assert "Credit note" not in pdf_text(attachment(english)[1])

    credit_note.refresh_from_db()
    assert credit_note.notice_sent_at is not None
    assert credit_note_notice_send(credit_note=credit_note) is False
    assert len(mailbox.messages) == 2
    assert Mail.objects.filter(purpose=MailPurpose.CREDIT_NOTE_NOTICE).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_the_credit_note_after_it_is_issued(redis_broker, mailbox):
    invoice = invoice_issue(term=unpaid_term(), on=timezone.localdate())
    contact(invoice.term, "camille@example.org")

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        credit_note = credit_note_issue(invoice=invoice, amount=Decimal("50.00"), reason="Remise")
        (message,) = mailbox.wait_for(1, timeout=30)

    assert message["To"] == "camille@example.org"
    assert "réduit" in mailbox.text(message)
    credit_note.refresh_from_db()
    assert credit_note.notice_sent_at is not None


# --- Cancelling, reducing, correcting ------------------------------------------------------------


def test_payments_stay_on_a_cancelled_invoice_as_over_paid():
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    Payment.objects.create(invoice=invoice, amount=Decimal("100.00"), received_on=ISSUED)

    credit_note_issue(invoice=invoice, reason="Départ", on=ISSUED)

    balance = invoice_with_balance(invoice=invoice)
    assert (balance.status, balance.overpaid_amount) == (InvoiceStatus.OVERPAID, Decimal("100"))
    assert invoice.payments.count() == 1


def test_a_fee_is_corrected_by_a_credit_note_and_a_new_invoice():
    legal_details()
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    old_term = invoice.term

    credit_note, reissued = credit_note_issue_and_reinvoice(
        invoice=invoice, reason="Mauvaise formule", fee=Decimal("180.00"), on=ISSUED
    )

    assert (credit_note.number, credit_note.amount) == ("DP-AV-2027-00001", Decimal("300.00"))
    assert credit_note.term_cancelled
    assert reissued.number == "DP-2027-00002"
    assert reissued.amount == Decimal("180.00")
    term = reissued.term
    assert term.pk != old_term.pk
    assert (term.membership_id, term.plan_id, term.start_date, term.end_date) == (
        old_term.membership_id,
        old_term.plan_id,
        old_term.start_date,
        old_term.end_date,
    )
    old_term.refresh_from_db()
    assert old_term.cancelled_on == ISSUED and term.cancelled_on is None


def test_a_refused_correction_changes_nothing():
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)

    with pytest.raises(ValidationError, match="positif"):
        credit_note_issue_and_reinvoice(invoice=invoice, reason="x", fee=Decimal("0"), on=ISSUED)
    with pytest.raises(ValidationError, match="motif"):
        credit_note_issue_and_reinvoice(invoice=invoice, reason=" ", fee=Decimal("10"), on=ISSUED)

    assert not CreditNote.objects.exists()
    assert Invoice.objects.count() == 1 and Term.objects.count() == 1


@pytest.mark.usefixtures("after_the_invoices")
def test_money_received_on_a_cancelled_invoice_is_over_paid_and_pays_nothing(
    django_capture_on_commit_callbacks,
):
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    credit_note_issue(invoice=invoice, reason="Départ", on=ISSUED)

    with django_capture_on_commit_callbacks() as callbacks:
        invoice_payment_record(invoice=invoice, amount=Decimal("300.00"), received_on=ISSUED)

    invoice.refresh_from_db()
    term = Term.objects.get(pk=invoice.term_id)
    assert (invoice.paid_on, term.is_paid) == (None, False)
    assert callbacks == [], "no confirmation, no certificate"
    balance = invoice_with_balance(invoice=invoice)
    assert (balance.status, balance.overpaid_amount) == (InvoiceStatus.OVERPAID, Decimal("300"))


def test_an_invoice_cancelled_before_its_e_mail_went_is_not_sent(mailbox):
    term = unpaid_term()
    contact(term, "camille@example.org")
    invoice = invoice_issue(term=term, on=ISSUED)
    credit_note = credit_note_issue(invoice=invoice, reason="Erreur", on=ISSUED)

    assert invoice_notice_send(invoice=invoice) is False
    assert credit_note_notice_send(credit_note=credit_note) is True
    (message,) = mailbox.wait_for(1)
    assert credit_note.number in message["Subject"]
