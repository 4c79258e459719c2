"""A term cancelled by a credit note counts for nothing wherever terms are read: the membership
can be renewed again for that period, reminders and the renewals due ignore it, the dashboard
does not count its invoice as unpaid, the lists' plan and "paid through" skip it, it has no
certificate, and the merger neither counts it as paid twice nor in the revenue."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from members.models import Membership, Reminder, ReminderState, Term
from members.selectors import (
    cluster_dashboards,
    memberships_with_plan_and_paid_through,
    terms_renewal_due,
)
from members.services import contact_login_ensure
from members.services.billing import credit_note_issue, invoice_issue, invoice_payment_record
from members.services.reminders import reminders_schedule, reminders_send
from members.services.renewals import membership_renew
from tests.factories import ContactFactory, TermFactory, cluster
from tests.members.billing_helpers import member_invoice

pytestmark = pytest.mark.django_db

D = dt.date
PARIS = ZoneInfo("Europe/Paris")
TODAY = D(2026, 11, 15)  # renewals of the terms ending on 31 December 2026 are open


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 15, 10, tzinfo=PARIS), tick=False)


def member_2026() -> Term:
    """A member of DigitalPlace paid for 2026, with a primary contact."""
    term = TermFactory(
        membership__cluster=cluster(), year=2026, is_paid=True, paid_on=D(2026, 1, 5)
    )
    ContactFactory(organisation=term.membership.organisation, role="primary")
    return term


def renewed_then_cancelled(term: Term) -> Term:
    """Renew ``term``'s membership for 2027, then cancel that renewal by a credit note."""
    renewal = membership_renew(membership=term.membership, after=term, plan=term.plan, today=TODAY)
    credit_note_issue(invoice=renewal.invoice, reason="Renouvellement par erreur", on=TODAY)
    renewal.term.refresh_from_db()
    assert renewal.term.cancelled_on == TODAY
    return renewal.term


def test_a_membership_whose_renewal_was_cancelled_renews_again_for_that_period():
    term = member_2026()
    cancelled = renewed_then_cancelled(term)

    again = membership_renew(membership=term.membership, after=term, plan=term.plan, today=TODAY)

    assert again.created
    assert again.term.pk != cancelled.pk
    assert (again.term.start_date, again.term.end_date) == (D(2027, 1, 1), D(2027, 12, 31))
    assert again.invoice.number != cancelled.invoice.number
    with pytest.raises(ValidationError, match="annulée par un avoir"):
        membership_renew(membership=term.membership, after=cancelled, plan=term.plan, today=TODAY)


def test_the_member_area_offers_the_renewal_again(client):
    term = member_2026()
    contact = term.membership.organisation.contacts.get()
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    renewed_then_cancelled(term)

    html = client.get(reverse("members:area")).content.decode().replace("\xa0", " ")

    assert reverse("members:renewal_details", args=[term.membership_id]) in html
    assert (
        "Le renouvellement est ouvert pour la période du 1er janvier 2027 au 31 décembre 2027"
        in html
    )
    response = client.get(reverse("members:renewal_details", args=[term.membership_id]))
    assert response.status_code == 200


def test_reminders_go_about_the_term_before_a_cancelled_renewal_never_about_it():
    term = member_2026()
    cancelled = renewed_then_cancelled(term)

    # J−7 of the 2026 term: the renewal was cancelled, the member is reminded.
    reminders_schedule(today=D(2026, 12, 24))
    assert list(Reminder.objects.values_list("term_id", "offset_days")) == [(term.pk, -7)]
    # J−30 of the cancelled 2027 term: nothing about it.
    reminders_schedule(today=D(2027, 12, 1))
    assert not Reminder.objects.filter(term=cancelled).exists()


def test_a_reminder_recorded_before_a_renewal_cancelled_since_still_goes(mailbox):
    term = member_2026()
    reminders_schedule(today=D(2026, 12, 1))
    renewed_then_cancelled(term)

    reminders_send(reminder_ids=list(Reminder.objects.values_list("pk", flat=True)))

    assert Reminder.objects.get().state == ReminderState.SENT
    assert len(mailbox.wait_for(1)) == 1


def test_renewals_due_ignore_a_cancelled_term():
    term = member_2026()
    renewed_then_cancelled(term)

    due_2026 = terms_renewal_due(start=D(2026, 12, 1), end=D(2026, 12, 31))
    due_2027 = terms_renewal_due(start=D(2027, 12, 1), end=D(2027, 12, 31))

    assert list(due_2026.values_list("pk", flat=True)) == [term.pk]
    assert not due_2027.exists()


def test_the_dashboard_does_not_count_a_cancelled_invoice_as_unpaid():
    _user, kept = member_invoice(email="a@one.example", name="One", fee="300.00")
    _user, cancelled = member_invoice(email="b@two.example", name="Two", fee="120.00")
    credit_note_issue(invoice=cancelled, reason="Erreur")

    (dashboard,) = [
        board
        for board in cluster_dashboards(clusters=type(kept.cluster).objects.all(), today=TODAY)
        if board.cluster == kept.cluster
    ]

    assert (dashboard.unpaid_invoices, dashboard.unpaid_amount) == (1, Decimal("300.00"))
    assert dashboard.oldest_unpaid == kept


def test_the_lists_plan_and_paid_through_skip_a_cancelled_term():
    term = member_2026()
    cancelled = renewed_then_cancelled(term)
    Term.objects.filter(pk=cancelled.pk).update(is_paid=True, paid_on=TODAY)

    membership = memberships_with_plan_and_paid_through(
        Membership.objects.filter(pk=term.membership_id)
    ).get()

    assert membership.paid_through == D(2026, 12, 31)


def test_a_cancelled_paid_term_has_no_certificate(client):
    user, invoice = member_invoice()
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=TODAY)
    credit_note_issue(invoice=invoice, reason="Départ")
    client.force_login(user)

    url = reverse("members:certificate_pdf", args=[invoice.term_id])
    assert client.get(url).status_code == 404
    page = client.get(reverse("members:invoice_detail", args=[invoice.pk])).content.decode()
    assert url not in page
    assert url not in client.get(reverse("members:area")).content.decode()


def test_a_paid_renewal_cancelled_is_not_invoiced_twice_when_renewing():
    term = member_2026()
    cancelled = renewed_then_cancelled(term)

    assert invoice_issue(term=cancelled).pk == cancelled.invoice.pk
