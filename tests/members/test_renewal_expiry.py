"""Unpaid renewals expire: a renewal still unpaid its cluster's number of days after its start
(or its invoice, when issued later) is cancelled by a full credit note, on that day and not the
day before, by a daily pass that catches up missed days and cancels each term once, even with
two passes at once or a payment in the same second; its contacts are told once, in their
language; the membership falls back to what its other terms say and can be renewed again for
the period; a payment that arrives after that is over-paid on a cancelled invoice, to refund."""

import datetime as dt
import threading
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from cluster.celery import app as celery_app
from members import mailing
from members.models import (
    Cluster,
    ContactRole,
    CreditNote,
    CreditNoteOrigin,
    Invoice,
    InvoiceStatus,
    Mail,
    MailPurpose,
    MailState,
    Membership,
    MembershipStatus,
    Payment,
    PaymentMethod,
    Term,
)
from members.payments import providers_for
from members.selectors import (
    invoice_with_balance,
    memberships_with_status,
    reminders_due,
    renewals_unpaid_expired,
)
from members.services import contact_login_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.renewals import membership_renew, renewals_expire
from members.tasks import renewals_expire_pass
from tests.factories import ContactFactory, TermFactory, cluster, staff_user
from tests.html_forms import form_data
from tests.members.billing_helpers import bank_details_give, legal_details, pdf_text
from tests.stripe_fake import stripe_fake_server, webhook_request

pytestmark = pytest.mark.django_db

D = dt.date
PARIS = ZoneInfo("Europe/Paris")
#: The renewal's invoice is issued before its year starts, on 1 December 2026.
INVOICED = D(2026, 12, 1)
#: 1 January 2027 + 60 days: the day the 2027 renewal, still unpaid, expires.
DUE = D(2027, 3, 2)


def renewal(*, slug: str = "digitalplace", invoiced: bool = True, **membership) -> Term:
    """A membership of ``slug`` paid for 2026 and renewed for 2027, unpaid; the renewal's
    invoice issued on :data:`INVOICED` unless not ``invoiced``."""
    paid = TermFactory(
        membership__cluster=cluster(slug),
        year=2026,
        paid_on=D(2025, 12, 10),
        **{f"membership__{name}": value for name, value in membership.items()},
    )
    term = TermFactory(membership=paid.membership, plan=paid.plan, year=2027, is_paid=False)
    if invoiced:
        invoice_issue(term=term, on=INVOICED)
    return term


def status_of(term: Term, on: dt.date) -> str:
    return memberships_with_status(on=on).get(pk=term.membership_id).status


def pass_on(day: dt.date):
    """The pass as beat runs it (no date given), on ``day`` at 07:00 in Paris."""
    with time_machine.travel(dt.datetime.combine(day, dt.time(7), tzinfo=PARIS), tick=False):
        return renewals_expire()


@pytest.fixture(autouse=True)
def _legal_details():
    legal_details()


@pytest.fixture(autouse=True)
def _in_2027(time_machine):
    """The clock in June 2027, ticking: payments of early 2027 are not in the future. Each
    pass travels to its own day."""
    time_machine.move_to(dt.datetime(2027, 6, 1, 12, tzinfo=PARIS), tick=True)


# --- The day it is due ------------------------------------------------------------------------


def test_an_unpaid_renewal_expires_on_the_day_it_is_due_and_not_the_day_before():
    term = renewal()
    invoice = term.invoice

    eve = pass_on(DUE - dt.timedelta(days=1))

    assert eve.as_json() == {
        "today": "2027-03-01",
        "due": 0,
        "credit_notes": 0,
        "without_invoice": 0,
    }
    assert not CreditNote.objects.exists()
    assert status_of(term, DUE - dt.timedelta(days=1)) == MembershipStatus.PENDING

    day = pass_on(DUE)

    assert (day.due, day.credit_notes, day.without_invoice) == (1, 1, 0)
    credit_note = CreditNote.objects.get()
    assert credit_note.invoice == invoice
    assert (credit_note.amount, credit_note.issued_on, credit_note.origin) == (
        Decimal("300.00"),
        DUE,
        CreditNoteOrigin.EXPIRY,
    )
    assert credit_note.reason == "Renouvellement impayé 60 jours après le début de la période"
    assert credit_note.issued_by is None and credit_note.term_cancelled
    invoice.refresh_from_db()
    term.refresh_from_db()
    assert (invoice.cancelled_on, term.cancelled_on, term.is_paid) == (DUE, DUE, False)
    assert invoice_with_balance(invoice=invoice).status == InvoiceStatus.CANCELLED
    # The 2026 term ended on 31 December and the 30 days of grace are over: lapsed.
    assert status_of(term, DUE) == MembershipStatus.LAPSED

    # The next pass, the same day or later, finds nothing more to do.
    assert pass_on(DUE).due == 0
    assert pass_on(DUE + dt.timedelta(days=1)).due == 0
    assert CreditNote.objects.count() == 1


