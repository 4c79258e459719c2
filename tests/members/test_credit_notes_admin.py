"""Credit notes in the admin: staff of an invoice's cluster issue one from the invoice's page
(part of what is invoiced, or all of it, cancelling the term or invoicing it again at a corrected
fee), the invoice's page lists them; the list of credit notes is read-only and scoped to the
clusters the user sees. Staff of another cluster do not find them, the committee reads and may
not issue, a page submitted twice issues one, malformed amounts are form errors."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from members.models import CreditNote, Invoice, InvoiceStatus, Payment, Term
from members.selectors import invoice_with_balance
from members.services.billing import credit_note_issue, invoice_issue
from tests.factories import committee_user, staff_user
from tests.html_forms import form_data
from tests.members.billing_helpers import ISSUED, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

TODAY = dt.date(2027, 3, 15)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 15, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture
def invoice() -> Invoice:
    legal_details()
    return invoice_issue(
        term=unpaid_term(fee="300.00", organisation__name="Garonne Data"), on=ISSUED
    )


@pytest.fixture
def staff(client):
    user = staff_user("digitalplace")
    client.force_login(user)
    return user


def issue_url(invoice: Invoice) -> str:
    return reverse("admin:members_invoice_credit_note", args=[invoice.pk])


def change_url(invoice: Invoice) -> str:
    return reverse("admin:members_invoice_change", args=[invoice.pk])


def form(client, invoice: Invoice) -> dict:
    """The fields of ``invoice``'s credit note page as it opens."""
    response = client.get(issue_url(invoice))
    assert response.status_code == 200
    bound = response.context["form"]
    return {name: bound[name].value() for name in ("amount", "version")}


def submit(client, invoice: Invoice, opened: dict | None = None, **fields):
    data = {**(opened or form(client, invoice)), "outcome": "cancel", **fields}
    return client.post(issue_url(invoice), {k: v for k, v in data.items() if v is not None})


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_staff_reduce_an_invoice_and_its_page_lists_the_credit_note(client, staff, invoice):
    page = client.get(change_url(invoice)).content.decode()
    assert "Émettre un avoir" in page and issue_url(invoice) in page
    opened = form(client, invoice)
    assert Decimal(opened["amount"]) == Decimal("300.00"), "all that is still due, by default"

    response = submit(client, invoice, opened, amount="120,50", reason="Remise fondateur")

    assert response.status_code == 302 and response.url == change_url(invoice)
    credit_note = CreditNote.objects.get()
    assert (credit_note.number, credit_note.amount) == ("DP-AV-2027-00001", Decimal("120.50"))
    assert (credit_note.issued_by, credit_note.issued_on) == (staff, TODAY)
    assert not credit_note.term_cancelled
    assert messages_of(response) == [
        "Avoir DP-AV-2027-00001 de 120,50\xa0€ émis ; il part par e-mail aux contacts."
    ]
    page = client.get(change_url(invoice)).content.decode()
    pdf_url = reverse("admin:members_creditnote_pdf", args=[credit_note.pk])
    assert "DP-AV-2027-00001" in page and pdf_url in page and "Remise fondateur" in page
    assert "179,50\xa0€" in page, "what is due after the credit note"
    pdf = client.get(pdf_url)
    assert pdf.status_code == 200
    assert "Remise fondateur" in pdf_text(pdf.content)
    # The next one starts from what is left.
    assert Decimal(form(client, invoice)["amount"]) == Decimal("179.50")


