"""Every admin list and page fits a 1280 px window, for each demo login, in a real browser.

The pages come from the admin site's registry: a model registered tomorrow is measured too (and
the test asks for an object of it to open). On demo data filled so that every list has rows and
every column something to show: long organisation names, several terms, invoices with their
notes and payments, reminders sent and failed, an import, proposals with flags, notices with an
objection, a merge of duplicate records.

For each role, its home page (the dashboard) and each list it may open: the page is no wider
than the window, the list's table no wider than its box (no horizontal scroll), every column of
it in view, and the columns that role works with are there; then the first object's page, and
for the superuser every "add" page, are no wider than the window either.
"""

import datetime as dt
from decimal import Decimal

import pytest
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.test import RequestFactory
from django.utils import timezone

from assemblies.consultations import name_consultation_open, name_propose, organisations_eligible
from members.demo import ADMIN_PASSWORD, COMMITTEE_PASSWORD, STAFF_PASSWORD, demo_seed
from members.models import (
    Contact,
    Organisation,
    PaymentFollowUp,
    PaymentFollowUpReason,
    PaymentFollowUpState,
    Reminder,
    ReminderReason,
    ReminderState,
    Term,
)
from members.services.billing import invoice_issue, invoice_payment_record
from members.services.follow_ups import payment_follow_ups_schedule
from members.services.refunds import invoice_refund_record
from members.services.reminders import reminders_schedule
from merger.models import Decision, DuplicatePair, MergerNotice, TransferProposal
from merger.selectors import merger_current
from merger.services import transfer_decide
from merger.services.duplicates import duplicate_merge, duplicates_refresh
from merger.services.notices import notice_object, notices_queue
from merger.services.proposals import proposals_refresh
from tests.assemblies.helpers import assembly_convened
from tests.merger.adoptions import adoptions_recorded
from tests.samples import SAMPLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WINDOW = 1280
LONG_NAME = (
    "Société Coopérative d’Intérêt Collectif des Technologies Numériques et de l’Innovation "
    "Responsable du Grand Sud-Ouest"
)
# The demo logins: (role, login, password).
ROLES = [
    ("superutilisateur", "admin", ADMIN_PASSWORD),
    ("personnel DigitalPlace", "personnel@digitalplace.example", STAFF_PASSWORD),
    ("comité de fusion", "comite-fusion@demo.example", COMMITTEE_PASSWORD),
]
# The columns people work with, per list, as their titles read (case aside): they must be in
# the list, in view, for whoever may open it. Every other column must be in view too.
WORKING_COLUMNS = {
    "members.membership": (
        "N° d’adhérent",
        "Organisation",
        "Statut",
        "Formule",
        "Payée jusqu’au",
        "Cluster",
    ),
    "members.reminder": ("Organisation", "N° d’adhérent", "Relance", "État", "Envoyée le"),
    "members.invoice": ("Numéro", "Client", "Montant", "Payé à ce jour", "Statut", "Échéance"),
    "members.importrecord": ("Déposé le", "Cluster", "État", "Lignes", "Refusées"),
    "merger.transferproposal": ("Organisation", "Origine", "Signalements", "Décision"),
}

MEASURE = """() => {
    const table = document.querySelector("#result_list");
    const box = table && table.parentElement.getBoundingClientRect();
    const link = table && [...table.querySelectorAll("tbody a")]
        .map(a => a.getAttribute("href"))
        .find(href => href.startsWith(location.pathname) && /\\/change\\/$/.test(href));
    return {
        page: document.documentElement.scrollWidth,
        table: table && table.scrollWidth,
        box: table && table.parentElement.clientWidth,
        rows: table ? table.tBodies[0].rows.length : 0,
        columns: table ? [...table.tHead.rows[0].cells].map(cell => {
            const r = cell.getBoundingClientRect();
            return {
                title: cell.textContent.replace(/\\s+/g, " ").trim(),
                inView: r.width > 0 && r.left >= box.left - 1 && r.right <= box.right + 1,
            };
        }) : [],
        link: link || null,
    };
}"""