def test_the_membership_falls_back_to_grace_when_its_previous_term_says_so():
    Cluster.objects.filter(slug="digitalplace").update(grace_days=90)
    term = renewal()

    pass_on(DUE)

    # Paid up to 31 December 2026, 90 days of grace: still in grace on 2 March 2027.
    assert status_of(term, DUE) == MembershipStatus.GRACE
    assert status_of(term, D(2027, 4, 1)) == MembershipStatus.LAPSED


def test_a_day_without_a_pass_is_caught_up_by_the_next_one():
    term = renewal()

    result = pass_on(D(2027, 3, 9))

    assert result.credit_notes == 1
    term.refresh_from_db()
    assert term.cancelled_on == D(2027, 3, 9)
    assert CreditNote.objects.get().issued_on == D(2027, 3, 9)


def test_each_cluster_has_its_own_delay_and_an_empty_one_never_expires():
    Cluster.objects.filter(slug="frenchsouth").update(unpaid_renewal_expiry_days=30)
    Cluster.objects.filter(slug="digitalplace").update(unpaid_renewal_expiry_days=None)
    legal_details("frenchsouth")
    never = renewal()
    sooner = renewal(slug="frenchsouth")

    assert pass_on(D(2027, 1, 30)).due == 0
    assert pass_on(D(2027, 1, 31)).credit_notes == 1
    assert pass_on(D(2027, 12, 31)).due == 0

    sooner.refresh_from_db()
    never.refresh_from_db()
    assert sooner.cancelled_on == D(2027, 1, 31)
    assert never.cancelled_on is None
    assert CreditNote.objects.get().reason == (
        "Renouvellement impayé 30 jours après le début de la période"
    )


def test_a_renewal_invoiced_after_its_start_has_the_whole_delay_from_its_invoice():
    """A member renewing late (in grace, or again after an expiry) is not cancelled the next
    morning: the delay runs from the invoice when it is later than the start."""
    paid = TermFactory(membership__cluster=cluster(), year=2026)
    late = TermFactory(membership=paid.membership, plan=paid.plan, year=2027, is_paid=False)
    invoice_issue(term=late, on=D(2027, 2, 20))

    assert pass_on(D(2027, 4, 20)).due == 0
    assert pass_on(D(2027, 4, 21)).credit_notes == 1
    assert CreditNote.objects.get().reason == (
        "Renouvellement impayé 60 jours après sa facture du 20/02/2027"
    )


# --- What never expires -----------------------------------------------------------------------


def test_a_first_term_never_expires_nor_a_paid_or_free_one():
    first = TermFactory(membership__cluster=cluster(), year=2027, is_paid=False)
    invoice_issue(term=first, on=INVOICED)
    # The earlier term of this one was cancelled: it is a first term too.
    cancelled = TermFactory(membership__cluster=cluster(), year=2026, cancelled_on=D(2026, 2, 1))
    after_cancelled = TermFactory(
        membership=cancelled.membership, plan=cancelled.plan, year=2027, is_paid=False
    )
    paid = renewal()
    invoice_payment_record(
        invoice=paid.invoice, amount=Decimal("300.00"), received_on=D(2027, 1, 5)
    )
    free = renewal(invoiced=False)
    Term.objects.filter(pk=free.pk).update(fee=Decimal("0.00"))

    assert pass_on(D(2028, 6, 1)).due == 0

    for term in (first, after_cancelled, paid, free):
        term.refresh_from_db()
        assert term.cancelled_on is None


