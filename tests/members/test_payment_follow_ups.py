"""Payment follow-ups of unpaid invoices, the pass and the sending, on PostgreSQL with a local
SMTP server: J+14 nothing, J+15 the first, J+30 the second, each once however often the pass
runs, even two at once; after missed days only the latest step due; a payment or a credit note
stops them, before the pass or while an entry waits to be sent; each contact reads its language
with the placeholders filled.

The sending through a real worker, killed in the middle, is in
test_payment_follow_ups_worker.py; the policy's admin in test_payment_follow_ups_admin.py.
"""

import datetime as dt
import threading
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from members.models import (
    ContactRole,
    Invoice,
    PaymentFollowUp,
    PaymentFollowUpPolicy,
    PaymentFollowUpReason,
    PaymentFollowUpState,
    PaymentFollowUpStep,
)
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from members.services.follow_ups import (
    payment_follow_up_policy_ensure,
    payment_follow_ups_schedule,
    payment_follow_ups_send,
)
from tests.factories import cluster
from tests.members.billing_helpers import ISSUED, contact, legal_details, unpaid_term

pytestmark = pytest.mark.django_db

DUE = dt.date(2027, 3, 31)  # the due date of an invoice issued on ISSUED (30 days)


@pytest.fixture(autouse=True)
def _after_the_follow_ups(time_machine):
    """The clock in June 2027, ticking: a payment cannot be received in the future."""
    time_machine.move_to(dt.datetime(2027, 6, 1, 12, tzinfo=ZoneInfo("Europe/Paris")), tick=True)


def day(days_after_due: int) -> dt.date:
    return DUE + dt.timedelta(days=days_after_due)


def unpaid_invoice(
    slug: str = "digitalplace", *, email: str = "camille@acme.example", language: str = "fr", **kw
) -> Invoice:
    """An invoice of 300 € issued on ISSUED, due on DUE, unpaid, its organisation with one
    primary contact at ``email``."""
    legal_details(slug)
    term = unpaid_term(slug, **kw)
    if email:
        contact(term, email, language=language)
    invoice = invoice_issue(term=term, on=ISSUED)
    assert invoice.due_on == DUE
    return invoice


def run_pass(on: dt.date):
    """The pass of ``on``, then the sending of what it recorded (as its tasks would)."""
    result = payment_follow_ups_schedule(today=on)
    pending = PaymentFollowUp.objects.filter(state=PaymentFollowUpState.PENDING)
    payment_follow_ups_send(follow_up_ids=list(pending.values_list("pk", flat=True)))
    return result


def send_all() -> None:
    """What the tasks of every recorded entry would do."""
    payment_follow_ups_send(
        follow_up_ids=list(PaymentFollowUp.objects.values_list("pk", flat=True))
    )


def subjects(mailbox) -> list[str]:
    return [" ".join(message["Subject"].split()) for message in mailbox.messages]


# --- When -----------------------------------------------------------------------------------------


def test_nothing_at_j14_the_first_at_j15_the_second_at_j30_each_once(mailbox):
    invoice = unpaid_invoice()
    number = invoice.number

    assert run_pass(day(14)).due == 0
    assert mailbox.messages == []
    for on in (day(15), day(15), day(16), day(29)):  # twice the same day, then the next days
        run_pass(on)
    assert subjects(mailbox) == [f"Facture {number} : paiement en attente"]
    for on in (day(30), day(30), day(31), day(40)):
        run_pass(on)
    assert subjects(mailbox) == [
        f"Facture {number} : paiement en attente",
        f"Deuxième relance : facture {number} impayée",
    ]
    entries = PaymentFollowUp.objects.order_by("days_after_due")
    assert [(e.days_after_due, e.due_on, e.scheduled_on, e.state) for e in entries] == [
        (15, day(15), day(15), PaymentFollowUpState.SENT),
        (30, day(30), day(30), PaymentFollowUpState.SENT),
    ]
    second = run_pass(day(30))
    assert (second.due, second.scheduled, second.already_sent) == (1, 0, 1)


