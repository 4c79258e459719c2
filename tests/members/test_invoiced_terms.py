"""Once a term has an invoice, what the invoice prints of it (its fee, plan and period) never
changes and the term is never deleted: the admin shows them disabled and says why, refuses a
forged change, the service and the term's validation refuse it, an import keeps the stored values
with a warning, and the database refuses it whatever the path. Correcting an invoiced amount is
the business of a credit note."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import translation

from members.models import ContactRole, ImportRecord, Invoice, Plan, Term
from members.services import contact_login_ensure
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.terms import term_delete, term_save
from members.texts import text_render
from tests.factories import (
    ContactFactory,
    MembershipFactory,
    TermFactory,
    cluster,
    make_siret,
    staff_user,
)
from tests.samples import SAMPLES

pytestmark = pytest.mark.django_db

D = dt.date
REFUSAL = "Cette période est facturée (FS-2026-00001)"
CREDIT_NOTE = "avoir"
NOTE = (
    "Facturée sous le n° FS-2026-00001 : le montant, la formule et la période ne peuvent plus "
    "changer ; une correction passe par un avoir."
)
NOTE_EN = (
    "Invoiced as no. FS-2026-00001: the fee, plan and period can no longer change; a correction "
    "goes through a credit note."
)


@pytest.fixture(autouse=True)
def today(time_machine):
    time_machine.move_to(dt.datetime(2026, 3, 15, 10, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture(autouse=True)
def _import_files(settings, tmp_path):
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"


@pytest.fixture(autouse=True)
def _french():
    # A page asked for in English leaves English active in this thread: the services' messages
    # are read in French here, and the next tests start in French.
    with translation.override("fr"):
        yield


def plan(name: str) -> Plan:
    return Plan.objects.get(cluster__slug="frenchsouth", name=name)


@pytest.fixture
def invoiced() -> Term:
    """A FrenchSouth member's 2026 term of 250 €, invoiced as FS-2026-00001 and paid."""
    term = TermFactory(
        membership__cluster=cluster("frenchsouth"),
        membership__member_number="FS-0042",
        membership__organisation__name="Garrigue Numérique",
        plan=plan("PME"),
        year=2026,
        fee=Decimal("250.00"),
        is_paid=False,
    )
    invoice = invoice_issue(term=term, on=D(2026, 1, 10))
    assert invoice.number == "FS-2026-00001"
    invoice_payment_record(invoice=invoice, amount=Decimal("250.00"), received_on=D(2026, 1, 20))
    term.refresh_from_db()
    assert term.is_paid
    return term


@pytest.fixture
def fs_staff(client):
    """FrenchSouth's membership staff, signed in to the admin."""
    user = staff_user("frenchsouth")
    client.force_login(user)
    return user


def membership_url(term: Term) -> str:
    return reverse("admin:members_membership_change", args=[term.membership_id])


def term_url(term: Term, view: str = "change") -> str:
    return reverse(f"admin:members_term_{view}", args=[term.pk])


def membership_form(term: Term, **changes) -> dict:
    """The POST of the membership page of ``term`` with its one term as stored, but for
    ``changes`` to that term (what a forged request sends; ``DELETE="on"`` ticks deletion)."""
    membership = term.membership
    row = {
        "id": term.pk,
        "membership": membership.pk,
        "plan": term.plan_id,
        "start_date": f"{term.start_date:%d/%m/%Y}",
        "end_date": f"{term.end_date:%d/%m/%Y}",
        "fee": term.fee,
        "is_paid": "on" if term.is_paid else "",
        "paid_on": f"{term.paid_on:%d/%m/%Y}" if term.paid_on else "",
        **changes,
    }
    return {
        "organisation": membership.organisation_id,
        "cluster": membership.cluster_id,
        "site": membership.site_id or "",
        "member_number": membership.member_number,
        "member_since": f"{membership.member_since:%d/%m/%Y}",
        "cancelled_on": "",
        "transferred_on": "",
        "notes": membership.notes,
        "terms-TOTAL_FORMS": 1,
        "terms-INITIAL_FORMS": 1,
        "terms-MIN_NUM_FORMS": 0,
        "terms-MAX_NUM_FORMS": 1000,
        **{f"terms-0-{name}": value for name, value in row.items()},
    }


def text_of(response) -> str:
    """The page's text, tags removed, blanks (no-break spaces too) collapsed."""
    html = response.content.decode().replace("&nbsp;", " ").replace("\xa0", " ")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def stored(term: Term) -> tuple:
    term.refresh_from_db()
    return term.plan_id, term.start_date, term.end_date, term.fee