def fill_every_list(tmp_path) -> None:
    """The demo, and on top of it something in every list the admin has."""
    demo_seed()
    superuser = get_user_model().objects.get(username="admin")
    today = timezone.localdate()

    # A member of both clusters with a long name, an unpaid term in each, invoiced, one paid in
    # part; and a few more invoices, with payments, in both clusters.
    long_named = (
        Organisation.objects.annotate(clusters=Count("memberships__cluster", distinct=True))
        .filter(
            clusters=2, pk__in=Term.objects.filter(is_paid=False).values("membership__organisation")
        )
        .order_by("pk")
        .first()
    )
    long_named.name = LONG_NAME
    long_named.save()
    Contact.objects.filter(organisation=long_named).update(
        job_title="Directrice administrative, financière et des relations avec les adhérents"
    )
    terms = list(Term.objects.filter(membership__organisation=long_named, is_paid=False))
    terms += list(
        Term.objects.filter(is_paid=False, invoice__isnull=True, fee__gt=0)
        .exclude(membership__organisation=long_named)
        .order_by("membership__cluster", "pk")[:6]
    )
    for number, term in enumerate(terms):
        invoice = invoice_issue(term=term)
        if number % 2 == 0:
            invoice_payment_record(
                invoice=invoice,
                amount=(invoice.amount / 2).quantize(Decimal("0.01")),
                received_on=today,
                reference=f"VIREMENT SEPA COTISATION {today.year} {invoice.number} ACOMPTE",
                recorded_by=superuser,
            )
        elif number == 1:
            # Paid twice, part of it refunded by transfer.
            for _twice in range(2):
                invoice_payment_record(invoice=invoice, amount=invoice.amount, received_on=today)
            invoice_refund_record(
                invoice=invoice,
                amount=(invoice.amount / 2).quantize(Decimal("0.01")),
                refunded_on=today,
                reason="Payée deux fois, par virement puis par chèque : remboursement partiel",
                reference=f"REMBOURSEMENT TROP-PERCU {invoice.number}",
                recorded_by=superuser,
            )

    # Reminders: the pass, then one sent and one failed for good.
    reminders_schedule(today=today)
    sent, failed = Reminder.objects.order_by("pk")[:2]
    Reminder.objects.filter(pk=sent.pk).update(
        state=ReminderState.SENT,
        sent_at=timezone.now(),
        attempts=1,
        recipients=[
            f"contact{n}@{LONG_NAME[:20].lower().replace(' ', '-')}.example" for n in (1, 2)
        ],
    )
    Reminder.objects.filter(pk=failed.pk).update(
        state=ReminderState.FAILED,
        attempts=3,
        reason=ReminderReason.SMTP_ERROR,
        detail="SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable: user unknown in virtual "
        "mailbox table; the server gave up after three attempts",
    )

    # Payment follow-ups: the pass 15 days after the invoices' due date, one failed for good.
    follow_ups = payment_follow_ups_schedule(today=invoice.due_on + dt.timedelta(days=15))
    assert follow_ups.scheduled, "no unpaid invoice to follow up"
    PaymentFollowUp.objects.filter(pk=PaymentFollowUp.objects.order_by("pk")[0].pk).update(
        state=PaymentFollowUpState.FAILED,
        attempts=1,
        reason=PaymentFollowUpReason.SMTP_ERROR,
        error="SMTPRecipientsRefused: 550 5.1.1 mailbox unavailable: user unknown",
    )

    # Recovery codes of an account that does not sign in here (the others would be asked for a
    # second factor).
    RecoveryCodes.activate(get_user_model().objects.get(username="personnel@frenchsouth.example"))

    # An import of DigitalPlace's sample file.
    call_command(
        "import_members",
        "--cluster=digitalplace",
        "--profile=digitalplace",
        "--skip-invalid",
        str(SAMPLES / "digitalplace.xlsx"),
        stdout=open(tmp_path / "import.log", "w"),  # noqa: SIM115
    )

    # The merger: duplicates (one pair merged), proposals (some approved), notices (one
    # objected to).
    merger = merger_current()
    duplicates_refresh()
    pair = DuplicatePair.objects.order_by("-score").first()
    duplicate_merge(
        pair=pair, survivor=pair.organisation_a, by=superuser, reason="Même SIREN : une société"
    )
    proposals_refresh(merger=merger, by=superuser)
    approved = list(TransferProposal.objects.order_by("pk").values_list("pk", flat=True)[:40])
    transfer_decide(
        proposal_ids=approved,
        decision=Decision.APPROVED,
        by=superuser,
        reason="Comité du 15 décembre",
    )
    notices_queue(merger=merger, by=superuser)
    notice_object(
        notice=MergerNotice.objects.order_by("pk").first(),
        text="Nous préférons attendre l’assemblée générale avant de rejoindre le Grand Cluster.",
    )

    # An assembly of DigitalPlace, convened: its voices frozen from the demo's members.
    assembly_convened("digitalplace", title="Assemblée générale ordinaire 2026")

    # The merger adopted by both source clusters' assemblies, and the consultation on the
    # successor's name with a long proposal.
    adoptions_recorded(merger)
    consultation = name_consultation_open(
        merger=merger, by=superuser, title="Appel à propositions de noms pour le Grand Cluster"
    )
    name_propose(
        consultation=consultation,
        organisation=organisations_eligible(consultation=consultation).first(),
        contact=None,
        name="Occitanie Numérique — Cluster régional des entreprises du numérique",
        reason="Un nom qui dit la région et le métier, lisible en France comme à l’étranger.",
    )


