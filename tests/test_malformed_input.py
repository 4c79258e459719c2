"""Malformed input gets a clear answer, never a 500: every view of the project (a table of the
URLconf's views, with who signs in to reach each and the identifiers of real records), every
admin list and every admin form, sent letters for numbers, impossible years and dates, huge
numbers, NUL characters, missing fields, unknown choices, another cluster's or organisation's
identifiers and very long strings, answers with its page, a form error, a 400 page saying what
is wrong, a redirection, a 403, a 404 or a 405. The cases reported by the attack on the running
site say exactly what is wrong.

Each request runs in a savepoint, so that a database error of one (a 500) does not abort those
after it; all the 500s of a test are reported together.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from assemblies.consultations import consultation_in_progress, name_consultation_open
from assemblies.models import (
    Assembly,
    AssemblyDocument,
    AssemblyState,
    NameConsultation,
    NameProposal,
    Signatory,
)
from assemblies.services import minutes_sign, voice_link_token, voting_close, voting_open
from members.imports.services import import_record_create, import_record_run
from members.models import (
    ImportRecord,
    Organisation,
    PaymentFollowUpPolicy,
    Reminder,
    ReminderReason,
    ReminderState,
    ReminderStep,
    Term,
)
from members.services import contact_login_ensure
from members.services.billing import invoice_payment_record
from members.services.renewals import renewal_link_token
from merger.models import (
    Decision,
    DuplicatePair,
    MergerExecution,
    MergerNotice,
    TransferDecision,
    TransferProposal,
)
from merger.selectors import merger_current
from merger.services import duplicates_refresh, proposals_refresh
from merger.services.notices import objection_token
from tests.assemblies.helpers import assembly_convened
from tests.factories import (
    UserFactory,
    cluster,
    committee_user,
    staff_user,
)
from tests.html_forms import form_data, page_form, page_forms
from tests.member_urls import member
from tests.samples import FILES
from tests.stripe_fake import stripe_fake_server

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"
NUL = "a\x00b"
LONG = "x" * 5000
#: What a field or a parameter receives instead of what it expects: letters for a number or an
#: unknown choice, negative, zero, a year too far, a number no column holds, an impossible date, a
#: NUL character (which PostgreSQL refuses in any text), a very long string.
MALFORMED = ("abc", "-1", "0", "99999", HUGE, "2025-13-45", NUL, LONG)
#: What a form's field receives: the years too far are for the query's parameters.
MALFORMED_FIELDS = ("abc", "-1", HUGE, "2025-13-45", NUL, LONG)
#: Fewer, for the admin's forms and lists, which are many: what every field of a form receives
#: at once, what each filter of a list receives, and each of its date filters besides.
MALFORMED_SHORT = ("abc", HUGE, "2025-13-45", NUL, LONG)
MALFORMED_FILTERS = ("abc", HUGE, NUL)
MALFORMED_DATE_FILTERS = ("0", "2025-13-45")
DATE_LOOKUPS = ("__gte", "__lt", "__lte", "__year", "__month", "__day")
#: Stands for an identifier in a URL, replaced by malformed ones (see :func:`bad_ids`).
MARK = 987654321
PASSWORD = "motdepasse-de-test"  # the member's, as tests.factories.UserFactory's
WEBHOOK_SECRET = "whsec_malformed"


# --- The world the requests reach ---------------------------------------------------------------


@dataclass
class World:
    """Who signs in (by role), organisation A (DigitalPlace; its contact is ``users["member"]``)
    and organisation B (FrenchSouth.digital: another organisation's and another cluster's
    records), and the merger's records."""

    users: dict
    term: Term  # paid, invoiced
    uninvoiced: Term  # unpaid, without invoice
    colleague: object
    other_term: Term
    other_uninvoiced: Term
    other_colleague: object
    proposal: TransferProposal
    notice_token: str
    execution: MergerExecution
    record: ImportRecord
    other_record: ImportRecord
    assembly: Assembly  # DigitalPlace's, convened (organisation A has a voice)
    other_assembly: Assembly  # FrenchSouth.digital's, convened

    @property
    def membership(self):
        return self.term.membership

    @property
    def organisation(self):
        return self.term.membership.organisation

    @property
    def invoice(self):
        return self.term.invoice

    @property
    def other_membership(self):
        return self.other_term.membership

    @property
    def other_organisation(self):
        return self.other_term.membership.organisation

    @property
    def other_invoice(self):
        return self.other_term.invoice

    @property
    def voice(self):
        return self.assembly.voices.get(organisation=self.organisation)

    @property
    def other_voice(self):
        return self.other_assembly.voices.get(organisation=self.other_organisation)

    @property
    def merger(self):
        return self.proposal.merger

    @property
    def credit_note(self):
        return self.invoice.credit_notes.order_by("pk").first()

    @property
    def other_credit_note(self):
        return self.other_invoice.credit_notes.order_by("pk").first()


def imported(slug: str, *, analysed: bool) -> ImportRecord:
    path = FILES[slug]
    record = import_record_create(
        cluster=cluster(slug),
        profile=slug,
        file=SimpleUploadedFile(path.name, path.read_bytes()),
        file_name=path.name,
        source=ImportRecord.Source.ADMIN,
    )
    if analysed:
        import_record_run(record=record, dry_run=True)
    return record


@pytest.fixture
def world(settings, tmp_path) -> World:
    settings.IMPORT_FILES_ROOT = tmp_path / "kept"
    # Dozens of passwords are checked: a slow hash would take most of the time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    contact, term, colleague = member("Organisation A", "a@example.org")
    _contact_b, other_term, other_colleague = member(
        "Organisation B", "b@example.org", cluster_slug="frenchsouth"
    )
    user, _created = contact_login_ensure(contact=contact, password=PASSWORD)
    users = {
        "member": user,
        "staff": staff_user("digitalplace"),
        "committee": committee_user(),
        "superuser": UserFactory(is_staff=True, is_superuser=True),
    }
    # "Organisation A" and "Organisation B" make a possible duplicate.
    duplicates_refresh()
    assert DuplicatePair.objects.exists()
    merger = merger_current()
    proposals_refresh(merger=merger, as_of=timezone.localdate())
    proposal = TransferProposal.objects.get(organisation=term.membership.organisation)
    notice = MergerNotice.objects.create(proposal=proposal, email=contact.email, language="fr")
    execution = MergerExecution.objects.create(
        merger=merger, key=uuid.uuid4(), effective_date=merger.planned_date, state="done"
    )
    # A reminder of each, failed: staff may put it back in the queue.
    for some_term in (term, other_term):
        step = ReminderStep.objects.filter(policy__cluster=some_term.membership.cluster).first()
        Reminder.objects.create(
            term=some_term,
            step=step,
            offset_days=step.offset_days,
            due_on=some_term.end_date + dt.timedelta(days=step.offset_days),
            scheduled_on=timezone.localdate(),
            state=ReminderState.FAILED,
            reason=ReminderReason.SMTP_ERROR,
            detail="550 mailbox unavailable",
            attempts=4,
        )
    return World(
        users=users,
        term=term,
        uninvoiced=term.membership.terms.get(is_paid=False),
        colleague=colleague,
        other_term=other_term,
        other_uninvoiced=other_term.membership.terms.get(is_paid=False),
        other_colleague=other_colleague,
        proposal=proposal,
        notice_token=objection_token(notice=notice),
        execution=execution,
        record=imported("digitalplace", analysed=True),
        other_record=imported("frenchsouth", analysed=False),
        assembly=assembly_convened("digitalplace"),
        other_assembly=assembly_convened("frenchsouth"),
    )