def model_values(term: Term) -> dict:
    """The stored term's fields, to build the same term in memory (its id included)."""
    return {field.attname: getattr(term, field.attname) for field in Term._meta.concrete_fields}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- The attack, and the admin ----------------------------------------------------------------


def test_staff_posting_999_for_the_invoiced_paid_term_is_refused_and_the_member_still_sees_250(
    client, invoiced, fs_staff
):
    before = stored(invoiced)
    response = client.post(membership_url(invoiced), membership_form(invoiced, fee="999"))

    assert response.status_code == 200
    page = text_of(response)
    assert REFUSAL in page and CREDIT_NOTE in page
    assert not any("modifié" in message for message in messages_of(response))
    assert stored(invoiced) == before and invoiced.fee == Decimal("250.00")
    assert Invoice.objects.get(term=invoiced).amount == Decimal("250.00")

    contact = ContactFactory(
        organisation=invoiced.membership.organisation, role=ContactRole.PRIMARY
    )
    user, _created = contact_login_ensure(contact=contact)
    client.force_login(user)
    area = text_of(client.get(reverse("members:area")))
    assert "250,00 €" in area
    assert "999,00" not in area


def test_the_membership_page_shows_the_invoiced_terms_fee_plan_and_dates_disabled_and_why(
    client, invoiced, fs_staff
):
    response = client.get(membership_url(invoiced))

    html = response.content.decode()
    for name in ("plan", "start_date", "end_date", "fee"):
        (tag,) = re.findall(rf'<(?:input|select)[^>]*name="terms-0-{name}"[^>]*>', html)
        assert "disabled" in tag, name
    for name in ("is_paid", "paid_on"):
        (tag,) = re.findall(rf'<input[^>]*name="terms-0-{name}"[^>]*>', html)
        assert "disabled" not in tag, name
    assert NOTE in text_of(response)


