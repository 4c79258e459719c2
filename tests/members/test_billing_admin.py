"""The billing admin: staff record payments on their cluster's invoices through the invoice's
page, read-only otherwise; other clusters' invoices are not found; lists do not grow in queries;
staff issue the invoice of a term that has none."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import Invoice, MembershipStatus, Payment, PaymentMethod
from members.selectors import memberships_with_status
from members.services.billing import invoice_issue, invoice_payment_record
from tests.factories import UserFactory, staff_user
from tests.members.billing_helpers import ISSUED, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date
TODAY = D(2027, 3, 15)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 15, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture
def invoice() -> Invoice:
    legal_details()
    return invoice_issue(
        term=unpaid_term(organisation__name="Garonne Data", member_number="DP-0042"), on=ISSUED
    )


def change_url(invoice: Invoice) -> str:
    return reverse("admin:members_invoice_change", args=[invoice.pk])


def payments_form(invoice: Invoice, *new: dict, delete=(), change=None) -> dict:
    """The POST of ``invoice``'s change form: its payments as they are (``delete``d or with
    ``change``s typed in), then the ``new`` ones."""
    existing = list(invoice.payments.order_by("pk"))
    data = {
        "payments-TOTAL_FORMS": str(len(existing) + len(new)),
        "payments-INITIAL_FORMS": str(len(existing)),
        "payments-MIN_NUM_FORMS": "0",
        "payments-MAX_NUM_FORMS": "1000",
        "_continue": "1",
    }
    for index, payment in enumerate(existing):
        data |= {f"payments-{index}-id": str(payment.pk), f"payments-{index}-invoice": invoice.pk}
        if payment in delete:
            data[f"payments-{index}-DELETE"] = "on"
        data |= {f"payments-{index}-{name}": value for name, value in (change or {}).items()}
    for index, fields in enumerate(new, start=len(existing)):
        data |= {f"payments-{index}-{name}": value for name, value in fields.items()}
        data |= {f"payments-{index}-id": "", f"payments-{index}-invoice": invoice.pk}
    return data


def messages(response) -> str:
    """The messages the response's request left, one per line, no-break spaces read as spaces."""
    return "\n".join(str(m) for m in get_messages(response.wsgi_request)).replace("\xa0", " ")


def transfer(amount: str, received_on: str, reference: str = "") -> dict:
    return {
        "amount": amount,
        "received_on": received_on,
        "method": "transfer",
        "reference": reference,
    }


def test_staff_record_partial_payments_that_pay_the_invoice(
    client, invoice, django_capture_on_commit_callbacks
):
    user = staff_user("digitalplace")
    client.force_login(user)

    page = client.get(change_url(invoice))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}, "every invoice field is read-only"

    first = client.post(
        change_url(invoice), payments_form(invoice, transfer("100.00", "2027-03-05", "VIR 1"))
    )
    assert first.status_code == 302
    invoice.refresh_from_db()
    assert invoice.paid_on is None
    assert "Reste à payer sur la facture DP-2027-00001 : 200,00 €" in messages(first)

    with django_capture_on_commit_callbacks() as callbacks:
        second = client.post(
            change_url(invoice), payments_form(invoice, transfer("200.00", "2027-03-12", "VIR 2"))
        )
    assert second.status_code == 302

    invoice.refresh_from_db()
    term = invoice.term
    assert invoice.paid_on == term.paid_on == D(2027, 3, 12)
    assert term.is_paid
    assert list(invoice.payments.values_list("amount", "reference", "recorded_by")) == [
        (Decimal("100.00"), "VIR 1", user.pk),
        (Decimal("200.00"), "VIR 2", user.pk),
    ]
    membership = memberships_with_status(
        on=TODAY, queryset=type(term.membership).objects.filter(pk=term.membership_id)
    ).get()
    assert membership.status == MembershipStatus.CURRENT
    assert len(callbacks) == 1, "the payment confirmation, once"


def test_an_overpayment_is_recorded_with_a_warning(client, invoice):
    client.force_login(staff_user("digitalplace"))

    response = client.post(
        change_url(invoice), payments_form(invoice, transfer("350.00", "2027-03-05"))
    )

    invoice.refresh_from_db()
    assert invoice.is_paid
    assert "Trop-perçu de 50,00 € sur la facture DP-2027-00001." in messages(response)