@pytest.fixture
def card_payment(settings):
    """Card payment on, through the fake Stripe API; the webhook's secret set."""
    with stripe_fake_server() as fake:
        settings.STRIPE_SECRET_KEY = "sk_test_fake"
        settings.STRIPE_WEBHOOK_SECRET = [WEBHOOK_SECRET]
        settings.STRIPE_API_BASE = fake.url
        yield fake


# --- Requests -----------------------------------------------------------------------------------


class Visitor:
    """A browser of ``user`` (None: anonymous) that never raises the site's errors: each answer is
    checked, and the 500s are noted with the exception behind them."""

    def __init__(self, user=None):
        self.client = Client(raise_request_exception=False)
        if user is not None:
            self.client.force_login(user)
        self.failures: list[str] = []

    def send(self, method: str, url: str, data: dict | None = None):
        savepoint = transaction.savepoint()
        response = getattr(self.client, method)(url, data or {})
        if response.status_code >= 500:
            # The request's database error must not abort the next requests' transaction.
            transaction.savepoint_rollback(savepoint)
            error = response.exc_info[1] if response.exc_info else None
            self.failures.append(
                f"{response.status_code} {error!r} ← {method.upper()} {shown(url)} {shown(data)}"
            )
        else:
            transaction.savepoint_commit(savepoint)
        return response


def shown(value) -> str:
    """``value`` for a failure message: long strings cut."""
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


def bad_ids(name: str, *args) -> list[str]:
    """The URL ``name`` with ``args`` (another organisation's or cluster's identifiers), then with
    each of them replaced by a huge number, and by letters with a NUL character."""
    urls = [reverse(name, args=args)]
    for index in range(len(args)):
        marked = reverse(name, args=[*args[:index], MARK, *args[index + 1 :]])
        urls += [marked.replace(str(MARK), bad) for bad in (HUGE, "abc%00")]
    return urls


def name_consultation(w: World) -> NameConsultation:
    """The consultation on the successor's name in progress, opened the first time it is asked."""
    return consultation_in_progress(merger=w.merger) or name_consultation_open(
        merger=w.merger, by=None
    )


def name_proposal(w: World) -> NameProposal:
    """Organisation A's proposal in :func:`name_consultation`."""
    consultation = name_consultation(w)
    proposal, _created = NameProposal.objects.get_or_create(
        consultation=consultation,
        organisation=w.organisation,
        normalised_name="nomdetest",
        defaults={"name": "Nom de test", "reason": "Pour les tests"},
    )
    return proposal


# --- The table of every view --------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """How to reach a view and what it reads.

    ``who`` signs in (``anonymous``, ``member``: a contact of organisation A, ``staff`` of
    DigitalPlace, ``committee``, ``superuser``); ``url`` is the view's address with real
    identifiers; ``get`` the query parameters it reads and ``post`` the fields a POST carries,
    with well-formed values; ``foreign`` fields set to another organisation's or cluster's
    identifiers; ``others`` the view's address with such identifiers, huge numbers, letters and
    NUL characters; ``before`` what the visitor does first (a sign-in under way, …).
    """

    who: str
    url: Callable[[World], str]
    get: Callable[[World], dict] | None = None
    post: Callable[[World], dict] | None = None
    foreign: Callable[[World], dict] | None = None
    others: Callable[[World], list[str]] = lambda w: []
    before: Callable[[Visitor, World], None] | None = None


def to(name: str, *args: Callable[[World], object]) -> Callable[[World], str]:
    """The URL ``name`` with the identifiers ``args`` read from the world."""
    return lambda w: reverse(name, args=[arg(w) for arg in args])


def with_ids(name: str, *args: Callable[[World], object]) -> Callable[[World], list[str]]:
    """:func:`bad_ids` of ``name`` with the identifiers ``args`` read from the world."""
    return lambda w: bad_ids(name, *[arg(w) for arg in args])


def over_pay(invoice) -> None:
    """Pay ``invoice`` once more than its amount (once), so that there is something to refund."""
    if not invoice.payments.filter(reference="over-paid").exists():
        invoice_payment_record(
            invoice=invoice,
            amount=invoice.amount,
            received_on=invoice.issued_on,
            reference="over-paid",
        )


def code_requested(visitor: Visitor, w: World) -> None:
    visitor.send("post", reverse("account_request_login_code"), {"email": "a@example.org"})


def assembly_in(assembly: Assembly, state: str) -> None:
    """Take ``assembly`` to ``state`` (the vote open, or closed) if it is not there yet."""
    assembly.refresh_from_db()
    if assembly.state == AssemblyState.CONVENED:
        voting_open(assembly=assembly)
    if state == AssemblyState.CLOSED and assembly.state != AssemblyState.CLOSED:
        voting_close(assembly=assembly)


def assembly_view(name: str, *args: Callable[[World], object], **row) -> View:
    """A row of an assembly's admin page ``name``: DigitalPlace's staff on DigitalPlace's
    assembly (``args`` after it in the URL), another cluster's assembly in ``others``."""
    return View(
        "staff",
        to(name, lambda w: w.assembly.pk, *args),
        others=with_ids(name, lambda w: w.other_assembly.pk, *row.pop("other_args", ())),
        **row,
    )


def follow_up_policy(membership) -> PaymentFollowUpPolicy:
    return PaymentFollowUpPolicy.objects.get(cluster=membership.cluster_id)


def organisation_type(w: World) -> int:
    return ContentType.objects.get_for_model(Organisation).pk


def minutes_signed_assembly(w: World) -> Assembly:
    """An assembly of DigitalPlace that convened organisation A, its vote closed and its
    minutes signed (made once)."""
    assembly = Assembly.objects.filter(
        cluster__slug="digitalplace", secretary_signed_at__isnull=False
    ).first()
    if assembly is None:
        assembly = assembly_convened()
        voting_open(assembly=assembly)
        voting_close(assembly=assembly)
        for role in Signatory.values:
            minutes_sign(assembly=assembly, role=role, by=None)
    return assembly


def voice_token(w: World) -> str:
    voice = minutes_signed_assembly(w).voices.get(organisation=w.organisation)
    return voice_link_token(voice=voice)


def assembly_document(w: World) -> AssemblyDocument:
    """A linked document of DigitalPlace's assembly (made once)."""
    assembly = minutes_signed_assembly(w)
    return assembly.documents.first() or AssemblyDocument.objects.create(
        assembly=assembly, title="Rapport moral", url="https://example.org/rapport.pdf"
    )


def member_voice(w: World):
    """Organisation A's voice at DigitalPlace's assembly."""
    return minutes_signed_assembly(w).voices.get(organisation=w.organisation)


def ballot_fields(w: World) -> dict:
    voice = member_voice(w)
    return {"voice": voice.pk, "by": voice.pk} | {
        f"resolution-{pk}": "for" for pk in voice.assembly.resolutions.values_list("pk", flat=True)
    }