def test_a_partly_paid_renewal_is_left_for_staff_to_follow_up():
    """Whoever paid part of it meant to renew: staff follow it up (the invoice stays in the
    unpaid ones, with what is left), it is not cancelled with money to refund."""
    term = renewal()
    invoice_payment_record(
        invoice=term.invoice, amount=Decimal("100.00"), received_on=D(2027, 1, 5)
    )

    assert pass_on(DUE).due == 0

    term.refresh_from_db()
    assert term.cancelled_on is None
    assert invoice_with_balance(invoice=term.invoice).status == InvoiceStatus.PARTIAL


def test_a_resigned_or_transferred_membership_is_left_to_staff():
    resigned = renewal()
    Membership.objects.filter(pk=resigned.membership_id).update(cancelled_on=D(2027, 1, 15))
    transferred = renewal()
    Membership.objects.filter(pk=transferred.membership_id).update(transferred_on=D(2027, 1, 15))

    assert pass_on(DUE).due == 0


def test_a_renewal_never_invoiced_is_cancelled_alone_without_credit_note(
    django_capture_on_commit_callbacks,
):
    """An unpaid renewal entered by staff or imported, never invoiced, owes nothing on paper:
    the term alone is cancelled, its delay counted from the later of its start and the day it
    was recorded; its contacts are told all the same."""
    with time_machine.travel(dt.datetime(2026, 12, 1, 10, tzinfo=PARIS), tick=False):
        term = renewal(invoiced=False)
    ContactFactory(organisation=term.membership.organisation, role=ContactRole.PRIMARY)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = pass_on(DUE)

    assert (result.credit_notes, result.without_invoice) == (0, 1)
    assert not CreditNote.objects.exists()
    term.refresh_from_db()
    assert term.cancelled_on == DUE
    assert Mail.objects.get().purpose == MailPurpose.RENEWAL_EXPIRED
    assert len(callbacks) == 1  # the e-mail's batch, queued after commit


# --- At the same time --------------------------------------------------------------------------


