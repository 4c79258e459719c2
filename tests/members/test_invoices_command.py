"""``manage.py invoices cancel NUMBER --reason TEXT --by EMAIL [--json]``: staff of the invoice's
cluster (or a superuser) cancel it by a credit note; anything else exits with status 1 and why,
and issues nothing."""

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from members.models import CreditNote, Invoice, Term
from members.services.billing import credit_note_issue, invoice_issue
from tests.factories import UserFactory, committee_user, staff_user
from tests.members.billing_helpers import ISSUED, unpaid_term

pytestmark = pytest.mark.django_db
in_2027 = pytest.mark.usefixtures("after_the_invoices")

ROOT = Path(__file__).resolve().parents[2]


def cancel(number: str, *, by: str, reason: str = "Adhésion saisie deux fois") -> dict:
    out = StringIO()
    call_command("invoices", "cancel", number, "--reason", reason, "--by", by, "--json", stdout=out)
    return json.loads(out.getvalue())


def refused(number: str, *, by: str) -> str:
    with pytest.raises(CommandError) as refusal:
        call_command("invoices", "cancel", number, "--reason", "Erreur", "--by", by)
    assert refusal.value.returncode == 1
    assert not CreditNote.objects.exists()
    return str(refusal.value)


@in_2027
def test_staff_cancel_an_invoice_and_its_term():
    staff = staff_user()
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)

    assert cancel(invoice.number, by=staff.email) == {
        "credit_note": "DP-AV-2027-00001",
        "invoice": "DP-2027-00001",
        "amount": "300.00",
        "term_cancelled": True,
    }
    credit_note = CreditNote.objects.get()
    assert (credit_note.issued_by, credit_note.reason) == (staff, "Adhésion saisie deux fois")
    invoice.refresh_from_db()
    assert invoice.cancelled_on is not None
    assert Term.objects.get(pk=invoice.term_id).cancelled_on is not None


@in_2027
def test_the_rest_of_a_reduced_invoice_is_what_is_cancelled():
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    credit_note_issue(invoice=invoice, amount=Decimal("100.00"), reason="Remise", on=ISSUED)
    superuser = UserFactory(is_staff=True, is_superuser=True)

    result = cancel(invoice.number, by=superuser.email)

    assert (result["credit_note"], result["amount"]) == ("DP-AV-2027-00002", "200.00")


@in_2027
def test_without_json_it_says_what_it_did():
    staff = staff_user()
    invoice = invoice_issue(term=unpaid_term(fee="300.00"), on=ISSUED)
    out = StringIO()
    call_command(
        "invoices", "cancel", invoice.number, "--reason", "Erreur", "--by", staff.email, stdout=out
    )
    assert out.getvalue().strip() == (
        "Avoir DP-AV-2027-00001 de 300,00\xa0€ émis : la facture DP-2027-00001 est annulée."
    )


def test_what_cannot_be_cancelled_exits_with_status_1_and_why():
    staff = staff_user()
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
    other = invoice_issue(term=unpaid_term("frenchsouth"), on=ISSUED)

    assert "Facture inconnue « DP-2027-09999 »" in refused("DP-2027-09999", by=staff.email)
    assert "Aucun utilisateur actif « nobody@example.org »" in refused(
        invoice.number, by="nobody@example.org"
    )
    assert "ne fait pas partie du personnel de FrenchSouth" in refused(other.number, by=staff.email)
    assert "ne fait pas partie du personnel" in refused(invoice.number, by=committee_user().email)
    inactive = staff_user()
    inactive.is_active = False
    inactive.save()
    assert "Aucun utilisateur actif" in refused(invoice.number, by=inactive.email)

    cancel(invoice.number, by=staff.email)
    with pytest.raises(CommandError, match="déjà annulée") as again:
        call_command("invoices", "cancel", invoice.number, "--reason", "x", "--by", staff.email)
    assert again.value.returncode == 1
    assert CreditNote.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_command_line_prints_json_and_exits_1(postgresql):
    staff = staff_user()
    invoice = invoice_issue(term=unpaid_term(), on=ISSUED)
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "invoices", "cancel", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = run(invoice.number, "--reason", "Erreur", "--by", staff.email, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "credit_note": f"DP-AV-{date.today().year}-00001",  # the real clock: another process
        "invoice": invoice.number,
        "amount": "300.00",
        "term_cancelled": True,
    }
    again = run(invoice.number, "--reason", "Erreur", "--by", staff.email, "--json")
    assert again.returncode == 1
    assert "déjà annulée" in again.stderr and again.stdout == ""
    assert Invoice.objects.get().cancelled_on is not None