def tokens(real: str) -> list[str]:
    """Tampered, cut, NUL-laden and very long tokens, from a real one."""
    return [real[:-2] + "xx", real[:10], real + "%00", "a%00b", "x" * 3000]


ORGANISATION_FIELDS = {
    "address_line1": "1 rue du Port",
    "address_line2": "",
    "postcode": "31000",
    "city": "Toulouse",
    "headcount": "12",
    "sector": "Logiciel",
    "next": "/espace/",
}
CONTACT_FIELDS = {
    "first_name": "Léa",
    "last_name": "Durand",
    "email": "lea.durand@example.org",
    "job_title": "Comptable",
    "role": "member",
    "language": "fr",
}

VIEWS: dict[str, View] = {
    # The site
    "home": View("anonymous", lambda w: "/"),
    "set_language": View(
        "anonymous", to("set_language"), post=lambda w: {"language": "en", "next": "/espace/"}
    ),
    # Sign-in and accounts (allauth, and the account's address)
    "account_login": View(
        "anonymous",
        to("account_login"),
        get=lambda w: {"next": "/espace/"},
        post=lambda w: {"login": "a@example.org", "password": "faux", "next": "/espace/"},
    ),
    "account_logout": View("member", to("account_logout"), post=lambda w: {"next": "/"}),
    "account_inactive": View("anonymous", to("account_inactive")),
    "account_signup": View(
        "anonymous",
        to("account_signup"),
        post=lambda w: {"email": "x@example.org", "password1": "un-mot-de-passe-long"},
    ),
    "account_reauthenticate": View(
        "member", to("account_reauthenticate"), post=lambda w: {"password": "faux"}
    ),
    "account_email": View(
        "member", to("account_email"), post=lambda w: {"action_add": "", "email": "x@example.org"}
    ),
    "account_email_verification_sent": View("anonymous", to("account_email_verification_sent")),
    "account_change_password": View(
        "member",
        to("account_change_password"),
        post=lambda w: {"oldpassword": "faux", "password1": "abc", "password2": "abc"},
    ),
    "account_set_password": View(
        "member", to("account_set_password"), post=lambda w: {"password1": "a", "password2": "a"}
    ),
    "account_reset_password": View(
        "anonymous", to("account_reset_password"), post=lambda w: {"email": "a@example.org"}
    ),
    "account_request_login_code": View(
        "anonymous",
        to("account_request_login_code"),
        get=lambda w: {"next": "/espace/"},
        post=lambda w: {"email": "a@example.org"},
    ),
    "account_confirm_login_code": View(
        "anonymous",
        to("account_confirm_login_code"),
        post=lambda w: {"code": "ABCDEFGH"},
        before=code_requested,
    ),
    "account_confirm_email": View(
        "anonymous",
        lambda w: reverse("account_confirm_email", args=["abc"]),
        post=lambda w: {},
        others=lambda w: [
            reverse("account_confirm_email", args=[key]) for key in (HUGE, "a:b", "x" * 3000)
        ],
    ),
    "account_reset_password_from_key": View(
        "anonymous",
        lambda w: reverse("account_reset_password_from_key", args=["1", "abc-def"]),
        post=lambda w: {"password1": "un-mot-de-passe", "password2": "un-mot-de-passe"},
        others=lambda w: [
            reverse("account_reset_password_from_key", args=[uid, key])
            for uid, key in (("zzzzzzzzzzzzzzzzzzzz", "a-b"), ("1", "%00"), ("1", "x" * 3000))
        ],
    ),
    "account_reset_password_from_key_done": View(
        "anonymous", to("account_reset_password_from_key_done")
    ),
    "account_reset_password_done": View("anonymous", to("account_reset_password_done")),
    "mfa_index": View("staff", to("mfa_index")),
    "mfa_authenticate": View("anonymous", to("mfa_authenticate"), post=lambda w: {"code": "1"}),
    "mfa_reauthenticate": View("staff", to("mfa_reauthenticate"), post=lambda w: {"code": "1"}),
    "mfa_activate_totp": View("staff", to("mfa_activate_totp"), post=lambda w: {"code": "123456"}),
    "mfa_deactivate_totp": View("staff", to("mfa_deactivate_totp"), post=lambda w: {}),
    "mfa_view_recovery_codes": View("staff", to("mfa_view_recovery_codes")),
    "mfa_generate_recovery_codes": View("staff", to("mfa_generate_recovery_codes")),
    "mfa_download_recovery_codes": View("staff", to("mfa_download_recovery_codes")),
    # The member area
    "members:area": View("member", to("members:area")),
    "members:organisation_edit": View(
        "member",
        to("members:organisation_edit", lambda w: w.organisation.pk),
        get=lambda w: {"next": "/espace/"},
        post=lambda w: ORGANISATION_FIELDS,
        others=with_ids("members:organisation_edit", lambda w: w.other_organisation.pk),
    ),
    "members:contact_add": View(
        "member",
        to("members:contact_add", lambda w: w.organisation.pk),
        post=lambda w: CONTACT_FIELDS,
        others=with_ids("members:contact_add", lambda w: w.other_organisation.pk),
    ),
    "members:contact_edit": View(
        "member",
        to("members:contact_edit", lambda w: w.organisation.pk, lambda w: w.colleague.pk),
        post=lambda w: CONTACT_FIELDS,
        others=lambda w: [
            *bad_ids("members:contact_edit", w.other_organisation.pk, w.other_colleague.pk),
            reverse("members:contact_edit", args=[w.organisation.pk, w.other_colleague.pk]),
        ],
    ),
    "members:contact_remove": View(
        "member",
        to("members:contact_remove", lambda w: w.organisation.pk, lambda w: w.colleague.pk),
        post=lambda w: {},
        others=lambda w: [
            *bad_ids("members:contact_remove", w.other_organisation.pk, w.other_colleague.pk),
            reverse("members:contact_remove", args=[w.organisation.pk, w.other_colleague.pk]),
        ],
    ),
    "members:renewal_details": View(
        "member",
        to("members:renewal_details", lambda w: w.membership.pk),
        others=with_ids("members:renewal_details", lambda w: w.other_membership.pk),
    ),
    "members:renewal_plan": View(
        "member",
        to("members:renewal_plan", lambda w: w.membership.pk),
        get=lambda w: {"plan": w.term.plan_id},
        foreign=lambda w: {"plan": w.other_term.plan_id},
        others=with_ids("members:renewal_plan", lambda w: w.other_membership.pk),
    ),
    "members:renewal_confirm": View(
        "member",
        to("members:renewal_confirm", lambda w: w.membership.pk),
        get=lambda w: {"plan": w.term.plan_id},
        post=lambda w: {"after": w.term.pk, "plan": w.term.plan_id},
        foreign=lambda w: {"after": w.other_term.pk, "plan": w.other_term.plan_id},
        others=with_ids("members:renewal_confirm", lambda w: w.other_membership.pk),
    ),
    "members:renewal_link": View(
        "member",
        lambda w: reverse(
            "members:renewal_link", args=[renewal_link_token(term=w.term, email="a@example.org")]
        ),
        others=lambda w: [
            reverse(
                "members:renewal_link",
                args=[renewal_link_token(term=w.other_term, email="b@example.org")],
            ),
            *(
                reverse("members:renewal_link", args=["t"]).replace("/t/", f"/{token}/")
                for token in tokens(renewal_link_token(term=w.term, email="a@example.org"))
            ),
        ],
    ),
    "members:invoice_detail": View(
        "member",
        to("members:invoice_detail", lambda w: w.invoice.pk),
        get=lambda w: {"paiement": "annule"},
        others=with_ids("members:invoice_detail", lambda w: w.other_invoice.pk),
    ),
    "members:invoice_pdf": View(
        "member",
        to("members:invoice_pdf", lambda w: w.invoice.pk),
        others=with_ids("members:invoice_pdf", lambda w: w.other_invoice.pk),
    ),
    "members:credit_note_pdf": View(
        "member",
        to("members:credit_note_pdf", lambda w: w.credit_note.pk),
        others=with_ids("members:credit_note_pdf", lambda w: w.other_credit_note.pk),
    ),
    "members:term_invoice": View(
        "member",
        to("members:term_invoice", lambda w: w.uninvoiced.pk),
        post=lambda w: {},
        others=with_ids("members:term_invoice", lambda w: w.other_uninvoiced.pk),
    ),
    "members:certificate_pdf": View(
        "member",
        to("members:certificate_pdf", lambda w: w.term.pk),
        others=with_ids("members:certificate_pdf", lambda w: w.other_term.pk),
    ),
    "members:card_checkout": View(
        "member",
        to("members:card_checkout", lambda w: w.invoice.pk),
        post=lambda w: {},
        others=with_ids("members:card_checkout", lambda w: w.other_invoice.pk),
    ),
    "members:card_return": View(
        "member",
        to("members:card_return", lambda w: w.invoice.pk),
        get=lambda w: {"session_id": "cs_test_inconnue"},
        others=with_ids("members:card_return", lambda w: w.other_invoice.pk),
    ),
    "members:stripe_webhook": View(
        "anonymous",
        to("members:stripe_webhook"),
        post=lambda w: {"type": "checkout.session.completed", "id": "evt_1"},
    ),
    # The merger's page for members
    # An assembly's minutes
    "assemblies:assembly_link": View(
        "member",
        lambda w: reverse("assemblies:assembly_link", args=[voice_token(w)]),
        others=lambda w: [
            reverse("assemblies:assembly_link", args=["t"]).replace("/t/", f"/{token}/")
            for token in tokens(voice_token(w))
        ],
    ),
    "assemblies:member_assembly": View(
        "member",
        to("assemblies:member_assembly", lambda w: minutes_signed_assembly(w).pk),
        others=with_ids("assemblies:member_assembly", lambda w: w.other_assembly.pk),
    ),
    "assemblies:member_proxy_give": View(
        "member",
        to("assemblies:member_proxy_give", lambda w: minutes_signed_assembly(w).pk),
        post=lambda w: {"voice": member_voice(w).pk, "holder": "chair"},
        others=with_ids("assemblies:member_proxy_give", lambda w: w.other_assembly.pk),
    ),
    "assemblies:member_proxy_revoke": View(
        "member",
        to("assemblies:member_proxy_revoke", lambda w: minutes_signed_assembly(w).pk),
        post=lambda w: {"voice": member_voice(w).pk},
        others=with_ids("assemblies:member_proxy_revoke", lambda w: w.other_assembly.pk),
    ),
    "assemblies:member_ballot_cast": View(
        "member",
        to("assemblies:member_ballot_cast", lambda w: minutes_signed_assembly(w).pk),
        post=ballot_fields,
        others=with_ids("assemblies:member_ballot_cast", lambda w: w.other_assembly.pk),
    ),
    "assemblies:member_voter_designate": View(
        "member",
        to("assemblies:member_voter_designate", lambda w: minutes_signed_assembly(w).pk),
        post=lambda w: {"voice": member_voice(w).pk, "contact": w.colleague.pk},
        foreign=lambda w: {"contact": w.other_colleague.pk},
        others=with_ids("assemblies:member_voter_designate", lambda w: w.other_assembly.pk),
    ),
    "assemblies:member_assembly_document": View(
        "member",
        to("assemblies:member_assembly_document", lambda w: assembly_document(w).pk),
        others=with_ids("assemblies:member_assembly_document", lambda w: 10**6),
    ),
    "assemblies:member_minutes_pdf": View(
        "member",
        to("assemblies:member_minutes_pdf", lambda w: minutes_signed_assembly(w).pk),
        get=lambda w: {"language": "en"},
        others=with_ids("assemblies:member_minutes_pdf", lambda w: w.other_assembly.pk),
    ),
    "assemblies:minutes_pdf": View(
        "staff",
        to("assemblies:minutes_pdf", lambda w: minutes_signed_assembly(w).pk),
        get=lambda w: {"language": "en"},
        others=with_ids("assemblies:minutes_pdf", lambda w: w.other_assembly.pk),
    ),
    "assemblies:minutes_sign": View(
        "staff",
        to("assemblies:minutes_sign", lambda w: minutes_signed_assembly(w).pk),
        post=lambda w: {"role": "chair", "next": "/admin/"},
        others=with_ids("assemblies:minutes_sign", lambda w: w.other_assembly.pk),
    ),
    "merger:objection": View(
        "anonymous",
        lambda w: reverse("merger:objection", args=[w.notice_token]),
        post=lambda w: {"text": "Je m’oppose au transfert."},
        others=lambda w: [
            reverse("merger:objection", args=["t"]).replace("/t/", f"/{token}/")
            for token in tokens(w.notice_token)
        ],
    ),
    # The admin site's own views
    "admin:index": View("staff", to("admin:index")),
    "admin:login": View(
        "anonymous",
        to("admin:login"),
        get=lambda w: {"next": "/admin/"},
        post=lambda w: {"username": w.users["staff"].username, "password": "faux"},
    ),
    "admin:logout": View("staff", to("admin:logout"), post=lambda w: {}),
    "admin:password_change": View(
        "staff",
        to("admin:password_change"),
        post=lambda w: {"old_password": "faux", "new_password1": "a", "new_password2": "a"},
    ),
    "admin:password_change_done": View("staff", to("admin:password_change_done")),
    "admin:autocomplete": View(
        "staff",
        to("admin:autocomplete"),
        get=lambda w: {
            "app_label": "members",
            "model_name": "term",
            "field_name": "membership",
            "term": "Organisation",
            "page": "1",
        },
    ),
    "admin:jsi18n": View("staff", to("admin:jsi18n")),
    "admin:view_on_site": View(
        "staff",
        to("admin:view_on_site", organisation_type, lambda w: w.organisation.pk),
        others=with_ids("admin:view_on_site", organisation_type, lambda w: w.other_organisation.pk),
    ),
    "admin:app_list": View("staff", lambda w: reverse("admin:app_list", args=["members"])),
    "admin/(?P<url>.*)$": View(
        "staff",
        lambda w: "/admin/members/inconnu/",
        others=lambda w: ["/admin/%00/", "/admin/" + "x" * 3000 + "/"],
    ),
    "admin:auth_user_password_change": View(
        "superuser",
        to("admin:auth_user_password_change", lambda w: w.users["member"].pk),
        post=lambda w: {"password1": "abc", "password2": "abc", "usable_password": "true"},
        others=with_ids("admin:auth_user_password_change", lambda w: w.users["member"].pk),
    ),
    # The billing admin
    "admin:members_invoice_pdf": View(
        "staff",
        to("admin:members_invoice_pdf", lambda w: w.invoice.pk),
        others=with_ids("admin:members_invoice_pdf", lambda w: w.other_invoice.pk),
    ),
    "admin:members_invoice_certificate": View(
        "staff",
        to("admin:members_invoice_certificate", lambda w: w.invoice.pk),
        others=with_ids("admin:members_invoice_certificate", lambda w: w.other_invoice.pk),
    ),
    "admin:members_invoice_credit_note": View(
        "staff",
        to("admin:members_invoice_credit_note", lambda w: w.invoice.pk),
        post=lambda w: {
            "amount": "10,00",
            "reason": "Remise",
            "outcome": "cancel",
            "fee": "",
            "version": "1",
        },
        others=with_ids("admin:members_invoice_credit_note", lambda w: w.other_invoice.pk),
    ),
    "admin:members_creditnote_pdf": View(
        "staff",
        to("admin:members_creditnote_pdf", lambda w: w.credit_note.pk),
        others=with_ids("admin:members_creditnote_pdf", lambda w: w.other_credit_note.pk),
    ),
    "admin:members_invoice_issue": View(
        "staff",
        to("admin:members_invoice_issue", lambda w: w.uninvoiced.pk),
        post=lambda w: {"notify": "on"},
        others=with_ids("admin:members_invoice_issue", lambda w: w.other_uninvoiced.pk),
    ),
    "admin:members_invoice_payment": View(
        "staff",
        to(
            "admin:members_invoice_payment",
            lambda w: w.invoice.pk,
            lambda w: w.invoice.payments.get().pk,
        ),
        post=lambda w: {
            "amount": "250.00",
            "received_on": "01/03/2027",
            "method": "transfer",
            "reference": "VIR",
            "reason": "Relevé",
            "version": "0",
            "remove": "",
        },
        others=with_ids(
            "admin:members_invoice_payment",
            lambda w: w.other_invoice.pk,
            lambda w: w.other_invoice.payments.get().pk,
        ),
    ),
    "admin:members_invoice_accounting_export": View(
        "staff",
        to("admin:members_invoice_accounting_export"),
        post=lambda w: {
            "cluster": str(w.invoice.cluster_id),
            "start": "01/01/2026",
            "end": "31/12/2026",
            "file_format": "fec",
        },
        foreign=lambda w: {"cluster": str(w.other_invoice.cluster_id)},
    ),
    "admin:members_invoice_refund": View(
        "staff",
        to("admin:members_invoice_refund", lambda w: w.invoice.pk, lambda w: "virement"),
        post=lambda w: {
            "amount": "10,00",
            "refunded_on": "01/03/2026",
            "reference": "REMB",
            "reason": "Payé deux fois",
            "version": "0",
        },
        others=with_ids(
            "admin:members_invoice_refund", lambda w: w.other_invoice.pk, lambda w: "virement"
        ),
        before=lambda visitor, w: over_pay(w.invoice),
    ),
    "admin:members_reminder_pass": View(
        "staff",
        to("admin:members_reminder_pass"),
        get=lambda w: {"cluster": str(w.membership.cluster_id), "page": "1", "confirm": "on"},
        post=lambda w: {
            "action": "test",
            "step": str(ReminderStep.objects.filter(policy__cluster=w.membership.cluster)[0].pk),
            "language": "fr",
        },
        foreign=lambda w: {"cluster": str(w.other_membership.cluster_id)},
    ),
    # The payment follow-ups' admin: a test of a step to oneself.
    "admin:members_paymentfollowuppolicy_test": View(
        "staff",
        to("admin:members_paymentfollowuppolicy_test", lambda w: follow_up_policy(w.membership).pk),
        post=lambda w: {
            "test": f"{follow_up_policy(w.membership).steps.order_by('pk')[0].pk}:fr",
        },
        foreign=lambda w: {
            "test": f"{follow_up_policy(w.other_membership).steps.order_by('pk')[0].pk}:fr",
        },
        others=with_ids(
            "admin:members_paymentfollowuppolicy_test",
            lambda w: follow_up_policy(w.other_membership).pk,
        ),
    ),
    # The imports' admin
    "admin:members_importrecord_confirm": View(
        "staff",
        to("admin:members_importrecord_confirm", lambda w: w.record.pk),
        post=lambda w: {"skip_invalid": "on"},
        others=with_ids("admin:members_importrecord_confirm", lambda w: w.other_record.pk),
    ),
    "admin:members_importrecord_cancel": View(
        "staff",
        to("admin:members_importrecord_cancel", lambda w: w.record.pk),
        post=lambda w: {},
        others=with_ids("admin:members_importrecord_cancel", lambda w: w.other_record.pk),
    ),
    "admin:members_importrecord_file": View(
        "staff",
        to("admin:members_importrecord_file", lambda w: w.record.pk),
        others=with_ids("admin:members_importrecord_file", lambda w: w.other_record.pk),
    ),
    "admin:members_importrecord_refused": View(
        "staff",
        to("admin:members_importrecord_refused", lambda w: w.record.pk, lambda w: "xlsx"),
        others=with_ids(
            "admin:members_importrecord_refused", lambda w: w.other_record.pk, lambda w: "csv"
        ),
    ),
    # The merger's admin
    "admin:merger_merger_propose": View(
        "committee",
        to("admin:merger_merger_propose", lambda w: w.merger.pk),
        post=lambda w: {},
        others=with_ids("admin:merger_merger_propose", lambda w: w.merger.pk),
    ),
    "admin:merger_merger_notify": View(
        "committee",
        to("admin:merger_merger_notify", lambda w: w.merger.pk),
        post=lambda w: {"recipients": "1", "confirm": "on"},
        others=with_ids("admin:merger_merger_notify", lambda w: w.merger.pk),
    ),
    "admin:merger_merger_notify_test": View(
        "committee",
        to("admin:merger_merger_notify_test", lambda w: w.merger.pk),
        post=lambda w: {},
        others=with_ids("admin:merger_merger_notify_test", lambda w: w.merger.pk),
    ),
    "admin:merger_merger_execute": View(
        "committee",
        to("admin:merger_merger_execute", lambda w: w.merger.pk),
        get=lambda w: {"q": "Organisation", "p": "1"},
        post=lambda w: {"key": str(uuid.uuid4()), "confirm": "on"},
        others=with_ids("admin:merger_merger_execute", lambda w: w.merger.pk),
    ),
    "admin:merger_merger_execution": View(
        "committee",
        to("admin:merger_merger_execution", lambda w: w.merger.pk, lambda w: w.execution.pk),
        others=with_ids(
            "admin:merger_merger_execution", lambda w: w.merger.pk, lambda w: w.execution.pk
        ),
    ),
    "admin:merger_merger_report": View(
        "committee",
        to("admin:merger_merger_report", lambda w: w.merger.pk),
        get=lambda w: {"year": "2025", "export": "csv"},
        others=with_ids("admin:merger_merger_report", lambda w: w.merger.pk),
    ),
    "admin:merger_merger_adoption": View(
        "committee",
        to(
            "admin:merger_merger_adoption",
            lambda w: w.merger.pk,
            lambda w: w.merger.sources.order_by("pk").first().pk,
        ),
        post=lambda w: {"resolution": "1"},
        # The successor is not a source cluster: it adopts nothing.
        others=with_ids(
            "admin:merger_merger_adoption", lambda w: w.merger.pk, lambda w: w.merger.successor_id
        ),
    ),
    "admin:merger_duplicatepair_find": View(
        "committee", to("admin:merger_duplicatepair_find"), post=lambda w: {}
    ),
    # The assemblies' admin pages
    "admin:assemblies_assembly_convene": assembly_view(
        "admin:assemblies_assembly_convene", post=lambda w: {}
    ),
    "admin:assemblies_assembly_open": assembly_view(
        "admin:assemblies_assembly_open", post=lambda w: {}
    ),
    "admin:assemblies_assembly_attendance": assembly_view(
        "admin:assemblies_assembly_attendance",
        lambda w: w.voice.pk,
        other_args=(lambda w: w.other_voice.pk,),
        post=lambda w: {"attendance": "room"},
    ),
    "admin:assemblies_assembly_room_ballot": assembly_view(
        "admin:assemblies_assembly_room_ballot",
        lambda w: w.voice.pk,
        other_args=(lambda w: w.other_voice.pk,),
        post=lambda w: {f"resolution_{r.pk}": "for" for r in w.assembly.resolutions.all()},
        before=lambda visitor, w: assembly_in(w.assembly, AssemblyState.VOTING),
    ),
    "admin:assemblies_assembly_strike_off": assembly_view(
        "admin:assemblies_assembly_strike_off",
        lambda w: w.voice.pk,
        other_args=(lambda w: w.other_voice.pk,),
        post=lambda w: {"reason": "Démission"},
    ),
    "admin:assemblies_assembly_voices": assembly_view("admin:assemblies_assembly_voices"),
    "admin:assemblies_assembly_voices_export": assembly_view(
        "admin:assemblies_assembly_voices_export",
        lambda w: "csv",
        other_args=(lambda w: "xlsx",),
    ),
    "admin:assemblies_assembly_room": assembly_view("admin:assemblies_assembly_room"),
    "admin:assemblies_assembly_results": assembly_view("admin:assemblies_assembly_results"),
    "admin:assemblies_assembly_close": assembly_view(
        "admin:assemblies_assembly_close",
        post=lambda w: {},
        before=lambda visitor, w: assembly_in(w.assembly, AssemblyState.VOTING),
    ),
    "admin:assemblies_assembly_second": assembly_view(
        "admin:assemblies_assembly_second",
        post=lambda w: {"starts_at_0": "01/03/2027", "starts_at_1": "18:00"},
        before=lambda visitor, w: assembly_in(w.assembly, AssemblyState.CLOSED),
    ),
    # The consultation on the successor's name
    "assemblies:name_consultation": View(
        "member",
        to("assemblies:name_consultation", lambda w: name_consultation(w).pk),
        others=with_ids("assemblies:name_consultation", lambda w: name_consultation(w).pk),
    ),
    "assemblies:name_consultation_organisation": View(
        "member",
        to(
            "assemblies:name_consultation_organisation",
            lambda w: name_consultation(w).pk,
            lambda w: w.organisation.pk,
        ),
        post=lambda w: {"name": "Occitanie Numérique", "reason": "Il dit la région."},
        others=with_ids(
            "assemblies:name_consultation_organisation",
            lambda w: name_consultation(w).pk,
            lambda w: w.other_organisation.pk,
        ),
    ),
    "admin:assemblies_nameconsultation_advance": View(
        "committee",
        to("admin:assemblies_nameconsultation_advance", lambda w: name_consultation(w).pk),
        post=lambda w: {"expected_phase": "proposals"},
        others=with_ids(
            "admin:assemblies_nameconsultation_advance", lambda w: name_consultation(w).pk
        ),
    ),
    "admin:assemblies_nameconsultation_name": View(
        "committee",
        to("admin:assemblies_nameconsultation_name", lambda w: name_consultation(w).pk),
        post=lambda w: {"candidate": name_proposal(w).pk, "reason": "Le comité tranche."},
        others=with_ids(
            "admin:assemblies_nameconsultation_name", lambda w: name_consultation(w).pk
        ),
    ),
    "admin:assemblies_nameproposal_moderate": View(
        "staff",
        to("admin:assemblies_nameproposal_moderate", lambda w: name_proposal(w).pk),
        post=lambda w: {"status": "refused", "refusal_reason": "Hors sujet", "into": ""},
        others=with_ids("admin:assemblies_nameproposal_moderate", lambda w: name_proposal(w).pk),
    ),
}