def test_the_terms_own_page_shows_them_disabled_and_why(client, invoiced, fs_staff):
    response = client.get(term_url(invoiced))

    html = response.content.decode()
    for name in ("plan", "start_date", "end_date", "fee"):
        (tag,) = re.findall(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', html)
        assert "disabled" in tag, name
    assert NOTE in text_of(response)


@pytest.mark.parametrize(
    "changes",
    [
        {"plan": "Startup"},
        {"start_date": "01/02/2026"},
        {"end_date": "30/11/2026"},
        {"fee": "0"},
    ],
    ids=["plan", "start_date", "end_date", "fee"],
)
def test_a_forged_change_of_the_plan_or_the_period_is_refused_too(
    client, invoiced, fs_staff, changes
):
    if "plan" in changes:
        changes = {"plan": plan(changes["plan"]).pk}
    before = stored(invoiced)

    response = client.post(membership_url(invoiced), membership_form(invoiced, **changes))

    assert response.status_code == 200
    assert REFUSAL in text_of(response)
    assert stored(invoiced) == before


def test_a_forged_change_on_the_terms_own_page_is_refused(client, invoiced, fs_staff):
    before = stored(invoiced)
    response = client.post(
        term_url(invoiced),
        {
            "membership": invoiced.membership_id,
            "plan": invoiced.plan_id,
            "start_date": "01/01/2026",
            "end_date": "31/12/2026",
            "fee": "999",
            "is_paid": "on",
            "paid_on": "20/01/2026",
        },
    )

    assert response.status_code == 200
    assert REFUSAL in text_of(response)
    assert stored(invoiced) == before


def test_an_invoiced_term_cannot_be_moved_to_another_membership(client, invoiced, fs_staff):
    # The invoice is made out to the member of the term: moving the term would make another
    # organisation's membership paid by it.
    other = MembershipFactory(cluster=cluster("frenchsouth"), member_number="FS-0043")
    response = client.post(
        term_url(invoiced),
        {
            "membership": other.pk,
            "plan": invoiced.plan_id,
            "start_date": "01/01/2026",
            "end_date": "31/12/2026",
            "fee": "250",
            "is_paid": "on",
            "paid_on": "20/01/2026",
        },
    )

    assert response.status_code == 200
    assert "FS-2026-00001" in text_of(response)
    invoiced.refresh_from_db()
    assert invoiced.membership_id != other.pk
    with pytest.raises(ValidationError):
        term_save(term=Term(**{**model_values(invoiced), "membership_id": other.pk}))
    with pytest.raises(IntegrityError), transaction.atomic():
        Term.objects.filter(pk=invoiced.pk).update(membership=other)
    assert Term.objects.get(pk=invoiced.pk).membership_id == invoiced.membership_id


def test_the_payment_of_an_invoiced_term_still_changes_on_its_page(client, invoiced, fs_staff):
    response = client.post(
        membership_url(invoiced), membership_form(invoiced, paid_on="21/01/2026")
    )

    assert response.status_code == 302
    invoiced.refresh_from_db()
    assert invoiced.paid_on == D(2026, 1, 21)
    assert invoiced.fee == Decimal("250.00")


def test_deleting_an_invoiced_term_from_the_membership_page_is_refused(client, invoiced, fs_staff):
    response = client.post(membership_url(invoiced), membership_form(invoiced, DELETE="on"))

    assert response.status_code == 200
    page = text_of(response)
    assert REFUSAL in page and "supprimée" in page
    assert Term.objects.filter(pk=invoiced.pk).exists()


def test_deleting_an_invoiced_term_from_its_page_or_the_list_is_refused(client, invoiced, fs_staff):
    response = client.post(term_url(invoiced, "delete"), {"post": "yes"})

    assert response.status_code == 200
    assert REFUSAL in text_of(response)
    assert Term.objects.filter(pk=invoiced.pk).exists()

    response = client.post(
        reverse("admin:members_term_changelist"),
        {"action": "delete_selected", "_selected_action": [invoiced.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert REFUSAL in text_of(response)
    assert Term.objects.filter(pk=invoiced.pk).exists()


def test_a_term_without_invoice_is_still_edited_and_deleted(client, fs_staff):
    term = TermFactory(membership__cluster=cluster("frenchsouth"), year=2026, fee=Decimal("250.00"))

    response = client.get(membership_url(term))
    (tag,) = re.findall(r'<input[^>]*name="terms-0-fee"[^>]*>', response.content.decode())
    assert "disabled" not in tag
    response = client.post(
        membership_url(term), membership_form(term, fee="275", plan=plan("Startup").pk)
    )
    assert response.status_code == 302
    assert any("modifié" in message for message in messages_of(response))
    term.refresh_from_db()
    assert (term.fee, term.plan) == (Decimal("275.00"), plan("Startup"))

    response = client.post(membership_url(term), membership_form(term, DELETE="on"))
    assert response.status_code == 302
    assert not Term.objects.filter(pk=term.pk).exists()


def test_the_english_admin_gives_the_reason_in_english(client, invoiced, fs_staff):
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})

    assert NOTE_EN in text_of(client.get(membership_url(invoiced)))
    response = client.post(membership_url(invoiced), membership_form(invoiced, fee="999"))
    assert "This term is invoiced (FS-2026-00001)" in text_of(response)
    assert stored(invoiced)[3] == Decimal("250.00")


# --- The service and the term's own validation -------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("fee", Decimal("999")),
        ("start_date", D(2026, 2, 1)),
        ("end_date", D(2026, 11, 30)),
        ("plan", "Startup"),
    ],
)
def test_the_service_refuses_changing_what_the_invoice_prints(invoiced, field, value):
    before = stored(invoiced)
    setattr(invoiced, field, plan(value) if field == "plan" else value)

    with pytest.raises(ValidationError) as refused:
        term_save(term=invoiced)

    assert field in refused.value.message_dict
    assert REFUSAL in refused.value.message_dict[field][0]
    assert stored(invoiced) == before


def test_the_service_refuses_deleting_an_invoiced_term(invoiced):
    with pytest.raises(ValidationError) as refused:
        term_delete(term=invoiced)

    assert REFUSAL in refused.value.messages[0]
    assert Term.objects.filter(pk=invoiced.pk).exists()


def test_the_service_saves_the_payment_of_an_invoiced_term_and_any_change_of_another(invoiced):
    invoiced.paid_on = D(2026, 1, 22)
    term_save(term=invoiced)
    assert Term.objects.get(pk=invoiced.pk).paid_on == D(2026, 1, 22)

    other = TermFactory(membership=invoiced.membership, year=2025, fee=Decimal("200.00"))
    other.fee = Decimal("210.00")
    term_save(term=other)
    assert Term.objects.get(pk=other.pk).fee == Decimal("210.00")
    term_delete(term=other)
    assert not Term.objects.filter(pk=other.pk).exists()


