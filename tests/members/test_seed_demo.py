"""``python manage.py seed_demo``: the demo data, its logins, and that a second run adds nothing."""

import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db.models import Count, Q
from django.urls import reverse
from stdnum.fr import siret as stdnum_siret

from assemblies.models import (
    Assembly,
    AssemblyKind,
    AssemblyState,
    Attendance,
    Ballot,
    BallotChannel,
    Proxy,
    Voice,
)
from assemblies.selectors import assembly_results
from members.accounting import FEC_COLUMNS, accounting_export
from members.demo import MEMBER_PASSWORD, STAFF_PASSWORD
from members.models import (
    Cluster,
    Contact,
    ContactRole,
    CreditNote,
    CreditNoteSequence,
    Invoice,
    InvoiceSequence,
    InvoiceStatus,
    Mail,
    MailState,
    Membership,
    MembershipStatus,
    Organisation,
    Payment,
    PaymentFollowUp,
    PaymentFollowUpState,
    PaymentMethod,
    Refund,
    RefundState,
    Term,
)
from members.roles import MEMBERSHIP_STAFF, MERGER_COMMITTEE
from members.selectors import invoices_with_balance, memberships_with_status
from members.services.billing import invoice_confirmation_send, invoice_notice_send
from members.services.follow_ups import payment_follow_ups_schedule
from members.validators import normalise_phone
from merger.models import Merger, MergerAdoption, MergerEvent
from merger.selectors import merger_current
from merger.services import merger_update
from tests.members.billing_helpers import pdf_text

pytestmark = pytest.mark.django_db

# Mid-year, so that last year's terms are past their grace period whatever day the tests run.
TODAY = dt.date(2026, 6, 15)
# The members in bulk writes (about 120 queries on SQLite, which takes fewer rows per INSERT: a
# row-by-row seed would take thousands), then the year of billing through the billing services,
# one invoice, payment and credit note at a time (about 1,000 queries for some 60 invoices),
# then the assemblies through their services, one proxy and one ballot at a time (about 2,700
# queries for some 200 ballots).
QUERIES = 4300
DEPARTMENTS = {
    "digitalplace": {"09", "31", "32", "81", "82"},
    "frenchsouth": {"11", "30", "34", "66"},
}


def seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def travel(time_machine, day: dt.date) -> None:
    time_machine.move_to(
        dt.datetime.combine(day, dt.time(9), tzinfo=ZoneInfo("Europe/Paris")), tick=False
    )


@pytest.fixture
def seeded(settings, time_machine, django_assert_max_num_queries) -> str:
    """The demo, seeded on :data:`TODAY`; returns what the command printed."""
    settings.DEBUG = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    travel(time_machine, TODAY)
    with django_assert_max_num_queries(QUERIES):
        return seed_demo()


def row_counts() -> dict[str, int]:
    user_model = get_user_model()
    return {
        "organisations": Organisation.objects.count(),
        "memberships": Membership.objects.count(),
        "contacts": Contact.objects.count(),
        "terms": Term.objects.count(),
        "users": user_model.objects.count(),
        "email addresses": EmailAddress.objects.count(),
        "group members": user_model.groups.through.objects.count(),
        "cluster staff": Cluster.staff.through.objects.count(),
        "linked contacts": Contact.objects.filter(user__isnull=False).count(),
        "invoices": Invoice.objects.count(),
        "payments": Payment.objects.count(),
        "credit notes": CreditNote.objects.count(),
        "refunds": Refund.objects.count(),
        "mails": Mail.objects.count(),
        "assemblies": Assembly.objects.count(),
        "voices": Voice.objects.count(),
        "proxies": Proxy.objects.count(),
        "ballots": Ballot.objects.count(),
        "adoptions": MergerAdoption.objects.count(),
        "merger events": MergerEvent.objects.count(),
    }


def test_refuses_to_run_without_debug_unless_forced(settings):
    settings.DEBUG = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    with pytest.raises(CommandError, match="development only"):
        seed_demo()

    assert not Organisation.objects.exists()
    assert not get_user_model().objects.exists()

    call_command("seed_demo", "--force", stdout=StringIO())

    assert Organisation.objects.exists()


