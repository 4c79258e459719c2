"""A recorded payment corrected or removed by staff of the invoice's cluster, with a reason kept
in the invoice's history: nothing disappears; the invoice and its term become paid or unpaid as
the payments now add up, for staff and for the member (page and PDF); a card payment known to
the provider is not changed by hand; a change submitted twice is made once; another cluster's
payment is not found."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse

from members.models import (
    Invoice,
    MembershipStatus,
    Payment,
    PaymentChange,
    PaymentChangeKind,
    PaymentMethod,
)
from members.selectors import memberships_with_status
from members.services import contact_login_ensure
from members.services.billing import (
    invoice_issue,
    invoice_payment_correct,
    invoice_payment_record,
    invoice_payment_remove,
)
from tests.factories import UserFactory, committee_user, staff_user
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 15, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture
def invoice() -> Invoice:
    legal_details()
    return invoice_issue(
        term=unpaid_term(organisation__name="Garonne Data", member_number="DP-0042"), on=ISSUED
    )


@pytest.fixture
def staff():
    return staff_user("digitalplace")


def paid(invoice: Invoice, amount: str = "300.00", **fields) -> Payment:
    return invoice_payment_record(
        invoice=invoice,
        amount=Decimal(amount),
        received_on=fields.pop("received_on", D(2027, 3, 5)),
        reference=fields.pop("reference", "VIR GARONNE"),
        **fields,
    )


def status(invoice: Invoice) -> str:
    term = invoice.term
    return (
        memberships_with_status(
            on=D(2027, 3, 15), queryset=type(term.membership).objects.filter(pk=term.membership_id)
        )
        .get()
        .status
    )


def page_url(payment: Payment, invoice: Invoice | None = None) -> str:
    return reverse(
        "admin:members_invoice_payment", args=[(invoice or payment.invoice).pk, payment.pk]
    )


def correction(**fields) -> dict:
    return {
        "amount": "150.00",
        "received_on": "05/03/2027",
        "method": "transfer",
        "reference": "VIR GARONNE",
        "reason": "Relevé bancaire : 150 € reçus, pas 300 €.",
        "version": "0",
        "remove": "",
    } | fields


def removal(**fields) -> dict:
    return {"reason": "Virement d’une autre adhérente.", "version": "0", "remove": "on"} | fields


def messages(response) -> str:
    return "\n".join(str(m) for m in get_messages(response.wsgi_request)).replace("\xa0", " ")


def text(response) -> str:
    return response.content.decode().replace("\xa0", " ").replace("&nbsp;", " ")


# --- The rules, in the services -----------------------------------------------------------------


def test_a_correction_below_the_amount_unpays_the_invoice_and_is_kept_with_what_it_was(
    invoice, staff, django_capture_on_commit_callbacks
):
    payment = paid(invoice)
    invoice.refresh_from_db()
    assert invoice.paid_on == D(2027, 3, 5) and status(invoice) == MembershipStatus.CURRENT

    change = invoice_payment_correct(
        invoice=invoice,
        payment_key=payment.pk,
        version=0,
        amount=Decimal("150.00"),
        received_on=D(2027, 3, 6),
        method=PaymentMethod.CHEQUE,
        reference="CHQ 0001234",
        reason="Chèque de 150 €, pas un virement de 300 €.",
        changed_by=staff,
    )

    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (payment.amount, payment.received_on, payment.method, payment.reference) == (
        Decimal("150.00"),
        D(2027, 3, 6),
        "cheque",
        "CHQ 0001234",
    )
    assert invoice.paid_on is None
    assert (invoice.term.is_paid, invoice.term.paid_on) == (False, None)
    assert status(invoice) == MembershipStatus.PENDING
    assert (change.kind, change.old_amount, change.old_received_on, change.old_method) == (
        PaymentChangeKind.CORRECTED,
        Decimal("300.00"),
        D(2027, 3, 5),
        "transfer",
    )
    assert (change.old_reference, change.new_amount, change.changed_by) == (
        "VIR GARONNE",
        Decimal("150.00"),
        staff,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        invoice_payment_correct(
            invoice=invoice,
            payment_key=payment.pk,
            version=1,
            amount=Decimal("300.00"),
            received_on=D(2027, 3, 10),
            method=PaymentMethod.CHEQUE,
            reference="CHQ 0001234",
            reason="Le relevé du 10 mars montre bien 300 €.",
            changed_by=staff,
        )
    invoice.refresh_from_db()
    assert invoice.paid_on == invoice.term.paid_on == D(2027, 3, 10)
    assert status(invoice) == MembershipStatus.CURRENT
    assert len(callbacks) == 1, "the payment confirmation (the ledger sends it once at most)"
    assert PaymentChange.objects.filter(invoice=invoice).count() == 2


def test_the_date_of_payment_follows_the_payments_as_they_now_add_up(invoice, staff):
    first = paid(invoice, "100.00", received_on=D(2027, 3, 2))
    paid(invoice, "200.00", received_on=D(2027, 3, 9))
    invoice.refresh_from_db()
    assert invoice.paid_on == D(2027, 3, 9)

    invoice_payment_correct(
        invoice=invoice,
        payment_key=first.pk,
        version=0,
        amount=Decimal("100.00"),
        received_on=D(2027, 3, 12),
        method=PaymentMethod.TRANSFER,
        reference="VIR GARONNE",
        reason="Reçu le 12 mars d’après le relevé.",
        changed_by=staff,
    )

    invoice.refresh_from_db()
    assert invoice.paid_on == invoice.term.paid_on == D(2027, 3, 12)


def test_a_removal_keeps_the_payment_in_the_history_and_unpays_the_invoice(invoice, staff):
    payment = paid(invoice, recorded_by=staff)

    change = invoice_payment_remove(
        invoice=invoice,
        payment_key=payment.pk,
        version=0,
        reason="  Virement d’une autre adhérente.  ",
        changed_by=staff,
    )

    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.paid_on is None and not invoice.term.is_paid
    assert status(invoice) == MembershipStatus.PENDING
    kept = PaymentChange.objects.get()
    assert kept == change
    assert (kept.kind, kept.payment_key, kept.old_amount, kept.old_recorded_by) == (
        PaymentChangeKind.REMOVED,
        payment.pk,
        Decimal("300.00"),
        staff,
    )
    assert kept.new_amount is None and kept.reason == "Virement d’une autre adhérente."


@pytest.mark.parametrize("reason", ["", "   "])
def test_the_reason_is_required(invoice, staff, reason):
    payment = paid(invoice)

    with pytest.raises(ValidationError) as refused:
        invoice_payment_remove(
            invoice=invoice, payment_key=payment.pk, version=0, reason=reason, changed_by=staff
        )

    assert refused.value.message_dict == {"reason": ["Indiquez le motif de la modification."]}
    assert Payment.objects.filter(pk=payment.pk).exists()
    assert not PaymentChange.objects.exists()


def test_a_correction_cannot_date_a_payment_in_the_future_nor_change_nothing(invoice, staff):
    payment = paid(invoice)
    values = {
        "invoice": invoice,
        "payment_key": payment.pk,
        "version": 0,
        "amount": Decimal("300.00"),
        "method": PaymentMethod.TRANSFER,
        "reference": "VIR GARONNE",
        "reason": "Date",
        "changed_by": staff,
    }

    with pytest.raises(ValidationError) as future:
        invoice_payment_correct(received_on=D(2027, 3, 16), **values)
    with pytest.raises(ValidationError) as same:
        invoice_payment_correct(received_on=D(2027, 3, 5), **values)

    assert future.value.message_dict == {
        "received_on": ["Un paiement ne peut pas être reçu dans le futur."]
    }
    assert same.value.messages == ["Ces valeurs sont celles du paiement : rien à corriger."]
    payment.refresh_from_db()
    assert payment.received_on == D(2027, 3, 5)
    assert not PaymentChange.objects.exists()


def test_a_card_payment_known_to_the_provider_is_not_changed_by_hand_and_says_why(invoice, staff):
    payment = paid(invoice, method=PaymentMethod.CARD, provider_reference="cs_test_garonne")

    with pytest.raises(ValidationError) as corrected:
        invoice_payment_correct(
            invoice=invoice,
            payment_key=payment.pk,
            version=0,
            amount=Decimal("1.00"),
            received_on=D(2027, 3, 5),
            method=PaymentMethod.CARD,
            reference="",
            reason="Essai",
            changed_by=staff,
        )
    with pytest.raises(ValidationError) as removed:
        invoice_payment_remove(
            invoice=invoice, payment_key=payment.pk, version=0, reason="Essai", changed_by=staff
        )

    for refusal in (corrected, removed):
        (message,) = refusal.value.messages
        assert "cs_test_garonne" in message
        assert "ne se corrige ni ne se supprime à la main" in message
        assert "Un remboursement se fait chez le prestataire." in message
    payment.refresh_from_db()
    assert payment.amount == Decimal("300.00")
    assert not PaymentChange.objects.exists()


def test_a_change_made_on_a_stale_version_changes_nothing(invoice, staff):
    payment = paid(invoice)
    first = {
        "invoice": invoice,
        "payment_key": payment.pk,
        "version": 0,
        "amount": Decimal("250.00"),
        "received_on": D(2027, 3, 5),
        "method": PaymentMethod.TRANSFER,
        "reference": "",
        "reason": "Montant du relevé",
        "changed_by": staff,
    }
    invoice_payment_correct(**first)

    with pytest.raises(ValidationError) as stale:
        invoice_payment_correct(**first | {"amount": Decimal("200.00")})

    assert stale.value.code == "payment_changed"
    assert "modifié entre-temps" in stale.value.messages[0]
    payment.refresh_from_db()
    assert payment.amount == Decimal("250.00")
    assert PaymentChange.objects.filter(payment_key=payment.pk).count() == 1


# --- In the admin -------------------------------------------------------------------------------


def test_staff_correct_a_payment_and_the_invoice_page_shows_what_it_was_who_why_and_when(
    client, invoice, staff
):
    payment = paid(invoice, recorded_by=staff)
    client.force_login(staff)

    invoice_page = client.get(reverse("admin:members_invoice_change", args=[invoice.pk]))
    assert page_url(payment) in text(invoice_page)
    assert "Corriger ou supprimer" in text(invoice_page)

    form = client.get(page_url(payment))
    assert form.status_code == 200
    assert "300,00 €" in text(form) and "VIR GARONNE" in text(form)

    response = client.post(page_url(payment), correction())

    assert response.status_code == 302
    assert "Paiement corrigé, motif conservé dans l’historique de la facture." in messages(response)
    assert "Reste à payer sur la facture DP-2027-00001 : 150,00 €" in messages(response)
    page = text(client.get(reverse("admin:members_invoice_change", args=[invoice.pk])))
    history = page[page.index('class="payment-history"') :]
    assert "Corrigé" in history
    assert "300,00 € · 05/03/2027 · Virement · VIR GARONNE" in history
    assert "150,00 € · 05/03/2027 · Virement · VIR GARONNE" in history
    assert "Relevé bancaire : 150 € reçus, pas 300 €." in history
    assert "15/03/2027 10:00" in history
    assert str(staff) in history
    assert "Partiellement payée" in page
    logged = client.get(reverse("admin:members_invoice_history", args=[invoice.pk]))
    assert "Modification de montant (€) pour l&#x27;objet paiement « 300,00 € · 05/03/2027 »" in (
        text(logged)
    )


def test_staff_remove_a_payment_and_the_member_sees_the_invoice_as_it_now_is(
    client, invoice, staff
):
    payment = paid(invoice, recorded_by=staff)
    user, _created = contact_login_ensure(contact=contact(invoice.term, "camille@garonne.example"))
    member_page = reverse("members:invoice_detail", args=[invoice.pk])
    client.force_login(user)
    before = text(client.get(member_page))
    assert "Total reçu" in before and "Reste à payer" not in before
    member_pdf = reverse("members:invoice_pdf", args=[invoice.pk])
    assert "Acquittée le 5 mars 2027" in pdf_text(client.get(member_pdf).content)

    client.force_login(staff)
    response = client.post(page_url(payment), removal())

    assert response.status_code == 302
    assert "Paiement supprimé, motif conservé dans l’historique de la facture." in messages(
        response
    )
    page = text(client.get(reverse("admin:members_invoice_change", args=[invoice.pk])))
    history = page[page.index('class="payment-history"') :]
    assert "Supprimé" in history and "supprimé" in history
    assert "300,00 € · 05/03/2027 · Virement · VIR GARONNE" in history
    assert "Virement d’une autre adhérente." in history
    logged = client.get(reverse("admin:members_invoice_history", args=[invoice.pk]))
    assert "Suppression de paiement « 300,00 € · 05/03/2027 »" in text(logged)
    client.force_login(user)
    after = text(client.get(member_page))
    assert "Aucun paiement reçu pour l’instant." in after
    assert "Reste à payer : 300,00 €" in after.replace('<strong class="amount">', "").replace(
        "</strong>", ""
    )
    pdf = pdf_text(client.get(member_pdf).content)
    assert "Acquittée" not in pdf and "Règlement par virement bancaire" in pdf


def test_the_reason_is_required_on_the_page_too(client, invoice, staff):
    payment = paid(invoice)
    client.force_login(staff)

    response = client.post(page_url(payment), removal(reason=""))

    assert response.status_code == 200
    assert "Ce champ est obligatoire." in text(response)
    assert Payment.objects.filter(pk=payment.pk).exists()
    assert not PaymentChange.objects.exists()


def test_a_card_payment_has_no_correction_link_and_its_page_says_why(client, invoice, staff):
    payment = paid(invoice, method=PaymentMethod.CARD, provider_reference="cs_test_garonne")
    client.force_login(staff)

    invoice_page = text(client.get(reverse("admin:members_invoice_change", args=[invoice.pk])))
    response = client.post(page_url(payment), removal())

    assert page_url(payment) not in invoice_page
    assert "ne se corrige ni ne se supprime à la main" in invoice_page
    assert response.status_code == 200
    assert "ne se corrige ni ne se supprime à la main" in text(response)
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_a_correction_submitted_twice_is_made_once(client, invoice, staff):
    payment = paid(invoice)
    client.force_login(staff)

    first = client.post(page_url(payment), correction())
    second = client.post(page_url(payment), correction(amount="120.00"))

    assert first.status_code == second.status_code == 302
    assert second["Location"] == page_url(payment), "the page again, with the payment as it is"
    assert "modifié entre-temps" in messages(second)
    payment.refresh_from_db()
    assert payment.amount == Decimal("150.00")
    assert PaymentChange.objects.count() == 1
    again = client.get(page_url(payment))
    assert 'name="version" value="1"' in text(again)


def test_a_removal_submitted_twice_is_made_once(client, invoice, staff):
    payment = paid(invoice)
    client.force_login(staff)

    first = client.post(page_url(payment), removal())
    second = client.post(page_url(payment), removal())
    opened = client.get(page_url(payment))

    assert first.status_code == second.status_code == 302
    assert "déjà été supprimé" in messages(second)
    assert opened.status_code == 302
    assert PaymentChange.objects.count() == 1


def test_another_clusters_payment_is_not_found(client, invoice, staff):
    payment = paid(invoice)
    legal_details("frenchsouth")
    other_invoice = invoice_issue(term=unpaid_term("frenchsouth"), on=ISSUED)
    other_payment = paid(other_invoice)

    client.force_login(staff_user("frenchsouth"))
    assert client.get(page_url(payment)).status_code == 404
    assert client.post(page_url(payment), removal()).status_code == 404

    client.force_login(staff)
    # Another cluster's payment through an invoice of one's own cluster, and the reverse.
    assert client.post(page_url(other_payment, invoice), removal()).status_code == 404
    assert client.post(page_url(payment, other_invoice), removal()).status_code == 404
    assert client.get(page_url(other_payment)).status_code == 404
    assert Payment.objects.count() == 2
    assert not PaymentChange.objects.exists()


def test_who_may_not_change_payments_gets_403(client, invoice):
    payment = paid(invoice)

    client.force_login(committee_user())
    assert client.post(page_url(payment), removal()).status_code == 403
    client.force_login(UserFactory(is_staff=True))
    assert client.post(page_url(payment), removal()).status_code in (403, 404)
    assert Payment.objects.filter(pk=payment.pk).exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("version", "abc"),
        ("version", "99999999999999999999"),
        ("amount", "-5"),
        ("amount", "abc"),
        ("received_on", "45/13/2027"),
        ("method", "bitcoin"),
        ("reason", "x" * 5000),
    ],
)
def test_malformed_values_are_form_errors(client, invoice, staff, field, value):
    payment = paid(invoice)
    client.force_login(staff)

    response = client.post(page_url(payment), correction(**{field: value}))

    assert response.status_code == 200
    assert response.context["form"].errors
    payment.refresh_from_db()
    assert payment.amount == Decimal("300.00")
    assert not PaymentChange.objects.exists()


def test_the_page_and_the_refusals_in_english(client, invoice, staff):
    card = paid(invoice, "100.00", method=PaymentMethod.CARD, provider_reference="cs_test_en")
    transfer = paid(invoice, "200.00")
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    client.force_login(staff)

    invoice_page = text(client.get(reverse("admin:members_invoice_change", args=[invoice.pk])))
    page = text(client.get(page_url(transfer)))
    refused = text(client.post(page_url(card), removal()))
    removed = client.post(page_url(transfer), removal())

    assert "Correct or remove" in invoice_page
    assert "it is not corrected or removed by hand" in invoice_page
    assert "Save the correction" in page and "Remove this payment" in page
    assert "A refund is made at the provider." in refused
    assert "Payment removed; the reason is kept in the invoice's history." in messages(removed)
    history = text(client.get(reverse("admin:members_invoice_change", args=[invoice.pk])))
    assert "Payment corrections" in history
    assert "€200.00 · 5 Mar 2027 · " in history