#: The views Django's admin gives each registered model; the lists and the forms have tests of
#: their own below (filters, fields), the table sends them malformed identifiers.
ADMIN_MODEL_VIEWS = ("changelist", "add", "change", "history", "delete")


def admin_user_role(model_admin) -> str:
    """Who reaches a model's admin in the table: DigitalPlace's staff for the member domain (the
    scoping to its cluster is then at stake), the committee for the merger, else a superuser."""
    return {"members": "staff", "merger": "committee"}.get(model_admin.opts.app_label, "superuser")


def reach(model_admin, user) -> tuple[object, object]:
    """A record of ``model_admin``'s model that ``user`` sees in the admin, and one it does not
    (another cluster's), or None."""
    request = RequestFactory().get("/admin/")
    request.user = user
    seen = model_admin.get_queryset(request).order_by("pk")
    unseen = model_admin.model._default_manager.exclude(pk__in=seen.values("pk")).order_by("pk")
    return seen.first(), unseen.first()


def admin_model_rows() -> dict[str, View]:
    """A row for each view Django's admin gives each registered model."""
    rows = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        prefix = f"admin:{opts.app_label}_{opts.model_name}"
        role = admin_user_role(model_admin)

        def object_url(w, view, *, model_admin=model_admin, role=role, prefix=prefix):
            seen, _unseen = reach(model_admin, w.users[role])
            return reverse(f"{prefix}_{view}", args=[seen.pk if seen else MARK])

        def object_urls(w, view, *, model_admin=model_admin, role=role, prefix=prefix):
            seen, unseen = reach(model_admin, w.users[role])
            return bad_ids(f"{prefix}_{view}", (unseen or seen).pk if unseen or seen else MARK)

        for view in ADMIN_MODEL_VIEWS:
            if view in ("changelist", "add"):
                rows[f"{prefix}_{view}"] = View(role, to(f"{prefix}_{view}"))
            else:
                rows[f"{prefix}_{view}"] = View(
                    role,
                    lambda w, view=view, url=object_url: url(w, view),
                    post=None if view == "history" else lambda w: {},
                    others=lambda w, view=view, urls=object_urls: urls(w, view),
                )
        # The old address of a change page, redirected to it.
        rows[f"admin/{opts.app_label}/{opts.model_name}/<path:object_id>/"] = View(
            role,
            lambda w, url=object_url: url(w, "change").removesuffix("change/"),
            others=lambda w, urls=object_urls: [
                url.removesuffix("change/") for url in urls(w, "change")
            ],
        )
    return rows