def _in_threads(*functions):
    """Run each function in a thread of its own (its own database connection), started
    together; return their results, or raise the first error."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)
    errors: list[BaseException] = []

    def run(position, function):
        try:
            barrier.wait()
            results[position] = function()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(position, function))
        for position, function in enumerate(functions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return results


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_issue_one_credit_note_per_renewal(postgresql):
    terms = [renewal(organisation__name=f"Course {n}") for n in range(5)]

    results = _in_threads(lambda: renewals_expire(today=DUE), lambda: renewals_expire(today=DUE))

    assert sum(result.credit_notes for result in results) == 5
    assert CreditNote.objects.count() == 5
    assert sorted(CreditNote.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5]
    assert set(CreditNote.objects.values_list("invoice__term", flat=True)) == {
        term.pk for term in terms
    }
    # One e-mail entry per contact and term, whatever the passes.
    assert Mail.objects.filter(purpose=MailPurpose.RENEWAL_EXPIRED).count() == len(
        set(Mail.objects.values_list("object_id", "email"))
    )


@pytest.mark.django_db(transaction=True)
def test_a_payment_recorded_in_the_same_second_leaves_the_renewal_paid(postgresql):
    """The pass waits for the payment that holds the invoice's lock, then reads the rule again:
    the term is paid, nothing is cancelled."""
    term = renewal()
    passes = []
    expiry = threading.Thread(
        target=lambda: passes.extend(_in_threads(lambda: renewals_expire(today=DUE)))
    )
    with transaction.atomic():
        invoice_payment_record(invoice=term.invoice, amount=Decimal("300.00"), received_on=DUE)
        expiry.start()
        time.sleep(1)
        assert expiry.is_alive(), "the pass waits for the invoice's lock"
    expiry.join(timeout=30)

    [result] = passes
    assert (result.due, result.credit_notes, result.without_invoice) == (1, 0, 0)

    term.refresh_from_db()
    assert (term.is_paid, term.cancelled_on) == (True, None)
    assert not CreditNote.objects.exists()
    assert status_of(term, DUE) == MembershipStatus.CURRENT


# --- Its contacts are told ----------------------------------------------------------------------


def test_each_contact_to_notify_is_told_once_in_its_language(
    mailbox, django_capture_on_commit_callbacks
):
    term = renewal(organisation__name="Octo Sud")
    organisation = term.membership.organisation
    primary = ContactFactory(organisation=organisation, role=ContactRole.PRIMARY, language="fr")
    billing = ContactFactory(organisation=organisation, role=ContactRole.BILLING, language="en")
    colleague = ContactFactory(organisation=organisation, role=ContactRole.MEMBER)

    with django_capture_on_commit_callbacks(execute=False):
        pass_on(DUE)
        pass_on(DUE + dt.timedelta(days=1))
    entries = list(
        Mail.objects.filter(purpose=MailPurpose.RENEWAL_EXPIRED).values_list("pk", flat=True)
    )
    assert len(entries) == 2
    # A batch delivered twice sends nothing twice.
    mailing.mail_batch_send(ledger=mailing.MAILS, entry_ids=entries)
    mailing.mail_batch_send(ledger=mailing.MAILS, entry_ids=entries)

    assert len(mailbox.messages) == 2
    assert mailbox.to(colleague.email) == []
    [french] = mailbox.to(primary.email)
    [english] = mailbox.to(billing.email)
    number = term.invoice.number
    area = settings.SITE_URL.rstrip("/") + reverse("members:area")
    assert french["Subject"].strip() == (
        "Votre renouvellement à DigitalPlace est annulé faute de paiement"
    )
    assert french["Content-Language"] == "fr"
    text = " ".join(mailbox.text(french).split())
    for said in (
        "Le renouvellement de l’adhésion de Octo Sud à DigitalPlace pour la période du 1er "
        "janvier 2027 au 31 décembre 2027 (300,00 €) est annulé",
        f"La facture {number} est annulée par un avoir",
        "Votre adhésion est désormais au statut « Expirée ».",
        area,
    ):
        assert said in text
    assert english["Subject"].strip() == "Your DigitalPlace renewal is cancelled for non-payment"
    assert english["Content-Language"] == "en"
    text = " ".join(mailbox.text(english).split())
    for said in (
        "The renewal of Octo Sud's membership of DigitalPlace for the period from January 1, "
        "2027 to December 31, 2027 (€300.00) is cancelled",
        f"Invoice {number} is cancelled by a credit note",
        "Your membership's status is now “Lapsed”.",
        area,
    ):
        assert said in text
    html = english.get_body(("html",)).get_content()
    assert area in html and "Lapsed" in html
    assert set(Mail.objects.values_list("state", flat=True)) == {MailState.SENT}
    # One e-mail, not two: the credit note that cancelled the invoice is attached to it.
    credit_note = term.invoice.credit_notes.get()
    for message in (french, english):
        [pdf] = [part for part in message.iter_attachments()]
        assert pdf.get_filename() == f"avoir-{credit_note.number}.pdf"
        assert credit_note.number in pdf_text(pdf.get_content())
    assert not Mail.objects.filter(purpose=MailPurpose.CREDIT_NOTE_NOTICE).exists()
    credit_note.refresh_from_db()
    assert credit_note.notice_sent_at is not None


# --- What a late payment then shows ----------------------------------------------------------


@pytest.fixture
def expired(client, django_capture_on_commit_callbacks):
    """A renewal expired on :data:`DUE`, its member signed in, the clock on 5 March 2027."""
    bank_details_give()
    term = renewal()
    contact = ContactFactory(organisation=term.membership.organisation, role=ContactRole.PRIMARY)
    client.force_login(contact_login_ensure(contact=contact)[0])
    pass_on(DUE)
    with time_machine.travel(dt.datetime(2027, 3, 5, 10, tzinfo=PARIS), tick=False):
        term.refresh_from_db()
        yield term


def test_a_transfer_after_the_expiry_is_over_paid_on_the_cancelled_invoice(
    client, expired, django_capture_on_commit_callbacks
):
    invoice = Invoice.objects.get(term=expired)

    with django_capture_on_commit_callbacks() as callbacks:
        invoice_payment_record(
            invoice=invoice,
            amount=Decimal("300.00"),
            received_on=D(2027, 3, 4),
            reference="VIR ACME",
        )

    balance = invoice_with_balance(invoice=invoice)
    assert (balance.status, balance.overpaid_amount, balance.amount_left) == (
        InvoiceStatus.OVERPAID,
        Decimal("300.00"),
        Decimal("0.00"),
    )
    expired.refresh_from_db()
    assert (expired.is_paid, expired.cancelled_on, balance.paid_on) == (False, DUE, None)
    assert callbacks == [], "no payment confirmation for a cancelled invoice"
    assert status_of(expired, D(2027, 3, 5)) == MembershipStatus.LAPSED

    # Staff see the amount to refund on the invoice's page.
    client.force_login(staff_user("digitalplace"))
    page = client.get(reverse("admin:members_invoice_change", args=[invoice.pk]))
    field = page.content.decode().replace("\xa0", " ").split("field-overpaid_display", 1)[1]
    assert "<label>Trop-perçu à rembourser :</label>" in field
    assert field.split('<div class="readonly">', 1)[1].split("</div>", 1)[0] == (
        "<strong>300,00 €</strong>"
    )


def test_a_card_page_opened_before_the_expiry_and_paid_after_it_is_over_paid(
    client, settings, django_capture_on_commit_callbacks
):
    """The member opened the card payment page on 28 February and pays it after the expiry:
    Stripe's notification records the payment on the cancelled invoice, which stays cancelled,
    over-paid, and its term unpaid; no confirmation goes out."""
    bank_details_give()
    term = renewal()
    contact = ContactFactory(organisation=term.membership.organisation, role=ContactRole.PRIMARY)
    client.force_login(contact_login_ensure(contact=contact)[0])
    with stripe_fake_server() as stripe_api:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = ["whsec_test_secret"]
        settings.STRIPE_API_BASE = stripe_api.url
        with time_machine.travel(dt.datetime(2027, 2, 28, 10, tzinfo=PARIS), tick=True):
            opened = client.post(reverse("members:card_checkout", args=[term.invoice.pk]))
        assert opened.status_code == 303
        session_id = opened.url.rsplit("/", 1)[-1]
        pass_on(DUE)
        with (
            time_machine.travel(dt.datetime(2027, 3, 3, 10, tzinfo=PARIS), tick=True),
            django_capture_on_commit_callbacks() as callbacks,
        ):
            payload, signature = webhook_request(
                "checkout.session.completed",
                stripe_api.pay(session_id),
                secret="whsec_test_secret",
            )
            answer = Client().post(
                "/paiements/stripe/webhook/",
                data=payload,
                content_type="application/json",
                headers={"Stripe-Signature": signature},
            )

    assert answer.status_code == 200
    payment = Payment.objects.get(invoice=term.invoice)
    assert (payment.method, payment.amount) == (PaymentMethod.CARD, Decimal("300.00"))
    balance = invoice_with_balance(invoice=term.invoice)
    assert (balance.status, balance.overpaid_amount, balance.paid_on) == (
        InvoiceStatus.OVERPAID,
        Decimal("300.00"),
        None,
    )
    term.refresh_from_db()
    assert (term.is_paid, term.cancelled_on) == (False, DUE)
    assert callbacks == []


def test_the_member_sees_the_invoice_cancelled_with_the_payment_received(client, expired):
    invoice = Invoice.objects.get(term=expired)
    invoice_payment_record(
        invoice=invoice,
        amount=Decimal("300.00"),
        received_on=D(2027, 3, 4),
        method=PaymentMethod.TRANSFER,
    )

    page = client.get(reverse("members:invoice_detail", args=[invoice.pk])).content.decode()

    assert "Annulée le 2 mars 2027" in page
    assert "Cette facture est annulée par l’avoir DP-AV-2027-00001 du 2 mars 2027" in page
    assert "4 mars 2027" in page and "Virement" in page
    assert "Trop-perçu : vous avez réglé 300,00\xa0€ sur une facture annulée." in page
    assert "Montant à vous rembourser :" in page
    assert "Reste à payer" not in page and "Régler cette facture" not in page


def test_a_cancelled_invoice_offers_no_way_to_pay(expired, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_configured"
    invoice = Invoice.objects.get(term=expired)

    assert providers_for(invoice) == []


def test_the_member_can_renew_again_for_the_same_period_after_the_expiry(client, expired):
    area = client.get(reverse("members:area")).content.decode()

    assert "Votre adhésion a expiré" in area
    assert (
        "Le renouvellement est ouvert pour la période du 1er janvier 2027 au 31 décembre 2027."
        in area
    )
    assert "Payer" not in area and "À régler" not in area, "the cancelled invoice is not to pay"
    # The history says it was cancelled, and leads to the invoice's page (a late payment).
    invoice_url = reverse("members:invoice_detail", args=[expired.invoice.pk])
    assert "Annulée le 02/03/2027" in area
    assert f'href="{invoice_url}">Détail<' in area
    page = client.get(reverse("members:renewal_plan", args=[expired.membership_id]))
    assert page.status_code == 200 and "du 1er janvier 2027 au 31 décembre 2027" in (
        page.content.decode()
    )

    previous = Term.objects.get(membership=expired.membership, start_date=D(2026, 1, 1))
    again = membership_renew(
        membership=expired.membership, after=previous, plan=expired.plan, today=D(2027, 3, 5)
    )

    assert again.created and again.term.pk != expired.pk
    assert (again.term.start_date, again.term.end_date) == (D(2027, 1, 1), D(2027, 12, 31))
    assert again.invoice.issued_on == D(2027, 3, 5)
    assert status_of(expired, D(2027, 3, 5)) == MembershipStatus.PENDING
    # Its delay runs from its own invoice: it does not expire the next morning.
    assert pass_on(D(2027, 3, 6)).due == 0
    assert pass_on(D(2027, 5, 4)).credit_notes == 1


def test_reminders_leave_out_the_cancelled_renewal(expired):
    later = TermFactory(membership__cluster=cluster(), year=2027, is_paid=False)
    TermFactory(membership=later.membership, plan=later.plan, year=2026)

    # 30 days before the end of 2027: the standing renewal is reminded, the cancelled one not.
    due = set(reminders_due(on=D(2027, 12, 1)).values_list("pk", flat=True))

    assert later.pk in due and expired.pk not in due


# --- Through a real worker, every morning ------------------------------------------------------


def test_the_pass_is_in_beats_schedule_every_morning_before_the_reminders():
    entry = settings.CELERY_BEAT_SCHEDULE["renewals-expiry-daily"]
    celery_app.loader.import_default_modules()

    assert entry["task"] == "members.tasks.renewals_expire_pass"
    assert entry["task"] in celery_app.tasks
    last_run = dt.datetime(2027, 3, 1, 7, tzinfo=PARIS)
    with time_machine.travel(dt.datetime(2027, 3, 2, 7, tzinfo=PARIS), tick=False):
        assert entry["schedule"].is_due(last_run) == (True, 24 * 3600)


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_pass_and_sends_the_e_mails(redis_broker, mailbox):
    term = renewal()
    contact = ContactFactory(organisation=term.membership.organisation, role=ContactRole.PRIMARY)

    with (
        start_worker(celery_app, pool="solo", perform_ping_check=False),
        time_machine.travel(dt.datetime(2027, 3, 2, 7, tzinfo=PARIS), tick=True),
    ):
        result = renewals_expire_pass.delay().get(timeout=30)
        mailbox.wait_for(1, timeout=30)
        again = renewals_expire_pass.delay().get(timeout=30)

    assert result == {"today": "2027-03-02", "due": 1, "credit_notes": 1, "without_invoice": 0}
    assert again["due"] == 0
    assert [message["To"] for message in mailbox.messages] == [contact.email]
    assert Payment.objects.count() == 0
    assert renewals_unpaid_expired(on=DUE).count() == 0


# --- The cluster's setting -------------------------------------------------------------------


def test_the_clusters_staff_set_its_delay_or_empty_it_and_a_wrong_value_is_a_form_error(client):
    dp = Cluster.objects.get(slug="digitalplace")
    client.force_login(staff_user("digitalplace"))
    url = reverse("admin:members_cluster_change", args=[dp.pk])
    page = client.get(url)
    assert "Vide : jamais." in page.content.decode()
    data = form_data(page, id="cluster_form")
    assert data["unpaid_renewal_expiry_days"] == "60"

    for wrong in ("-1", "abc", "99999", "1e3"):
        refused = client.post(url, data | {"unpaid_renewal_expiry_days": wrong})
        assert refused.status_code == 200, wrong
        assert refused.context["adminform"].form.errors["unpaid_renewal_expiry_days"]
    assert client.post(url, data | {"unpaid_renewal_expiry_days": "45"}).status_code == 302
    dp.refresh_from_db()
    assert dp.unpaid_renewal_expiry_days == 45
    assert client.post(url, data | {"unpaid_renewal_expiry_days": ""}).status_code == 302
    dp.refresh_from_db()
    assert dp.unpaid_renewal_expiry_days is None
    # Another cluster's staff do not reach it.
    client.force_login(staff_user("frenchsouth"))
    assert client.post(url, data | {"unpaid_renewal_expiry_days": "1"}).status_code in (
        302,
        403,
        404,
    )
    dp.refresh_from_db()
    assert dp.unpaid_renewal_expiry_days is None