def test_about_200_members_per_cluster_and_ten_percent_in_both(seeded):
    for slug in ("digitalplace", "frenchsouth"):
        organisations = Organisation.objects.annotate(clusters=Count("memberships")).filter(
            memberships__cluster__slug=slug
        )
        in_both = organisations.filter(clusters=2)
        assert 180 <= organisations.count() <= 220
        assert 0.08 <= in_both.count() / organisations.count() <= 0.12


def test_organisations_and_contacts_are_valid(seeded):
    organisations = Organisation.objects.prefetch_related("memberships__cluster", "contacts")
    with_siret = [o for o in organisations if o.siret]
    assert len(with_siret) >= 0.9 * len(organisations)
    for organisation in organisations:
        organisation.clean_fields()
        if organisation.siret:
            assert stdnum_siret.is_valid(organisation.siret), organisation.siret
            assert organisation.siren == organisation.siret[:9]
        departments = set().union(
            *(DEPARTMENTS[m.cluster.slug] for m in organisation.memberships.all())
        )
        assert organisation.postcode[:2] in departments
        roles = [contact.role for contact in organisation.contacts.all()]
        assert 1 <= len(roles) <= 3
        assert roles.count(ContactRole.PRIMARY) == 1
    for contact in Contact.objects.all():
        contact.clean_fields()
        assert contact.email == contact.email.lower()
        assert normalise_phone(contact.phone) == contact.phone
    assert Contact.objects.filter(role=ContactRole.BILLING).exists()
    assert Contact.objects.filter(language="en").exists()


def test_terms_and_statuses(seeded):
    memberships = memberships_with_status(on=TODAY).annotate(
        this_year=Count("terms", filter=Q(terms__start_date__year=TODAY.year))
    )
    for membership in memberships:
        assert membership.this_year == 1 or membership.status in {
            MembershipStatus.LAPSED,
            MembershipStatus.CANCELLED,
        }, membership
    for slug in ("digitalplace", "frenchsouth"):
        statuses = set(memberships.filter(cluster__slug=slug).values_list("status", flat=True))
        assert {
            MembershipStatus.CURRENT,
            MembershipStatus.PENDING,
            MembershipStatus.LAPSED,
            MembershipStatus.CANCELLED,
        } <= statuses
    for term in Term.objects.select_related("plan", "membership__organisation"):
        headcount = term.membership.organisation.headcount
        assert term.plan.cluster_id == term.membership.cluster_id
        assert term.fee == term.plan.annual_fee
        assert term.plan.headcount_min is None or headcount >= term.plan.headcount_min
        assert term.plan.headcount_max is None or headcount <= term.plan.headcount_max
        assert (term.paid_on is not None) == term.is_paid
        assert term.paid_on is None or term.paid_on <= TODAY


def test_staff_users_have_their_roles(seeded):
    digitalplace, frenchsouth = (
        Cluster.objects.get(slug="digitalplace"),
        Cluster.objects.get(slug="frenchsouth"),
    )
    staff = Group.objects.get(name=MEMBERSHIP_STAFF)
    for cluster in (digitalplace, frenchsouth):
        user = cluster.staff.get()
        assert user.is_staff and not user.is_superuser
        assert list(user.groups.all()) == [staff]
        assert list(user.staffed_clusters.all()) == [cluster]
    committee = Group.objects.get(name=MERGER_COMMITTEE).user_set.get()
    assert committee.is_staff and not committee.staffed_clusters.exists()
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff


def test_staff_of_digitalplace_signs_in_to_admin(seeded, client):
    email = Cluster.objects.get(slug="digitalplace").staff.get().email

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": STAFF_PASSWORD, "next": "/admin/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_member_contact_signs_in(seeded, client, mailoutbox):
    contact = Contact.objects.select_related("user").get(user__isnull=False)
    assert contact.role == ContactRole.PRIMARY
    assert contact.user.email == contact.user.username == contact.email
    assert set(
        memberships_with_status(
            on=TODAY, queryset=contact.organisation.memberships.all()
        ).values_list("status", flat=True)
    ) == {MembershipStatus.CURRENT, MembershipStatus.PENDING}
    assert EmailAddress.objects.filter(
        user=contact.user, email=contact.email, verified=True, primary=True
    ).exists()
    assert contact.email in seeded and MEMBER_PASSWORD in seeded
    assert client.login(username=contact.email, password=MEMBER_PASSWORD)
    client.logout()

    response = client.post(reverse("account_request_login_code"), {"email": contact.email})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_confirm_login_code")
    code = re.search(r"^([A-Z0-9]{3,}(?:-[A-Z0-9]+)*)$", mailoutbox[-1].body, re.MULTILINE)[1]
    response = client.post(reverse("account_confirm_login_code"), {"code": code})

    assert response.status_code == 302
    assert response["Location"] == reverse("members:area")
    assert client.session["_auth_user_id"] == str(contact.user.pk)


def test_prints_urls_credentials_and_statuses(seeded):
    assert "http://127.0.0.1:8000/" in seeded
    assert "http://127.0.0.1:8000/admin/" in seeded
    for line in ("admin", "personnel@digitalplace.example", "comite-fusion@demo.example"):
        assert line in seeded
    assert "Created " in seeded
    assert "current" in seeded and "lapsed" in seeded


def test_second_run_creates_nothing_even_on_another_day(seeded, time_machine):
    before = row_counts()
    travel(time_machine, dt.date(TODAY.year, 12, 31))

    output = seed_demo()

    assert row_counts() == before
    assert "Nothing created" in output
    assert MEMBER_PASSWORD in output


def test_the_same_data_every_time(seeded):
    def snapshot():
        return (
            list(Organisation.objects.order_by("siret", "name").values_list("siret", "name")),
            list(
                Membership.objects.order_by("member_number").values_list(
                    "member_number", "organisation__name", "member_since", "cancelled_on"
                )
            ),
            list(Contact.objects.order_by("email").values_list("email", "role", "phone")),
            list(
                Term.objects.order_by("membership__member_number", "start_date").values_list(
                    "membership__member_number", "start_date", "plan__name", "is_paid", "paid_on"
                )
            ),
            list(
                Invoice.objects.order_by("number").values_list(
                    "number", "term__membership__member_number", "issued_on", "paid_on", "language"
                )
            ),
            list(
                Payment.objects.order_by("invoice__number", "received_on", "amount").values_list(
                    "invoice__number", "amount", "received_on", "method", "provider_reference"
                )
            ),
            list(CreditNote.objects.order_by("number").values_list("number", "invoice__number")),
        )

    first = snapshot()
    for model in (
        MergerAdoption,
        MergerEvent,
        Ballot,
        Assembly,
        Mail,
        Refund,
        CreditNote,
        Payment,
        Invoice,
        InvoiceSequence,
        CreditNoteSequence,
    ):
        model.objects.all().delete()
    Term.objects.all().delete()
    Membership.objects.all().delete()
    Organisation.objects.all().delete()
    get_user_model().objects.all().delete()

    seed_demo()

    assert snapshot() == first