def test_a_payment_cannot_be_received_in_the_future(client, invoice):
    client.force_login(staff_user("digitalplace"))

    response = client.post(
        change_url(invoice), payments_form(invoice, transfer("300.00", "2027-03-16"))
    )

    assert response.status_code == 200
    assert "Un paiement ne peut pas être reçu dans le futur." in response.content.decode()
    assert not Payment.objects.exists()


def test_recorded_payments_are_not_changed_nor_deleted_from_the_invoices_form(client, invoice):
    """Corrections and removals go through the payment's own page, with a reason: the inline
    takes new payments only, whoever posts (a superuser too)."""
    payment = invoice_payment_record(invoice=invoice, amount=Decimal("300.00"), received_on=ISSUED)

    for user in (staff_user("digitalplace"), UserFactory(is_staff=True, is_superuser=True)):
        client.force_login(user)
        client.post(change_url(invoice), payments_form(invoice, change={"amount": "1.00"}))
        client.post(change_url(invoice), payments_form(invoice, delete=[payment]))

    payment.refresh_from_db()
    assert payment.amount == Decimal("300.00")
    invoice.refresh_from_db()
    assert invoice.is_paid


def test_staff_of_another_cluster_do_not_find_the_invoice(client, invoice):
    client.force_login(staff_user("frenchsouth"))
    form = payments_form(invoice, transfer("300.00", "2027-03-05"))

    assert client.get(change_url(invoice)).status_code == 404
    assert client.post(change_url(invoice), form).status_code == 404
    assert client.get(reverse("admin:members_invoice_pdf", args=[invoice.pk])).status_code == 404
    listed = client.get(reverse("admin:members_invoice_changelist"))
    assert list(listed.context["cl"].result_list) == []
    assert not Payment.objects.exists()


def test_the_merger_committee_reads_but_records_nothing(client, invoice, committee):
    client.force_login(committee)

    page = client.get(change_url(invoice))
    refused = client.post(
        change_url(invoice), payments_form(invoice, transfer("300", "2027-03-05"))
    )

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert refused.status_code == 403
    assert not Payment.objects.exists()
    assert client.get(reverse("admin:members_payment_changelist")).status_code == 200