def table() -> dict[str, View]:
    return VIEWS | admin_model_rows()


def url_patterns(patterns=None, route: str = "", namespace: str = "") -> Iterator[str]:
    """The key of every view of the URLconf: its name with its namespace, or its route when it
    has no name."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_patterns(pattern.url_patterns, route + str(pattern.pattern), inner)
        elif pattern.name:
            yield f"{namespace}:{pattern.name}" if namespace else pattern.name
        else:
            yield route + str(pattern.pattern)


def test_every_view_is_in_the_table():
    views = set(url_patterns())
    rows = set(table())

    assert not views - rows, f"views without a row in the table: {sorted(views - rows)}"
    assert not rows - views, f"rows of no view: {sorted(rows - views)}"


def requests_of(row: View, w: World) -> Iterator[tuple[str, str, dict]]:
    """(method, URL, data) of the requests sent to ``row``'s view: well-formed first; each query
    parameter malformed, then missing; each field posted malformed, then missing (and all of them
    missing); another's identifiers in the query, the form and the address; malformed
    identifiers in the address."""
    url = row.url(w)
    query = row.get(w) if row.get else {}
    yield "get", url, query
    for name in query:
        for value in MALFORMED:
            yield "get", url, query | {name: value}
        yield "get", url, {key: value for key, value in query.items() if key != name}
    for name, value in (row.foreign(w) if row.foreign else {}).items():
        yield "get", url, query | {name: value}
    data = row.post(w) if row.post else {}
    yield "post", url, {}
    for name in data:
        yield "post", url, {key: value for key, value in data.items() if key != name}
        for value in MALFORMED_FIELDS:
            yield "post", url, data | {name: value}
    for name, value in (row.foreign(w) if row.foreign else {}).items():
        yield "post", url, data | {name: value}
    for other in row.others(w):
        yield "get", other, {}
        # Writing with another's identifiers; malformed ones are refused as they are read.
        if row.post and not any(bad in other for bad in (HUGE, "%00")):
            yield "post", other, data


def test_every_view_of_the_table_answers_malformed_input_clearly(world, card_payment):
    failures = []
    for key, row in table().items():
        visitor = Visitor(world.users.get(row.who))
        if row.before:
            row.before(visitor, world)
        for method, url, data in requests_of(row, world):
            visitor.send(method, url, data)
        failures += [f"{key}: {failure}" for failure in visitor.failures]

    assert not failures, "\n".join(failures)


# --- Every admin list, with malformed filters ---------------------------------------------------


def list_parameters(response) -> list[str]:
    """The parameters a change list reads: its filters', its search, order, page and date
    hierarchy."""
    changelist = response.context["cl"]
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters()]
    names += ["q", "o", "p", "all", "_to_field"]
    if changelist.date_hierarchy:
        field = changelist.date_hierarchy
        names += [f"{field}__year", f"{field}__month", f"{field}__day"]
    return names


def test_every_admin_list_answers_malformed_filters_clearly(world):
    failures = []
    for model, model_admin in admin.site._registry.items():
        role = admin_user_role(model_admin)
        visitor = Visitor(world.users[role])
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = visitor.send("get", url)
        if response.status_code != 200:
            continue
        for name in list_parameters(response):
            dates = MALFORMED_DATE_FILTERS if name.endswith(DATE_LOOKUPS) else ()
            for value in (*MALFORMED_FILTERS, *dates):
                visitor.send("get", f"{url}?{urlencode({name: value})}")
        seen, unseen = reach(model_admin, world.users[role])
        another = [str(unseen.pk)] if unseen else []
        action_form = response.context["action_form"]
        actions = action_form.fields["action"].choices if action_form else []
        for name, _label in actions:
            if not name:
                continue
            for value in ("abc", HUGE, NUL, *another):
                visitor.send(
                    "post", url, {"action": name, ACTION_CHECKBOX_NAME: [value], "index": "0"}
                )
            visitor.send("post", url, {"action": name, "index": "abc", "select_across": "abc"})
        if seen is not None:
            visitor.send("post", url, {"action": "inconnue", ACTION_CHECKBOX_NAME: [seen.pk]})
        failures += [f"{model.__name__}: {failure}" for failure in visitor.failures]

    assert not failures, "\n".join(failures)


# --- Every admin form, with malformed fields ----------------------------------------------------

#: The fields of a formset's management form: malformed on their own, below.
MANAGEMENT = ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")


def is_management(name: str) -> bool:
    return name == "csrfmiddlewaretoken" or name.endswith(MANAGEMENT)


def malformed_posts(data: dict) -> Iterator[dict]:
    """What a page's form posts, malformed: each field at once set to each malformed value, every
    field missing, and the formsets' counts malformed."""
    kept = {name: value for name, value in data.items() if is_management(name)}
    fields = [name for name in data if not is_management(name)]
    for value in MALFORMED_SHORT:
        yield kept | dict.fromkeys(fields, value)
    yield kept
    # Not a huge count: Django then builds and shows its 1,000 forms and more, slowly but well.
    for value in ("abc", "-1"):
        yield data | {name: value for name in kept if name.endswith(MANAGEMENT)}