def test_a_full_credit_note_cancels_the_invoice_and_its_term(client, staff, invoice):
    Payment.objects.create(invoice=invoice, amount=Decimal("100.00"), received_on=ISSUED)

    response = submit(client, invoice, reason="Adhésion saisie deux fois")

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.cancelled_on == TODAY
    assert Term.objects.get(pk=invoice.term_id).cancelled_on == TODAY
    # The payment stays on the invoice, over-paid, for a refund or to carry over.
    balance = invoice_with_balance(invoice=invoice)
    assert (balance.status, balance.overpaid_amount) == (InvoiceStatus.OVERPAID, Decimal("100"))
    assert invoice.payments.count() == 1
    page = client.get(change_url(invoice)).content.decode()
    assert "Annulée par l’avoir DP-AV-2027-00001 du 15/03/2027." in page
    assert issue_url(invoice) not in page, "nothing left to credit"
    response = client.get(issue_url(invoice))
    assert response.status_code == 302
    assert "déjà annulée" in messages_of(response)[0]


def test_a_full_credit_note_invoices_the_term_again_at_the_corrected_fee(client, staff, invoice):
    response = submit(client, invoice, reason="Mauvaise formule", outcome="reinvoice", fee="180,00")

    reissued = Invoice.objects.exclude(pk=invoice.pk).get()
    assert response.status_code == 302 and response.url == change_url(reissued)
    assert (reissued.number, reissued.amount) == ("DP-2027-00002", Decimal("180.00"))
    old = Term.objects.get(pk=invoice.term_id)
    assert old.cancelled_on == TODAY
    new = reissued.term
    assert (new.plan_id, new.start_date, new.end_date, new.fee) == (
        old.plan_id,
        old.start_date,
        old.end_date,
        Decimal("180.00"),
    )
    assert messages_of(response)[-1] == (
        "Période refacturée : facture DP-2027-00002 de 180,00\xa0€ émise."
    )


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"amount": "abc"}, "amount", "Saisissez un nombre"),
        ({"amount": "-5"}, "amount", "supérieure ou égale à 0.01"),
        ({"amount": "0"}, "amount", "supérieure ou égale à 0.01"),
        ({"amount": "1.234"}, "amount", "2 chiffres après la virgule"),
        ({"amount": "NaN"}, "amount", "Saisissez un nombre"),
        ({"amount": "1e400"}, "amount", "chiffres au total"),
        ({"amount": "99999999999999"}, "amount", "chiffres au total"),
        ({"amount": ""}, "amount", "obligatoire"),
        ({"amount": "300.01"}, "amount", "dépasse ce qui reste facturé"),
        ({"reason": ""}, "reason", "obligatoire"),
        ({"reason": "   "}, "reason", "obligatoire"),
        ({"outcome": "delete"}, "outcome", "Sélectionnez un choix valide"),
        ({"outcome": "reinvoice", "fee": ""}, "fee", "Indiquez le montant corrigé"),
        ({"outcome": "reinvoice", "fee": "-1"}, "fee", "supérieure ou égale à 0.01"),
        ({"outcome": "reinvoice", "amount": "100"}, "outcome", "tout le montant restant"),
        ({"version": "x"}, "version", "Saisissez un nombre entier"),
    ],
)
def test_malformed_values_are_form_errors(client, staff, invoice, fields, field, error):
    response = submit(client, invoice, **{"reason": "Erreur", **fields})

    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert error in errors, response.context["form"].errors
    assert not CreditNote.objects.exists() and Invoice.objects.count() == 1


def test_a_page_submitted_twice_issues_one_credit_note(client, staff, invoice):
    opened = form(client, invoice)
    first = submit(client, invoice, opened, amount="50", reason="Remise")
    second = submit(client, invoice, opened, amount="50", reason="Remise")

    assert first.status_code == second.status_code == 302
    assert CreditNote.objects.count() == 1
    assert messages_of(second)[-1] == (
        "L’avoir DP-AV-2027-00001 a été émis entre-temps sur cette facture, le 15/03/2027 10:00 "
        f"par {staff} : aucun autre avoir n’a été émis. Voici la facture telle qu’elle est."
    )