def test_an_invoice_is_issued_for_the_stored_values_not_for_a_changed_copy():
    term = TermFactory(
        membership__cluster=cluster("frenchsouth"), year=2026, fee=Decimal("250.00"), is_paid=False
    )
    term.fee = Decimal("1.00")  # changed in memory, never saved

    invoice = invoice_issue(term=term, on=D(2026, 1, 10))

    assert invoice.amount == Decimal("250.00")
    assert Term.objects.get(pk=term.pk).fee == Decimal("250.00")


# --- The import --------------------------------------------------------------------------------

HEADER = (SAMPLES / "frenchsouth.csv").read_bytes().decode("cp1252").splitlines()[0].split(";")


def frenchsouth_csv(path: Path, **cells) -> Path:
    """FrenchSouth's file (``;``, Windows-1252) with one row: the member of :func:`invoiced`."""
    siret = make_siret(700_001)
    row = {
        "id_membre": "FS-0042",
        "nom_structure": "Garrigue Numérique",
        "siren": siret[:9],
        "siret": siret,
        "adresse_1": "1 rue de la Loge",
        "cp": "34000",
        "ville": "Montpellier",
        "antenne": "Montpellier",
        "categorie": "PME",
        "nb_salaries": "12",
        "date_premiere_adhesion": "01/01/2020",
        "cotisation_montant": "250,00",
        "cotisation_payee": "oui",
        "fin_adhesion": "31/12/2026",
        "contact_civilite": "Mme",
        "contact_nom": "MARTIN",
        "contact_prenom": "Claire",
        "contact_email": "claire@garrigue.example",
        **cells,
    }
    with path.open("w", encoding="cp1252", newline="") as file:
        writer = csv.DictWriter(file, HEADER, delimiter=";", lineterminator="\r\n")
        writer.writeheader()
        writer.writerow(row)
    return path


def test_a_reimport_keeps_the_invoiced_terms_values_and_warns_on_the_row(invoiced, tmp_path):
    organisation = invoiced.membership.organisation
    organisation.siret = make_siret(700_001)
    organisation.siren = organisation.siret[:9]
    organisation.save()
    before = stored(invoiced)
    path = frenchsouth_csv(tmp_path / "fs.csv", cotisation_montant="999,00", categorie="Startup")

    out = io.StringIO()
    call_command(
        "import_members", "--cluster=frenchsouth", "--profile=frenchsouth", "-v2", path, stdout=out
    )

    assert stored(invoiced) == before
    warnings = [
        {**w, "message": text_render(w["message"])} for w in ImportRecord.objects.get().warnings
    ]
    (warning,) = [w for w in warnings if "FS-2026-00001" in w["message"]]
    assert warning["row"] == 2
    assert "facturée" in warning["message"] and CREDIT_NOTE in warning["message"]
    assert "FS-2026-00001" in out.getvalue()


# --- The database -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"fee": Decimal("999")},
        {"start_date": D(2026, 2, 1)},
        {"end_date": D(2026, 11, 30)},
        {"plan": "Startup"},
    ],
    ids=["fee", "start_date", "end_date", "plan"],
)
def test_the_database_refuses_an_update_of_an_invoiced_term(invoiced, changes):
    if "plan" in changes:
        changes = {"plan": plan("Startup")}
    before = stored(invoiced)

    with pytest.raises(IntegrityError), transaction.atomic():
        Term.objects.filter(pk=invoiced.pk).update(**changes)

    assert stored(invoiced) == before


def test_the_database_lets_the_payment_of_an_invoiced_term_and_other_terms_change(invoiced):
    Term.objects.filter(pk=invoiced.pk).update(is_paid=False, paid_on=None)
    Term.objects.filter(pk=invoiced.pk).update(is_paid=True, paid_on=D(2026, 1, 25), fee=250)
    other = TermFactory(membership=invoiced.membership, year=2025)
    Term.objects.filter(pk=other.pk).update(fee=Decimal("1.00"), start_date=D(2025, 2, 1))

    assert Term.objects.get(pk=invoiced.pk).paid_on == D(2026, 1, 25)
    assert Term.objects.get(pk=other.pk).fee == Decimal("1.00")


def test_the_database_refuses_deleting_an_invoiced_term(postgresql, invoiced):
    # Past the ORM (which protects the invoice): what a raw statement meets.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_term WHERE id = %s", [invoiced.pk])

    assert Term.objects.filter(pk=invoiced.pk).exists()