def test_the_invoice_pdf_from_the_admin(client, invoice):
    client.force_login(staff_user("digitalplace"))

    response = client.get(reverse("admin:members_invoice_pdf", args=[invoice.pk]))
    certificate = client.get(reverse("admin:members_invoice_certificate", args=[invoice.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert "facture-DP-2027-00001.pdf" in response["Content-Disposition"]
    assert "Garonne Data" in pdf_text(response.content)
    assert certificate.status_code == 403, "no certificate before payment"


def test_the_invoice_list_in_a_constant_number_of_queries(client):
    legal_details()
    client.force_login(staff_user("digitalplace"))
    url = reverse("admin:members_invoice_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def invoice_with_payment() -> Invoice:
        invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
        invoice_payment_record(invoice=invoice, amount=Decimal("100"), received_on=ISSUED)
        return invoice

    invoice_with_payment()
    one = queries()
    for _ in range(5):
        invoice_with_payment()
    assert queries() == one
    invoice_payment_record(
        invoice=Invoice.objects.first(), amount=Decimal("200"), received_on=ISSUED
    )

    page = client.get(url).content.decode()
    assert page.count('<td class="field-status">Partiellement payée</td>') == 5
    assert page.count('<td class="field-status">Payée</td>') == 1
    assert page.count('<td class="field-paid_amount_display">100,00\xa0€</td>') == 5


def test_invoices_are_searched_and_filtered(client):
    client.force_login(staff_user("digitalplace"))
    garonne = invoice_issue(
        term=unpaid_term(
            organisation__name="Garonne Data",
            organisation__siret="73282932000074",
            organisation__siren="732829320",
            member_number="DP-0042",
        ),
        on=ISSUED,
    )
    other = invoice_issue(term=unpaid_term(), on=ISSUED)
    invoice_payment_record(invoice=other, amount=Decimal("10"), received_on=ISSUED)
    url = reverse("admin:members_invoice_changelist")

    def found(**query) -> set[str]:
        response = client.get(url, query)
        return {invoice.number for invoice in response.context["cl"].result_list}

    assert found(q="garonne") == {garonne.number}
    assert found(q="73282932000074") == {garonne.number}
    assert found(q="DP-0042") == {garonne.number}
    assert found(q=other.number) == {other.number}
    assert found(status="partial") == {other.number}
    assert found(status="due") == {garonne.number}
    assert found(status="paid") == set()
    assert found(year="2027") == {garonne.number, other.number}


def test_an_over_paid_invoice_is_found_by_its_filter_with_the_amount_to_refund(client, invoice):
    """A transfer recorded by staff and a card payment of the same invoice: 600 € received for
    300 €. The list's "Trop-perçu" filter finds it, and its page shows the amount to refund."""
    paid_once = invoice_issue(term=unpaid_term(), on=ISSUED)
    invoice_payment_record(invoice=paid_once, amount=Decimal("300.00"), received_on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=Decimal("300.00"), received_on=D(2027, 3, 5))
    invoice_payment_record(
        invoice=invoice,
        amount=Decimal("300.00"),
        received_on=D(2027, 3, 6),
        method=PaymentMethod.CARD,
        provider_reference="cs_test_paid_in_an_old_tab",
    )
    client.force_login(staff_user("digitalplace"))
    url = reverse("admin:members_invoice_changelist")

    def found(**query) -> set[str]:
        response = client.get(url, query)
        return {listed.number for listed in response.context["cl"].result_list}

    assert found(status="overpaid") == {invoice.number}
    assert found(status="paid") == {paid_once.number}
    listing = client.get(url).content.decode()
    assert "?status=overpaid" in listing and ">Trop-perçu</a>" in listing
    assert listing.count('<td class="field-status">Trop-perçu</td>') == 1
    assert '<td class="field-paid_amount_display">600,00\xa0€</td>' in listing

    def amount_to_refund(listed: Invoice) -> str:
        page = client.get(change_url(listed)).content.decode().replace("\xa0", " ")
        field = page.split('class="form-row field-overpaid_display"', 1)[1]
        assert "<label>Trop-perçu à rembourser :</label>" in field
        return field.split('<div class="readonly">', 1)[1].split("</div>", 1)[0]

    assert amount_to_refund(invoice) == "<strong>300,00 €</strong>"
    assert amount_to_refund(paid_once) == "–"


def test_staff_issue_the_invoice_of_a_term_without_one(client, django_capture_on_commit_callbacks):
    legal_details()
    term = unpaid_term()
    membership_url = reverse("admin:members_membership_change", args=[term.membership_id])
    issue_url = reverse("admin:members_invoice_issue", args=[term.pk])
    client.force_login(staff_user("digitalplace"))

    assert issue_url in client.get(membership_url).content.decode()
    assert client.get(issue_url).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(issue_url, {"notify": "1"})

    invoice = Invoice.objects.get(term=term)
    assert response.status_code == 302
    assert response["Location"] == change_url(invoice)
    assert invoice.number == "DP-2027-00001"
    assert invoice.issued_on == TODAY
    assert len(callbacks) == 1, "the invoice e-mailed to the contacts"
    membership_page = client.get(membership_url).content.decode()
    assert change_url(invoice) in membership_page and issue_url not in membership_page
    assert client.post(issue_url).status_code == 302
    assert Invoice.objects.count() == 1


def test_no_invoice_for_a_paid_term_nor_for_those_who_may_not_issue(client, committee):
    paid = unpaid_term()
    paid.is_paid, paid.paid_on = True, ISSUED
    paid.save()
    unpaid = unpaid_term()
    client.force_login(staff_user("digitalplace"))
    assert client.post(reverse("admin:members_invoice_issue", args=[paid.pk])).status_code == 302

    client.force_login(staff_user("frenchsouth"))
    assert client.post(reverse("admin:members_invoice_issue", args=[unpaid.pk])).status_code == 404

    client.force_login(committee)
    issue_url = reverse("admin:members_invoice_issue", args=[unpaid.pk])
    membership_url = reverse("admin:members_membership_change", args=[unpaid.membership_id])
    assert issue_url not in client.get(membership_url).content.decode()
    assert client.post(issue_url).status_code == 403
    assert not Invoice.objects.exists()


def test_the_terms_list_links_their_invoices(client, invoice):
    client.force_login(staff_user("digitalplace"))

    page = client.get(reverse("admin:members_term_changelist")).content.decode()

    assert change_url(invoice) in page and invoice.number in page