def test_a_year_of_billing_through_the_services(seeded):
    since = TODAY - dt.timedelta(days=365)
    invoices = invoices_with_balance(Invoice.objects.select_related("term__membership"))
    for slug in ("digitalplace", "frenchsouth"):
        of_cluster = invoices.filter(cluster__slug=slug)
        statuses = set(of_cluster.values_list("status", flat=True))
        assert {
            InvoiceStatus.PAID,
            InvoiceStatus.PARTIAL,
            InvoiceStatus.DUE,
            InvoiceStatus.CANCELLED,
        } <= statuses, slug
        assert InvoiceStatus.OVERPAID not in statuses, "the overpayment is refunded"
        assert of_cluster.count() >= 15
        issued = list(of_cluster.order_by("number").values_list("issued_on", flat=True))
        assert issued == sorted(issued), "numbers follow dates"
        assert min(issued) >= since - dt.timedelta(days=31) and max(issued) <= TODAY
        assert CreditNote.objects.filter(cluster__slug=slug, term_cancelled=True).exists()
        assert CreditNote.objects.filter(cluster__slug=slug, term_cancelled=False).exists()
        refund = Refund.objects.get(invoice__cluster__slug=slug)
        assert refund.method == PaymentMethod.TRANSFER and refund.state == RefundState.SUCCEEDED
        assert refund.amount == refund.invoice.credit_notes.get().amount
        # Unpaid invoices past their due date had their payment follow-ups.
        followed = PaymentFollowUp.objects.filter(
            invoice__cluster__slug=slug, state=PaymentFollowUpState.SENT
        )
        assert followed.exists(), slug
        assert not followed.filter(invoice__paid_on__isnull=False).exists()
    for invoice in invoices:
        term = invoice.term
        assert term.is_paid == (invoice.status == InvoiceStatus.PAID), invoice
        assert (term.cancelled_on is not None) == (invoice.status == InvoiceStatus.CANCELLED)
    card = Payment.objects.filter(method=PaymentMethod.CARD)
    assert card.exists() and not card.filter(provider_reference="").exists()
    assert Payment.objects.filter(method=PaymentMethod.TRANSFER).exists()
    assert Invoice.objects.filter(language="en").exists()
    # The demo's past e-mails count as sent: none is left to go out.
    assert not Mail.objects.exclude(state=MailState.SENT).exists()
    assert not Invoice.objects.filter(notice_sent_at__isnull=True).exists()


def test_the_demo_member_has_an_invoice_to_pay_and_one_paid(seeded):
    contact = Contact.objects.get(user__isnull=False)
    invoices = invoices_with_balance(
        Invoice.objects.filter(term__membership__organisation=contact.organisation)
    )

    assert {invoice.status for invoice in invoices} >= {InvoiceStatus.DUE, InvoiceStatus.PAID}
    due = invoices.get(status=InvoiceStatus.DUE)
    assert due.amount_left == due.amount and due.issued_on <= TODAY


def test_the_demos_past_emails_reach_nobody(seeded, mailbox):
    paid = Invoice.objects.filter(paid_on__isnull=False).first()
    unpaid = Invoice.objects.filter(paid_on__isnull=True).first()

    assert invoice_confirmation_send(invoice=paid) is False
    assert invoice_notice_send(invoice=unpaid) is False
    assert payment_follow_ups_schedule(today=TODAY).emails == 0
    assert mailbox.messages == []


def test_staff_see_their_clusters_invoices_with_the_late_payment_mentions(seeded, client):
    cluster = Cluster.objects.get(slug="frenchsouth")
    client.force_login(cluster.staff.get())
    invoice = Invoice.objects.filter(cluster=cluster, paid_on__isnull=True).first()

    listing = client.get(reverse("admin:members_invoice_changelist")).content.decode()
    pdf = client.get(reverse("admin:members_invoice_pdf", args=[invoice.pk]))

    assert invoice.number in listing
    assert Invoice.objects.filter(cluster__slug="digitalplace").first().number not in listing
    text = " ".join(pdf_text(pdf.content).split())
    assert "L441-10" in text
    assert invoice.issuer_details["late_payment_rate"] == "12.00"


def test_a_run_a_year_later_bills_the_new_terms_it_adds(seeded, time_machine):
    numbers = set(Invoice.objects.values_list("number", flat=True))
    travel(time_machine, dt.date(TODAY.year + 1, 3, 15))

    output = seed_demo()

    added = Invoice.objects.exclude(number__in=numbers)
    assert "Created " in output
    assert added.exists()
    assert not added.filter(issued_on__lt=dt.date(TODAY.year, 12, 1)).exists()
    assert set(Invoice.objects.values_list("number", flat=True)) >= numbers