def admin_pages(model) -> list[str]:
    """The add page of ``model`` and the change page of its first record."""
    opts = model._meta
    pages = [reverse(f"admin:{opts.app_label}_{opts.model_name}_add")]
    first = model._default_manager.order_by("pk").first()
    if first is not None:
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
    return pages


def test_every_admin_form_answers_malformed_fields_clearly(world):
    failures = []
    for model, model_admin in admin.site._registry.items():
        visitor = Visitor(world.users["superuser"])
        for page in admin_pages(model):
            response = visitor.send("get", page)
            if response.status_code != 200:
                continue
            for form in page_forms(response):
                if form.attrs.get("method", "get").lower() != "post":
                    continue
                for posted in malformed_posts(form.data()):
                    visitor.send("post", form.attrs.get("action") or page, posted)
        failures += [f"{model.__name__}: {failure}" for failure in visitor.failures]
        if admin_user_role(model_admin) == "staff":
            failures += [
                f"{model.__name__} (staff): {failure}"
                for failure in other_clusters_choices_posted(model, model_admin, world)
            ]

    assert not failures, "\n".join(failures)


def other_clusters_choices_posted(model, model_admin, w: World) -> list[str]:
    """DigitalPlace's staff post the change form of one of their records with, in each list of
    choices, a value that a superuser's form offers and theirs does not (another cluster's
    record): the record does not change. The failures, 500s included."""
    staff = Visitor(w.users["staff"])
    superuser = Visitor(w.users["superuser"])
    seen, _unseen = reach(model_admin, w.users["staff"])
    if seen is None:
        return []
    opts = model._meta
    page = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[seen.pk])
    form_id = {"id": f"{opts.model_name}_form"}
    try:
        own = page_form(staff.send("get", page), **form_id)
        everyone = page_form(superuser.send("get", page), **form_id)
    except AssertionError:
        return staff.failures  # a read-only page, or a page of its own (the imports')
    foreign = {
        name: sorted(values - own.choices.get(name, set()))[0]
        for name, values in everyone.choices.items()
        if values - own.choices.get(name, set())
    }
    if not foreign:
        return staff.failures
    before = model._default_manager.filter(pk=seen.pk).values().get()
    staff.send("post", page, own.data() | foreign)
    after = model._default_manager.filter(pk=seen.pk).values().get()
    changed = [] if before == after else [f"another cluster's {foreign} taken: {after}"]
    return staff.failures + superuser.failures + changed