@pytest.mark.parametrize("lateness", [7, 30])  # J+15 too late to go, or still in its window
def test_after_20_missed_days_only_the_latest_step_due_goes_out(mailbox, lateness):
    PaymentFollowUpPolicy.objects.update(max_lateness_days=lateness)
    invoice = unpaid_invoice()
    run_pass(day(14))

    result = run_pass(day(14 + 20))  # J+34: J+15 and J+30 both due, missed

    assert (result.due, result.scheduled) == (1, 1)
    assert subjects(mailbox) == [f"Deuxième relance : facture {invoice.number} impayée"]
    assert "il y a 34 jours" in mailbox.text(mailbox.messages[0])
    assert list(PaymentFollowUp.objects.values_list("days_after_due", flat=True)) == [30]
    run_pass(day(35))
    assert len(mailbox.messages) == 1, "the missed J+15 is not sent afterwards"


def test_a_follow_up_later_than_the_policys_lateness_is_not_sent():
    unpaid_invoice()
    assert payment_follow_ups_schedule(today=day(30 + 7)).scheduled == 1
    PaymentFollowUp.objects.all().delete()
    # A first pass over an invoice long overdue writes to nobody.
    assert payment_follow_ups_schedule(today=day(30 + 8)).due == 0


def test_a_suspended_policy_sends_nothing_and_each_cluster_follows_its_own():
    unpaid_invoice(email="dp@acme.example")
    unpaid_invoice("frenchsouth", email="fs@acme.example")
    PaymentFollowUpPolicy.objects.filter(cluster__slug="frenchsouth").update(is_active=False)
    PaymentFollowUpStep.objects.filter(
        policy__cluster__slug="digitalplace", days_after_due=15
    ).update(days_after_due=10)

    assert payment_follow_ups_schedule(today=day(10)).scheduled == 1
    assert payment_follow_ups_schedule(today=day(15)).scheduled == 0
    assert list(PaymentFollowUp.objects.values_list("email", "days_after_due")) == [
        ("dp@acme.example", 10)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_passes_at_once_record_each_follow_up_once(postgresql):
    invoices = [unpaid_invoice(email=f"c{index}@acme.example") for index in range(3)]
    dp = cluster("digitalplace").pk
    start = threading.Barrier(4)
    results, errors = [], []

    def run(cluster_ids):
        try:
            start.wait()
            results.append(payment_follow_ups_schedule(today=day(15), cluster_ids=cluster_ids))
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(ids,)) for ids in ([dp], [dp], None, None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(result.scheduled for result in results) == 3
    assert sorted(PaymentFollowUp.objects.values_list("invoice_id", flat=True)) == sorted(
        invoice.pk for invoice in invoices
    )


def test_the_pass_s_queries_do_not_grow_with_the_invoices():
    def queries_of_a_pass(on: dt.date) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            result = payment_follow_ups_schedule(today=on)
        return result.emails, len(queries)

    for index in range(3):
        unpaid_invoice(email=f"few{index}@acme.example")
    few = queries_of_a_pass(day(15))
    for index in range(30):
        unpaid_invoice(email=f"many{index}@acme.example")
    many = queries_of_a_pass(day(30))

    assert (few[0], many[0]) == (3, 33)
    assert few[1] == many[1]


def test_the_ledger_refuses_a_step_twice_for_one_invoice_and_address():
    invoice = unpaid_invoice()
    payment_follow_ups_schedule(today=day(15))
    entry = PaymentFollowUp.objects.get()

    # PostgreSQL names the constraint, SQLite its columns.
    with pytest.raises(
        IntegrityError,
        match=r"follow_up_once_per_invoice_step_and_recipient|"
        r"UNIQUE constraint failed: members_paymentfollowup\.invoice_id",
    ):
        PaymentFollowUp.objects.create(
            invoice=invoice, days_after_due=15, due_on=day(15), scheduled_on=day(16),
            email=entry.email,
        )  # fmt: skip


# --- Stopped by payment or cancellation ----------------------------------------------------------


@pytest.mark.parametrize("settle", ["payment", "credit_note"])
def test_a_payment_or_a_credit_note_before_the_pass_stops_the_follow_ups(mailbox, settle):
    invoice = unpaid_invoice()
    if settle == "payment":
        invoice_payment_record(invoice=invoice, amount=Decimal("300.00"), received_on=day(10))
    else:
        credit_note_issue(invoice=invoice, reason="Adhésion résiliée", on=day(10))

    assert run_pass(day(15)).due == 0
    assert run_pass(day(30)).due == 0
    assert mailbox.messages == []
    assert not PaymentFollowUp.objects.exists()


def test_a_partial_payment_or_credit_note_leaves_the_rest_to_follow_up(mailbox):
    invoice = unpaid_invoice()
    invoice_payment_record(invoice=invoice, amount=Decimal("100.00"), received_on=day(1))
    credit_note_issue(invoice=invoice, reason="Remise", amount=Decimal("50.00"), on=day(2))

    run_pass(day(15))

    [message] = mailbox.messages
    assert "il reste 150,00\xa0€ à payer" in mailbox.text(message)


@pytest.mark.parametrize(
    ("settle", "reason"),
    [
        ("payment", PaymentFollowUpReason.PAID),
        ("credit_note", PaymentFollowUpReason.INVOICE_CANCELLED),
    ],
)
def test_an_entry_pending_when_the_invoice_is_settled_is_closed_without_sending(
    mailbox, settle, reason
):
    invoice = unpaid_invoice()
    contact(invoice.term, "billing@acme.example", role=ContactRole.BILLING)
    payment_follow_ups_schedule(today=day(15))
    assert PaymentFollowUp.objects.filter(state=PaymentFollowUpState.PENDING).count() == 2
    if settle == "payment":
        invoice_payment_record(invoice=invoice, amount=Decimal("300.00"), received_on=day(15))
    else:
        credit_note_issue(invoice=invoice, reason="Adhésion résiliée", on=day(15))

    send_all()

    assert mailbox.messages == []
    assert (
        list(PaymentFollowUp.objects.values_list("state", "reason", "sent_at"))
        == [(PaymentFollowUpState.CANCELLED, reason, None)] * 2
    )


def test_a_step_withdrawn_before_its_turn_is_cancelled(mailbox):
    unpaid_invoice()
    payment_follow_ups_schedule(today=day(15))
    PaymentFollowUpStep.objects.filter(days_after_due=15).delete()

    send_all()

    assert mailbox.messages == []
    assert PaymentFollowUp.objects.get().reason == PaymentFollowUpReason.WITHDRAWN


# --- What it says, to whom ----------------------------------------------------------------------


def test_each_contact_reads_its_language_with_the_placeholders_filled(mailbox, settings):
    settings.SITE_URL = "https://adhesions.example"
    PaymentFollowUpPolicy.objects.filter(cluster__slug="digitalplace").update(
        sender="DigitalPlace <adhesions@digitalplace.example>"
    )
    invoice = unpaid_invoice(
        email="camille@acme.example", organisation__name="ACME", member_number="DP0042"
    )
    english = contact(invoice.term, "jo@acme.example", role=ContactRole.BILLING, language="en")
    contact(invoice.term, "other@acme.example", role=ContactRole.MEMBER)  # not written to

    run_pass(day(30))

    assert sorted(m["To"] for m in mailbox.messages) == ["camille@acme.example", english.email]
    [french] = mailbox.to("camille@acme.example")
    [in_english] = mailbox.to(english.email)
    url = f"https://adhesions.example/espace/factures/{invoice.pk}/"
    assert french["Subject"].strip() == f"Deuxième relance : facture {invoice.number} impayée"
    assert french["Content-Language"] == "fr"
    assert french["From"] == "DigitalPlace <adhesions@digitalplace.example>"
    text = mailbox.text(french)
    assert text.startswith("Bonjour Camille ")
    assert (
        f"La facture {invoice.number} de ACME pour son adhésion à DigitalPlace (n° DP0042) est "
        "échue depuis le 31 mars 2027, il y a 30 jours, et il reste 300,00\xa0€ à payer."
    ) in text
    assert url in text and "{" not in text
    assert url in french.get_body(("html",)).get_content()
    assert in_english["Subject"].strip() == f"Second reminder: invoice {invoice.number} unpaid"
    assert in_english["Content-Language"] == "en"
    english_text = mailbox.text(in_english)
    assert (
        f"Invoice {invoice.number} of ACME for its DigitalPlace membership (no. DP0042) was due "
        "on March 31, 2027, 30 days ago, and €300.00 remains to be paid."
    ) in english_text
    assert url in english_text
    assert sorted(PaymentFollowUp.objects.values_list("email", "language")) == [
        ("camille@acme.example", "fr"),
        (english.email, "en"),
    ]


def test_an_english_contact_reads_french_when_the_step_has_no_english_text(mailbox):
    invoice = unpaid_invoice(email="jo@acme.example", language="en")
    PaymentFollowUpStep.objects.filter(days_after_due=15).update(subject_en="", body_en="")

    run_pass(day(15))

    [message] = mailbox.messages
    assert message["Subject"].strip() == f"Facture {invoice.number} : paiement en attente"
    assert message["Content-Language"] == "fr"


def test_an_organisation_without_contacts_has_one_failed_entry_for_staff_to_see(mailbox):
    invoice = unpaid_invoice(email="")

    result = run_pass(day(15))
    run_pass(day(16))

    assert (result.scheduled, result.emails) == (1, 0)
    assert mailbox.messages == []
    assert list(PaymentFollowUp.objects.values_list("invoice", "email", "state", "reason")) == [
        (invoice.pk, "", PaymentFollowUpState.FAILED, PaymentFollowUpReason.NO_CONTACT)
    ]


# --- Policies -----------------------------------------------------------------------------------


def test_every_cluster_starts_with_the_default_policy_and_a_new_one_gets_it():
    for policy in PaymentFollowUpPolicy.objects.all():
        assert list(policy.steps.values_list("days_after_due", flat=True)) == [15, 30]
    assert PaymentFollowUpPolicy.objects.count() == len(
        {policy.cluster_id for policy in PaymentFollowUpPolicy.objects.all()}
    )
    new = type(cluster("digitalplace")).objects.create(
        name="Occitanie Numérique", slug="occitanie", kind="source"
    )
    policy = payment_follow_up_policy_ensure(cluster=new)
    assert payment_follow_up_policy_ensure(cluster=new) == policy
    assert list(policy.steps.values_list("days_after_due", flat=True)) == [15, 30]


def test_a_text_naming_an_unknown_placeholder_is_refused_with_its_name():
    step = PaymentFollowUpStep.objects.filter(days_after_due=15).first()
    step.body_fr = "Réglez {montant} avant le {due_date}."

    with pytest.raises(ValidationError) as error:
        step.full_clean()

    assert "Variable inconnue : {montant}." in str(error.value.message_dict["body_fr"])


def test_member_supplied_names_are_escaped_in_the_html(mailbox):
    unpaid_invoice(organisation__name="<b>ACME</b> & Cie")

    run_pass(day(15))

    [message] = mailbox.messages
    html = message.get_body(("html",)).get_content()
    assert "&lt;b&gt;ACME&lt;/b&gt; &amp; Cie" in html
    assert "<b>ACME</b>" not in html
    assert "<b>ACME</b> & Cie" in mailbox.text(message)
