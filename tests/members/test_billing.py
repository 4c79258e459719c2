"""Billing services: gapless invoice numbers (also under concurrency, on PostgreSQL), payments
that add up, and the billing e-mails, through a real SMTP server."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation

from cluster.celery import app as celery_app
from members.models import ContactRole, Invoice, InvoiceStatus, MembershipStatus, Payment, Term
from members.selectors import (
    contacts_to_notify,
    invoice_with_balance,
    invoices_with_balance,
    memberships_with_status,
)
from members.services.billing import (
    invoice_confirmation_send,
    invoice_issue,
    invoice_notice_send,
    invoice_payment_record,
    invoice_payment_remove,
)
from tests.factories import ContactFactory, OrganisationFactory, UserFactory
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date


def status(term: Term, on: dt.date) -> str:
    membership = memberships_with_status(
        on=on, queryset=type(term.membership).objects.filter(pk=term.membership_id)
    ).get()
    return membership.status


# --- Numbers ------------------------------------------------------------------------------------


def test_numbers_run_per_cluster_and_year_from_00001():
    numbers = [invoice_issue(term=unpaid_term(), on=ISSUED).number for _ in range(3)]
    frenchsouth = invoice_issue(term=unpaid_term("frenchsouth"), on=ISSUED)
    next_year = invoice_issue(term=unpaid_term(year=2028), on=D(2028, 1, 2))
    then_this_year = invoice_issue(term=unpaid_term(), on=D(2027, 12, 31))

    assert numbers == ["DP-2027-00001", "DP-2027-00002", "DP-2027-00003"]
    assert frenchsouth.number == "FS-2027-00001"
    assert next_year.number == "DP-2028-00001"
    assert (then_this_year.year, then_this_year.sequence) == (2027, 4)


def test_a_term_has_one_invoice_and_its_details_are_frozen():
    legal_details()
    term = unpaid_term(organisation__name="Garonne Data")
    invoice = invoice_issue(term=term, on=ISSUED)
    organisation = term.membership.organisation
    organisation.name = "Autre nom"
    organisation.save()

    again = invoice_issue(term=term, on=D(2027, 4, 1))

    assert again.pk == invoice.pk
    assert again.number == "DP-2027-00001"
    assert again.customer_details["name"] == "Garonne Data"
    assert again.issuer_details["siren"] == "812345676"
    assert (again.amount, again.due_on) == (Decimal("300.00"), D(2027, 3, 31))
    assert Invoice.objects.count() == 1


def test_the_invoice_is_written_in_french_whoever_renews():
    with translation.override("en"):
        invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    assert invoice.description == (
        "Cotisation DigitalPlace, formule Startup, du 01/01/2027 au 31/12/2027"
    )


def test_a_rolled_back_issue_gives_its_number_back():
    first = invoice_issue(term=unpaid_term(), on=ISSUED)
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_issue(term=unpaid_term(), on=ISSUED)
        raise RuntimeError("the renewal fails after the invoice")

    after = invoice_issue(term=unpaid_term(), on=ISSUED)

    assert (first.sequence, after.sequence) == (1, 2)
    assert after.number == "DP-2027-00002"


@pytest.mark.django_db(transaction=True)
def test_concurrent_issues_make_numbers_without_gap_or_repeat(postgresql):
    threads_count, per_thread = 6, 5
    terms = [[unpaid_term().pk for _ in range(per_thread)] for _ in range(threads_count)]
    start = threading.Barrier(threads_count)
    errors = []

    def issue(term_ids: list[int]) -> None:
        try:
            start.wait()
            for term_id in term_ids:
                invoice_issue(term=Term.objects.get(pk=term_id), on=ISSUED)
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(ids,)) for ids in terms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sequences = sorted(Invoice.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, threads_count * per_thread + 1))
    assert Invoice.objects.values("number").distinct().count() == threads_count * per_thread


# --- Payments -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("after_the_invoices")
def test_partial_payments_add_up_and_the_last_one_pays(django_capture_on_commit_callbacks):
    term = unpaid_term()
    invoice = invoice_issue(term=term, on=ISSUED)

    with django_capture_on_commit_callbacks() as callbacks:
        invoice_payment_record(invoice=invoice, amount=Decimal("100.00"), received_on=D(2027, 3, 5))
    invoice.refresh_from_db()
    term.refresh_from_db()
    assert (invoice.paid_on, term.is_paid, callbacks) == (None, False, [])
    assert status(term, D(2027, 3, 6)) == MembershipStatus.PENDING

    with django_capture_on_commit_callbacks() as callbacks:
        invoice_payment_record(invoice=invoice, amount=Decimal("200.00"), received_on=D(2027, 3, 9))
    invoice.refresh_from_db()
    term.refresh_from_db()

    assert invoice.paid_on == term.paid_on == D(2027, 3, 9)
    assert term.is_paid
    assert invoice_with_balance(invoice=invoice).paid_amount == Decimal("300.00")
    assert status(term, D(2027, 3, 10)) == MembershipStatus.CURRENT
    assert len(callbacks) == 1, "the confirmation is sent once the invoice is paid"


@pytest.mark.usefixtures("after_the_invoices")
def test_an_overpayment_pays_and_is_kept_whole():
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    invoice_payment_record(invoice=invoice, amount=Decimal("350.00"), received_on=D(2027, 3, 5))
    invoice.refresh_from_db()

    assert invoice.paid_on == D(2027, 3, 5)
    assert invoice_with_balance(invoice=invoice).paid_amount == Decimal("350.00")


@pytest.mark.usefixtures("after_the_invoices")
def test_each_invoice_has_one_status_from_its_payments_in_one_query(django_assert_num_queries):
    due, partial, paid, overpaid = (
        invoice_issue(term=unpaid_term(organisation__name=name), on=ISSUED)
        for name in ("Due", "Partial", "Paid", "Overpaid")
    )
    for invoice, amount in ((partial, "100.00"), (paid, "300.00"), (overpaid, "350.00")):
        invoice_payment_record(invoice=invoice, amount=Decimal(amount), received_on=ISSUED)

    with django_assert_num_queries(1):
        figures = {
            invoice.pk: (
                invoice.status,
                invoice.paid_amount,
                invoice.amount_left,
                invoice.overpaid_amount,
            )
            for invoice in invoices_with_balance()
        }

    assert figures == {
        due.pk: (InvoiceStatus.DUE, Decimal("0.00"), Decimal("300.00"), Decimal("0.00")),
        partial.pk: (InvoiceStatus.PARTIAL, Decimal("100.00"), Decimal("200.00"), Decimal("0.00")),
        paid.pk: (InvoiceStatus.PAID, Decimal("300.00"), Decimal("0.00"), Decimal("0.00")),
        overpaid.pk: (InvoiceStatus.OVERPAID, Decimal("350.00"), Decimal("0.00"), Decimal("50.00")),
    }
    # The status is a column: the admin's filter asks the database.
    assert list(invoices_with_balance().filter(status=InvoiceStatus.PARTIAL)) == [partial]


@pytest.mark.usefixtures("after_the_invoices")
def test_a_provider_reference_recorded_twice_makes_one_payment():
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    first = invoice_payment_record(
        invoice=invoice,
        amount=Decimal("300.00"),
        received_on=D(2027, 3, 5),
        method="card",
        provider_reference="cs_test_123",
    )
    second = invoice_payment_record(
        invoice=invoice,
        amount=Decimal("300.00"),
        received_on=D(2027, 3, 6),
        method="card",
        provider_reference="cs_test_123",
    )

    assert second.pk == first.pk
    assert Payment.objects.count() == 1
    assert invoice_with_balance(invoice=invoice).paid_amount == Decimal("300.00")


def test_a_payment_cannot_be_received_in_the_future_whoever_records_it():
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)

    with pytest.raises(ValidationError) as refused:
        invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=tomorrow)

    assert refused.value.message_dict == {
        "received_on": ["Un paiement ne peut pas être reçu dans le futur."]
    }
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert not invoice.is_paid


def test_a_payment_must_be_positive():
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)

    with pytest.raises(Exception, match="positif"):
        invoice_payment_record(invoice=invoice, amount=Decimal("0"), received_on=D(2027, 3, 5))
    assert not Payment.objects.exists()


@pytest.mark.usefixtures("after_the_invoices")
def test_removing_a_payment_unpays_the_invoice_and_its_term_when_short():
    term = unpaid_term()
    staff = UserFactory(is_staff=True)
    invoice = invoice_issue(term=term, on=ISSUED)
    small = invoice_payment_record(
        invoice=invoice, amount=Decimal("50.00"), received_on=D(2027, 3, 5)
    )
    mistaken = invoice_payment_record(
        invoice=invoice, amount=Decimal("300.00"), received_on=D(2027, 3, 6)
    )

    invoice_payment_remove(
        invoice=invoice, payment_key=small.pk, version=0, reason="Doublon", changed_by=staff
    )
    invoice.refresh_from_db()
    assert invoice.paid_on == D(2027, 3, 6), "the payments left still cover the invoice"

    invoice_payment_remove(
        invoice=invoice, payment_key=mistaken.pk, version=0, reason="Erreur", changed_by=staff
    )
    invoice.refresh_from_db()
    term.refresh_from_db()
    assert invoice.paid_on is None
    assert (term.is_paid, term.paid_on) == (False, None)
    assert status(term, D(2027, 3, 10)) == MembershipStatus.PENDING


# --- Who is told --------------------------------------------------------------------------------


def test_primary_and_billing_contacts_are_notified_else_everyone():
    organisation = OrganisationFactory()
    primary = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY)
    billing = ContactFactory(organisation=organisation, role=ContactRole.BILLING)
    ContactFactory(organisation=organisation, role=ContactRole.MEMBER)
    ContactFactory(role=ContactRole.PRIMARY)  # another organisation's
    colleagues = OrganisationFactory()
    members = [ContactFactory(organisation=colleagues, role=ContactRole.MEMBER) for _ in "ab"]

    assert list(contacts_to_notify(organisation)) == [primary, billing]
    assert list(contacts_to_notify(colleagues)) == members
    assert list(contacts_to_notify(OrganisationFactory())) == []


# --- E-mails ------------------------------------------------------------------------------------


def paid_invoice(**membership) -> Invoice:
    term = unpaid_term(**membership)
    invoice = invoice_issue(term=term, on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(2027, 3, 9))
    invoice.refresh_from_db()
    return invoice


def attachment(message) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    return part.get_filename(), part.get_content()


@pytest.mark.usefixtures("after_the_invoices")
def test_the_confirmation_goes_once_with_the_certificate_in_each_language(mailbox):
    legal_details()
    invoice = paid_invoice(organisation__name="Garonne & Fils", member_number="DP-0042")
    term = invoice.term
    contact(term, "camille@garonne.example")
    contact(term, "compta@garonne.example", role=ContactRole.BILLING, language="en")
    contact(term, "dev@garonne.example", role=ContactRole.MEMBER)

    assert invoice_confirmation_send(invoice=invoice) is True
    french, english = sorted(mailbox.wait_for(2), key=lambda m: m["Content-Language"] != "fr")

    assert french["To"] == "camille@garonne.example"
    assert english["To"] == "compta@garonne.example"
    assert "DP-2027-00001" in french["Subject"]
    assert french["Reply-To"] == "adhesions@digitalplace.example"
    text = mailbox.text(french)
    assert "Garonne & Fils" in text and "&amp;" not in text
    assert "300,00\xa0€" in text
    assert "du 1er janvier 2027 au 31 décembre 2027" in text
    assert "/espace/" in text
    html = french.get_body(preferencelist=("html",)).get_content()
    assert "Garonne &amp; Fils" in html and 'lang="fr"' in html

    filename, content = attachment(french)
    assert filename == "attestation-DP-0042-2027.pdf"
    certificate = pdf_text(content)
    assert "Attestation d’adhésion" in certificate
    assert "Garonne & Fils" in certificate and "DP-0042" in certificate
    assert "9 mars 2027" in certificate

    assert english["Content-Language"] == "en"
    assert "€300.00" in mailbox.text(english)
    assert "March 9, 2027" in pdf_text(attachment(english)[1])
    assert 'lang="en"' in english.get_body(preferencelist=("html",)).get_content()

    invoice.refresh_from_db()
    assert invoice.confirmation_sent_at is not None
    assert invoice_confirmation_send(invoice=invoice) is False
    assert len(mailbox.messages) == 2


def test_no_confirmation_for_an_unpaid_invoice(mailbox):
    term = unpaid_term()
    contact(term, "camille@example.org")
    invoice = invoice_issue(term=term, on=ISSUED)

    assert invoice_confirmation_send(invoice=invoice) is False
    assert mailbox.messages == []


@pytest.mark.usefixtures("after_the_invoices")
def test_a_failed_sending_leaves_the_confirmation_to_send(settings, mailbox):
    invoice = paid_invoice()
    contact(invoice.term, "camille@example.org")
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens there: the connection is refused

    with pytest.raises(ConnectionError):
        invoice_confirmation_send(invoice=invoice)
    invoice.refresh_from_db()
    assert invoice.confirmation_sent_at is None

    settings.EMAIL_PORT = port
    assert invoice_confirmation_send(invoice=invoice) is True
    assert len(mailbox.wait_for(1)) == 1


def test_the_invoice_notice_carries_the_invoice_and_how_to_pay(mailbox):
    legal_details()
    term = unpaid_term(organisation__name="Garonne Data")
    contact(term, "camille@garonne.example")
    invoice = invoice_issue(term=term, on=ISSUED)

    assert invoice_notice_send(invoice=invoice) is True
    (message,) = mailbox.wait_for(1)

    assert "DP-2027-00001" in message["Subject"]
    text = mailbox.text(message)
    assert "FR76 9900 1310 0000 0123 4567 812" in text
    assert "DPLCFRP1XXX" in text
    assert "31 mars 2027" in text, "the due date"
    filename, content = attachment(message)
    assert filename == "facture-DP-2027-00001.pdf"
    assert "DP-2027-00001" in pdf_text(content)

    assert invoice_notice_send(invoice=invoice) is False, "sent once, like the confirmation"
    invoice.refresh_from_db()
    assert invoice.notice_sent_at is not None
    assert len(mailbox.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_sends_the_confirmation_after_the_last_payment(redis_broker, mailbox):
    invoice = invoice_issue(term=unpaid_term(), on=timezone.localdate())
    contact(invoice.term, "camille@example.org")

    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        invoice_payment_record(
            invoice=invoice, amount=invoice.amount, received_on=timezone.localdate()
        )
        (message,) = mailbox.wait_for(1, timeout=30)

    assert message["To"] == "camille@example.org"
    invoice.refresh_from_db()
    assert invoice.confirmation_sent_at is not None


def test_a_term_paid_before_invoices_were_issued_here_gets_none():
    term = unpaid_term()
    term.is_paid, term.paid_on = True, ISSUED
    term.save()

    with pytest.raises(ValidationError, match="déjà payée"):
        invoice_issue(term=term, on=ISSUED)
    assert not Invoice.objects.exists()