def test_a_second_tab_cannot_cancel_an_invoice_twice(client, staff, invoice):
    opened = form(client, invoice)
    submit(client, invoice, opened, reason="Départ")
    again = submit(client, invoice, opened, reason="Départ")

    assert again.status_code == 302
    assert CreditNote.objects.count() == 1
    assert "déjà annulée" in messages_of(again)[-1]


def test_staff_of_another_cluster_find_nothing(client, invoice):
    credit_note = credit_note_issue(invoice=invoice, amount=Decimal("10"), reason="Remise")
    client.force_login(staff_user("frenchsouth"))

    assert client.get(issue_url(invoice)).status_code == 404
    assert submit(client, invoice, {"amount": "10", "version": "1"}, reason="x").status_code == 404
    for name in ("admin:members_creditnote_change", "admin:members_creditnote_pdf"):
        assert client.get(reverse(name, args=[credit_note.pk])).status_code == 404
    listing = client.get(reverse("admin:members_creditnote_changelist")).content.decode()
    assert credit_note.number not in listing
    assert CreditNote.objects.count() == 1


def test_the_committee_reads_and_may_not_issue(client, invoice):
    credit_note = credit_note_issue(invoice=invoice, amount=Decimal("10"), reason="Remise")
    client.force_login(committee_user())

    assert issue_url(invoice) not in client.get(change_url(invoice)).content.decode()
    assert client.get(issue_url(invoice)).status_code == 403
    response = client.post(
        issue_url(invoice), {"amount": "10", "reason": "x", "outcome": "cancel", "version": "1"}
    )
    assert response.status_code == 403
    listing = client.get(reverse("admin:members_creditnote_changelist")).content.decode()
    assert credit_note.number in listing and "Garonne Data" in listing
    page = client.get(reverse("admin:members_creditnote_change", args=[credit_note.pk]))
    assert page.status_code == 200 and "Remise" in page.content.decode()
    pdf = client.get(reverse("admin:members_creditnote_pdf", args=[credit_note.pk]))
    assert pdf.status_code == 200
    assert CreditNote.objects.count() == 1


def test_credit_notes_are_read_only_in_the_admin(client, staff, invoice):
    credit_note = credit_note_issue(invoice=invoice, amount=Decimal("10"), reason="Remise")
    change = reverse("admin:members_creditnote_change", args=[credit_note.pk])

    assert client.get(reverse("admin:members_creditnote_add")).status_code == 403
    assert client.post(change, {"reason": "Autre", "amount": "20"}).status_code == 403
    delete = reverse("admin:members_creditnote_delete", args=[credit_note.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    credit_note.refresh_from_db()
    assert (credit_note.reason, credit_note.amount) == ("Remise", Decimal("10.00"))
    listing = client.get(reverse("admin:members_creditnote_changelist")).content.decode()
    for shown in (credit_note.number, invoice.number, "Garonne Data", "10,00\xa0€"):
        assert shown in listing


def test_the_credit_note_list_does_not_grow_in_queries(
    client, staff, invoice, django_assert_max_num_queries
):
    for _ in range(3):
        credit_note_issue(invoice=invoice, amount=Decimal("10"), reason="Remise")
    url = reverse("admin:members_creditnote_changelist")
    client.get(url)
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200
    for _ in range(10):
        credit_note_issue(invoice=invoice_issue(term=unpaid_term(), on=ISSUED), reason="Remise")
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200


def test_the_membership_page_still_saves_after_a_period_invoiced_again(client, staff, invoice):
    submit(client, invoice, reason="Mauvaise formule", outcome="reinvoice", fee="180")
    url = reverse("admin:members_membership_change", args=[invoice.term.membership_id])
    page = client.get(url)
    assert "Période annulée le 15/03/2027 par un avoir" in page.content.decode()

    data = form_data(page, id="membership_form")
    response = client.post(url, {**data, "notes": "Formule corrigée"})

    assert response.status_code == 302, response.context["errors"]
    assert Term.objects.filter(membership_id=invoice.term.membership_id).count() == 2
