"""Amounts, dates and bank details written the same way everywhere (PDFs, e-mails, member area,
admin, commands), in the active language: French long dates write "1er janvier", English dates
never put the month first in numbers."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import translation

from members import documents, formatting
from members.models import Membership
from members.services.billing import (
    invoice_confirmation_send,
    invoice_issue,
    invoice_payment_record,
)
from members.services.reminders import reminders_schedule
from tests.factories import ContactFactory, TermFactory
from tests.members.billing_helpers import ISSUED, contact, legal_details, pdf_text, unpaid_term

pytestmark = pytest.mark.django_db

D = dt.date
PARIS = ZoneInfo("Europe/Paris")


def test_french_long_dates_write_the_first_of_the_month_1er():
    assert formatting.long_date(D(2027, 1, 1)) == "1er janvier 2027"
    assert formatting.long_date(D(2027, 1, 2)) == "2 janvier 2027"
    assert formatting.long_date(D(2026, 12, 31)) == "31 décembre 2026"


def test_english_long_dates_write_the_month_in_full():
    with translation.override("en"):
        assert formatting.long_date(D(2027, 1, 1)) == "January 1, 2027"
        assert formatting.long_date(D(2027, 1, 2)) == "January 2, 2027"


def test_money_in_both_languages():
    assert formatting.money(Decimal("2500")) == "2\xa0500,00\xa0€"
    assert formatting.money(Decimal("0.5")) == "0,50\xa0€"
    with translation.override("en"):
        assert formatting.money(Decimal("2500")) == "€2,500.00"


def test_an_iban_is_grouped_by_four_in_capitals():
    assert formatting.iban("fr7630006000011234567890189") == "FR76 3000 6000 0112 3456 7890 189"
    assert formatting.iban(" FR76 3000 6000 0112 3456 7890 189 ") == (
        "FR76 3000 6000 0112 3456 7890 189"
    )
    assert formatting.iban("") == ""


def test_short_dates_are_day_first_in_both_languages():
    day = D(2026, 12, 5)
    moment = dt.datetime(2026, 12, 5, 14, 30, tzinfo=PARIS)
    assert formatting.short_date(day) == "05/12/2026"
    assert formatting.short_datetime(moment) == "05/12/2026 14:30"
    with translation.override("en"):
        assert formatting.short_date(day) == "5 Dec 2026"
        assert formatting.short_datetime(moment) == "5 Dec 2026 14:30"


def test_the_template_filters_format_in_the_active_language():
    template = Template(
        "{% load members %}{{ day|long_date }} · {{ day|short_date }} · {{ amount|money }}"
        " · {{ none|long_date }}"
    )
    context = Context({"day": D(2027, 1, 1), "amount": Decimal("12"), "none": None})
    assert template.render(context) == "1er janvier 2027 · 01/01/2027 · 12,00\xa0€ · "
    with translation.override("en"):
        assert template.render(context) == "January 1, 2027 · 1 Jan 2027 · €12.00 · "


def test_the_cluster_gives_its_issuer_details():
    cluster = legal_details()
    details = cluster.issuer_details()
    assert details["name"] == cluster.legal_name
    assert details["iban"] == cluster.iban
    assert set(details) == {
        "name",
        "siren",
        "address",
        "email",
        "website",
        "vat_mention",
        "iban",
        "bic",
        "late_payment_rate",
        "recovery_fee",
    }


@pytest.mark.usefixtures("after_the_invoices")
def test_the_certificate_and_its_e_mail_write_1er_janvier(mailbox):
    legal_details()
    term = unpaid_term(organisation__name="Garonne Data", member_number="DP-0042")
    contact(term, "camille@garonne.example")
    invoice = invoice_issue(term=term, on=ISSUED)
    invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=D(2027, 3, 9))
    term.refresh_from_db()

    text = pdf_text(documents.certificate_pdf(term, on=D(2027, 3, 10)))
    assert "du 1er janvier 2027 au 31 décembre 2027" in text

    assert invoice_confirmation_send(invoice=invoice) is True
    (message,) = mailbox.wait_for(1)
    assert "du 1er janvier 2027 au 31 décembre 2027" in mailbox.text(message)
    assert "du 1er janvier 2027 au 31 décembre 2027" in pdf_text(
        next(message.iter_attachments()).get_content()
    )


@pytest.fixture
def english_staff(client, superuser):
    """The admin in English; the language the requests activate is put back afterwards, as the
    middleware leaves it active in the thread."""
    client.force_login(superuser)
    client.cookies["django_language"] = "en"
    with translation.override(translation.get_language()):
        yield client


def test_the_english_admin_writes_the_reminders_dates_day_first(english_staff):
    term = TermFactory(year=2026)
    ContactFactory(organisation=term.membership.organisation, email="rh@garonne.example")
    assert reminders_schedule(today=D(2026, 12, 1)).scheduled == 1

    page = english_staff.get(reverse("admin:members_reminder_changelist")).text

    assert "1 Dec 2026" in page  # due on
    assert "12/01/2026" not in page


def test_the_english_admin_reads_and_shows_dates_day_first(english_staff):
    membership = TermFactory(year=2026).membership
    change = reverse("admin:members_membership_change", args=[membership.pk])
    data = {
        "organisation": membership.organisation_id,
        "cluster": membership.cluster_id,
        "site": membership.site_id or "",
        "member_number": membership.member_number,
        "member_since": "05/12/2020",
        "cancelled_on": "",
        "transferred_on": "",
        "notes": "",
        "terms-TOTAL_FORMS": 0,
        "terms-INITIAL_FORMS": 0,
        "terms-MIN_NUM_FORMS": 0,
        "terms-MAX_NUM_FORMS": 1000,
    }

    assert english_staff.post(change, data).status_code == 302

    membership.refresh_from_db()
    assert membership.member_since == D(2020, 12, 5)
    page = english_staff.get(change).text
    assert 'value="05/12/2020"' in page
    assert Membership.objects.filter(member_since=D(2020, 12, 5)).count() == 1