def test_the_fec_of_the_demos_year_is_balanced_gapless_and_reproducible(seeded, postgresql):
    """The accountant's file of the demo's year of billing, for each cluster: every kind of
    document has its entries, each balanced, numbered without gap, 18 columns, the same twice."""
    start, end = TODAY - dt.timedelta(days=400), TODAY

    def export(cluster: Cluster) -> bytes:
        file = io.BytesIO()
        accounting_export(cluster=cluster, start=start, end=end, file_format="fec", file=file)
        return file.getvalue()

    for cluster in Cluster.objects.filter(slug__in=("digitalplace", "frenchsouth")):
        content = export(cluster)
        assert export(cluster) == content
        lines = content.decode("utf-8").split("\r\n")[:-1]
        header, *rows = (line.split("\t") for line in lines)
        assert tuple(header) == FEC_COLUMNS
        assert rows and all(len(row) == 18 for row in rows)
        rows = [dict(zip(FEC_COLUMNS, row, strict=True)) for row in rows]
        entries = defaultdict(list)
        for row in rows:
            entries[int(row["EcritureNum"])].append(row)
        assert sorted(entries) == list(range(1, len(entries) + 1))

        def amount(text: str) -> Decimal:
            return Decimal(text.replace(",", "."))

        for number, entry in entries.items():
            debit = sum(amount(line["Debit"]) for line in entry)
            assert debit == sum(amount(line["Credit"]) for line in entry) > 0, number
        # Invoices and credit notes (VE), transfers (BQ), card payments (CB).
        assert {"VE", "BQ", "CB"} <= {row["JournalCode"] for row in rows}, cluster.slug
        prefix = cluster.invoice_prefix
        assert any(row["PieceRef"].startswith(f"{prefix}-AV-") for row in rows)


def test_each_source_cluster_adopted_the_merger_unanimously_in_june(seeded):
    merger = merger_current()
    adoptions = {adoption.cluster.slug: adoption for adoption in merger.adoptions.all()}

    assert set(adoptions) == {"digitalplace", "frenchsouth"}
    for adoption in adoptions.values():
        assembly = adoption.resolution.assembly
        assert assembly.kind == AssemblyKind.EXTRAORDINARY
        assert assembly.state == AssemblyState.CLOSED
        assert (assembly.starts_at.year, assembly.starts_at.month) == (TODAY.year, 6)
        assert assembly.convened_at < assembly.starts_at < assembly.voting_closed_at
        assert assembly.voting_closed_at < assembly.chair_signed_at <= assembly.secretary_signed_at
        assert assembly.secretary_signed_at.date() < TODAY
        assert assembly.chair_name and assembly.secretary_name
        assert "grand cluster numérique par la fusion des deux clusters" in (
            adoption.resolution.title
        )
        results = assembly_results(assembly=assembly)
        result = results.resolutions[0]
        assert results.quorum_met and result.adopted
        assert (result.against, result.abstain) == (0, 0)
        assert result.votes_for == results.present + results.represented
        # Most in the room, some represented, realistic: not everybody came.
        assert 0 < results.represented < results.present < results.eligible
        assert results.present + results.represented < 0.8 * results.eligible
    assert merger.events.filter(kind=MergerEvent.Kind.ADOPTED).count() == 2

    # The demo's merger waits on nothing: the committee may fix its date.
    merger_update(merger=merger, by=None, reason="Date arrêtée", status=Merger.Status.SCHEDULED)


def test_the_annual_assembly_is_voting_and_the_demo_member_has_not_voted(seeded):
    assembly = Assembly.objects.get(kind=AssemblyKind.ORDINARY)
    member = Contact.objects.get(user__isnull=False)

    assert member.email == "laurent.roux@ondine-vision.example"
    assert assembly.state == AssemblyState.VOTING
    assert 19 <= (assembly.starts_at - assembly.convened_at).days <= 20
    assert assembly.convened_at <= assembly.voting_opened_at
    assert assembly.voting_opened_at.date() == TODAY < assembly.starts_at.date()
    titles = " ".join(assembly.resolutions.values_list("title", flat=True))
    for wording in ("comptes", "rapport moral", "conseil d’administration", "cotisations"):
        assert wording in titles
    voice = assembly.voices.get(organisation=member.organisation)
    assert voice.voter == member
    assert not Ballot.objects.filter(voice=voice).exists()
    assert not Proxy.objects.filter(Q(giver=voice) | Q(holder=voice)).exists()
    online = Ballot.objects.filter(voice__assembly=assembly, channel=BallotChannel.ONLINE)
    assert 10 <= online.count() < assembly.voices.count() / 2
    assert Proxy.objects.filter(assembly=assembly, revoked_at__isnull=True).count() == 2
    assert not assembly.voices.filter(attendance=Attendance.ROOM).exists()