# --- The cases reported -------------------------------------------------------------------------


def test_a_decision_with_an_unreadable_version_is_refused_on_its_page(world):
    proposal = world.proposal
    visitor = Visitor(world.users["committee"])
    page = reverse("admin:merger_transferproposal_change", args=[proposal.pk])
    data = form_data(visitor.send("get", page), **{"class": "merger-decision-form"})

    for version in ("abc", "", HUGE, "-1"):
        response = visitor.send(
            "post", page, data | {"decision": "approved", "reason": "Vu", "version": version}
        )

        assert response.status_code == 200, version
        assert (
            "La version de la proposition lue par la page manque ou est illisible : rien n’a "
            "été décidé. Rechargez la page avant de décider."
        ) in response.text
    without = {name: value for name, value in data.items() if name != "version"}
    response = visitor.send("post", page, without | {"decision": "approved", "reason": "Vu"})
    assert response.status_code == 200
    assert not visitor.failures
    proposal.refresh_from_db()
    assert (proposal.decision, proposal.version) == (Decision.PENDING, 0)
    assert not TransferDecision.objects.exists()


def test_a_bulk_decision_with_an_unreadable_version_decides_nothing(world):
    visitor = Visitor(world.users["committee"])
    changelist = reverse("admin:merger_transferproposal_changelist")
    proposals = list(TransferProposal.objects.order_by("pk"))
    asked = visitor.send(
        "post",
        changelist,
        {"action": "approve_selected", ACTION_CHECKBOX_NAME: [p.pk for p in proposals]},
    )
    data = form_data(asked, method="post") | {"reason": "Comité du 15 décembre"}
    data[f"version_{world.proposal.pk}"] = "abc"

    response = visitor.send("post", changelist, data)

    assert response.status_code == 200
    assert (
        f"{world.proposal.organisation} : La version de la proposition lue par la page manque "
        "ou est illisible : rien n’a été décidé. Rechargez la page avant de décider."
    ) in response.text
    assert not visitor.failures
    assert set(TransferProposal.objects.values_list("decision", flat=True)) == {Decision.PENDING}
    assert not TransferDecision.objects.exists()