def lists_of(user) -> list[dict]:
    """The lists of the admin's registry that ``user`` may open, as the admin's home page lists
    them (``admin_url`` and ``add_url`` by the user's permissions)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    return [
        model
        for app in admin.site.get_app_list(request)
        for model in app["models"]
        if model.get("admin_url")
    ]


def sign_in(page, base_url: str, login: str, password: str) -> None:
    page.context.clear_cookies()
    page.goto(base_url + "/admin/login/")
    page.fill("#id_username", login)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Connexion").click()
    page.wait_for_url(base_url + "/admin/")


def test_every_admin_list_and_page_fits_1280_px_for_each_role(
    live_server, page, settings, tmp_path
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    fill_every_list(tmp_path)
    assert page.viewport_size["width"] == WINDOW
    users = get_user_model().objects
    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}
    problems = []
    measured = {}  # role → lists measured

    for role, login, password in ROLES:
        sign_in(page, live_server.url, login, password)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > WINDOW:
            problems.append(f"{role}, /admin/: page {width} px wide")
        user = users.get(username=login)
        measured[role] = set()
        for model in lists_of(user):
            label = f"{model['model']._meta.app_label}.{model['model']._meta.model_name}"
            where = f"{role}, {model['admin_url']}"
            response = page.goto(live_server.url + model["admin_url"])
            if response.status != 200:
                problems.append(f"{where}: {response.status}")
                continue
            found = page.evaluate(MEASURE)
            measured[role].add(label)
            if found["page"] > WINDOW:
                problems.append(f"{where}: page {found['page']} px wide")
            if found["table"] is not None and found["table"] > found["box"]:
                problems.append(f"{where}: table {found['table']} px in a {found['box']} px box")
            titles = [column["title"].casefold() for column in found["columns"]]
            for column in found["columns"]:
                if column["title"] and not column["inView"]:
                    problems.append(f"{where}: column « {column['title']} » out of view")
            for wanted in WORKING_COLUMNS.get(label, ()):
                if not any(wanted.casefold() in title for title in titles):
                    problems.append(f"{where}: no column « {wanted} » in {titles}")
            if role == ROLES[0][0] and not found["rows"]:
                problems.append(f"{where}: empty list, nothing to measure: add data to the test")
            if role == ROLES[0][0] and found["rows"] and not found["link"]:
                problems.append(f"{where}: no link to an object's page")
            if found["link"]:
                page.goto(live_server.url + found["link"])
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > WINDOW:
                    problems.append(f"{role}, {found['link']}: page {width} px wide")
            if role == ROLES[0][0] and model.get("add_url"):
                page.goto(live_server.url + model["add_url"])
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > WINDOW:
                    problems.append(f"{role}, {model['add_url']}: page {width} px wide")

    assert problems == []
    # Every registered model was measured for the superuser, and each role saw its own lists.
    assert measured["superutilisateur"] == registered
    assert {"members.membership", "members.reminder", "members.invoice"} <= measured[
        "personnel DigitalPlace"
    ]
    assert {"merger.transferproposal", "members.membership"} <= measured["comité de fusion"]
    assert "merger.transferproposal" not in measured["personnel DigitalPlace"]