@pytest.mark.parametrize("year", ["0", "99999999999999999999", "10000", "-3", "deux mille"])
def test_the_report_of_an_impossible_year_is_a_400_saying_why(world, year):
    visitor = Visitor(world.users["committee"])
    report = reverse("admin:merger_merger_report", args=[world.merger.pk])

    response = visitor.send("get", f"{report}?{urlencode({'year': year})}")

    assert response.status_code == 400
    assert (
        "Paramètre « year » incorrect. L’année doit être un nombre entier de 1 à 9999."
    ) in response.text
    assert f'href="{report}"' in response.text  # back to the report, without the year
    assert not visitor.failures


def test_the_400_page_is_translated(world, settings):
    visitor = Visitor(world.users["committee"])
    visitor.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    report = reverse("admin:merger_merger_report", args=[world.merger.pk])

    response = visitor.send("get", f"{report}?year=0")

    assert response.status_code == 400
    assert "Bad request" in response.text
    assert "Wrong parameter “year”. The year must be a whole number from 1 to 9999." in (
        response.text
    )


@pytest.mark.parametrize(
    ("changelist", "name"),
    [
        ("members_organisation_changelist", "name"),  # a lookup of the list's own fields
        ("members_contact_changelist", "role__exact"),  # a filter of the list
        ("merger_transferproposal_changelist", "origin"),  # a filter of ours
        ("members_organisation_changelist", "memberships__cluster__id__exact"),
        ("members_organisation_changelist", "all"),  # read by no query
    ],
)
def test_a_nul_character_in_an_admin_parameter_is_a_400_naming_it(
    world, postgresql, changelist, name
):
    visitor = Visitor(world.users["superuser"])

    response = visitor.send("get", f"{reverse(f'admin:{changelist}')}?{urlencode({name: NUL})}")

    assert response.status_code == 400
    assert (
        f"Paramètre « {name} » incorrect. Il contient un caractère nul, qu’aucune valeur ne "
        "peut contenir."
    ) in response.text
    assert not visitor.failures


@pytest.mark.parametrize(
    ("changelist", "query", "said"),
    [
        ("members_payment_changelist", {"received_on__year": HUGE}, "L’année doit être"),
        ("members_payment_changelist", {"received_on__year": "0"}, "L’année doit être"),
        ("members_importrecord_changelist", {"created_at__year": "99999"}, "L’année doit être"),
        (
            "members_reminder_changelist",
            {"scheduled_on__year": "2026", "scheduled_on__month": "13"},
            "Le mois doit être un nombre entier de 1 à 12.",
        ),
        (
            "members_reminder_changelist",
            {"scheduled_on__year": "2026", "scheduled_on__month": "1", "scheduled_on__day": "x"},
            "Le jour doit être un nombre entier de 1 à 31.",
        ),
    ],
)
def test_an_impossible_date_in_a_list_s_dates_is_a_400_naming_it(world, changelist, query, said):
    visitor = Visitor(world.users["superuser"])

    response = visitor.send("get", f"{reverse(f'admin:{changelist}')}?{urlencode(query)}")

    assert response.status_code == 400
    name = list(query)[-1]
    assert f"Paramètre « {name} » incorrect. {said}" in response.text
    assert not visitor.failures


def test_the_autocomplete_offers_staff_only_their_clusters_records(world):
    visitor = Visitor(world.users["staff"])
    autocomplete = reverse("admin:autocomplete")

    for model_name, field_name in (("term", "membership"), ("contact", "organisation")):
        query = {"app_label": "members", "model_name": model_name, "field_name": field_name}
        response = visitor.send("get", autocomplete, query | {"term": "Organisation"})

        assert response.status_code == 200
        labels = [result["text"] for result in response.json()["results"]]
        assert any("Organisation A" in label for label in labels), labels
        assert not any("Organisation B" in label for label in labels), labels
        response = visitor.send("get", autocomplete, query | {"term": NUL})
        assert response.status_code == 400
    assert not visitor.failures


def test_a_list_action_on_unreadable_identifiers_is_a_400_naming_them(world):
    visitor = Visitor(world.users["staff"])

    response = visitor.send(
        "post",
        reverse("admin:members_membership_changelist"),
        {"action": "export_standard_csv", ACTION_CHECKBOX_NAME: [world.membership.pk, "abc"]},
    )

    assert response.status_code == 400
    assert (
        f"Paramètre « {ACTION_CHECKBOX_NAME} » incorrect. « abc » n’est l’identifiant d’aucune "
        "ligne de la liste."
    ) in response.text
    assert not visitor.failures


def test_the_400_page_escapes_what_it_shows(world):
    visitor = Visitor(world.users["superuser"])
    name = "<script>alert(1)</script>"

    response = visitor.send(
        "get", reverse("admin:members_organisation_changelist") + "?" + urlencode({name: NUL})
    )

    assert response.status_code == 400
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script>alert(1)" not in response.text


def test_other_bad_requests_get_the_400_page_without_details(client):
    response = client.get("/", HTTP_HOST="attaquant.example")

    assert response.status_code == 400
    assert "Requête incorrecte" in response.text
    assert "attaquant.example" not in response.text
