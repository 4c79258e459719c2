"""The member area: the organisations the signed-in contact belongs to, with their memberships,
terms, invoices and contacts; a primary contact changes the organisation's details and contacts.

Every organisation is looked up among :func:`members.selectors.organisations_of` the user: another
organisation's identifiers answer 404.
"""

from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from members.forms import ContactDetailsForm, ContactForm, OrganisationForm
from members.models import (
    Contact,
    ContactRole,
    Membership,
    MembershipStatus,
    Organisation,
    Term,
)
from members.selectors import (
    NextStep,
    NextStepKind,
    membership_next_steps,
    organisations_for_area,
    organisations_of,
    term_latest,
)
from members.services import contact_add as contact_add_service
from members.services import contact_remove as contact_remove_service
from members.services import organisation_update
from members.services.organisations import (
    contact_editable_by,
    contact_removal_refusal,
    contact_update,
    organisation_managed_by,
)
from members.services.renewals import RenewalOutlook, renewal_outlook, renewal_period


@dataclass(frozen=True)
class MembershipPanel:
    """What the member area shows of one membership."""

    membership: Membership
    status: MembershipStatus
    terms: list[Term]
    shown_term: Term | None
    outlook: RenewalOutlook
    renewal_period: tuple[date, date] | None
    next_steps: list[NextStep]

    @property
    def dues(self) -> list[NextStep]:
        """The steps that pay what is due (the renewal aside)."""
        return [step for step in self.next_steps if step.kind != NextStepKind.RENEW]

    @property
    def renewal_after_dues(self) -> bool:
        """Whether renewals are open but what is due comes first."""
        return self.outlook.is_open and bool(self.dues)


@dataclass(frozen=True)
class OrganisationPanel:
    """What the member area shows of one organisation; ``managed`` when the user is one of its
    primary contacts (who may change it)."""

    organisation: Organisation
    memberships: list[MembershipPanel]
    contacts: list[Contact]
    managed: bool


def _membership_panel(membership: Membership, today: date) -> MembershipPanel:
    terms = list(membership.terms.all())  # prefetched, latest first
    latest = term_latest(terms)
    covering = next(
        (t for t in terms if t.start_date <= today <= t.end_date and t.cancelled_on is None), None
    )
    outlook = renewal_outlook(membership=membership, latest=latest, today=today)
    period = (
        renewal_period(after=latest, today=today, cluster=membership.cluster)
        if outlook.is_open
        else None
    )
    return MembershipPanel(
        membership=membership,
        status=MembershipStatus(membership.status),
        terms=terms,
        shown_term=covering or latest,
        outlook=outlook,
        renewal_period=period,
        next_steps=membership_next_steps(terms=terms, renewal_period=period),
    )


def _organisation_panels(request: HttpRequest) -> list[OrganisationPanel]:
    """The user's organisations with all they show, in a fixed number of queries whatever the
    number of organisations, memberships, terms and contacts."""
    today = timezone.localdate()
    organisations = organisations_for_area(request.user, on=today)
    return [
        OrganisationPanel(
            organisation=organisation,
            memberships=[_membership_panel(m, today) for m in organisation.memberships.all()],
            contacts=list(organisation.contacts.all()),
            managed=any(
                c.user_id == request.user.pk and c.role == ContactRole.PRIMARY
                for c in organisation.contacts.all()
            ),
        )
        for organisation in organisations
    ]


@login_required
def member_area(request: HttpRequest) -> HttpResponse:
    """The page signed-in members land on: each of their organisations, its memberships (status,
    number, current term, renewal), unpaid invoices, history of terms and contacts."""
    return render(
        request,
        "members/area.html",
        {"panels": _organisation_panels(request), "today": timezone.localdate()},
    )


def _managed_organisation(request: HttpRequest, organisation_id: int):
    """The organisation ``organisation_id`` of the user (404 otherwise), if the user is one of its
    primary contacts (403 otherwise)."""
    organisation = get_object_or_404(organisations_of(request.user), pk=organisation_id)
    if not organisation_managed_by(organisation=organisation, user=request.user):
        raise PermissionDenied(
            _("Seuls les contacts principaux de l’organisation peuvent la modifier.")
        )
    return organisation


def _next_url(request: HttpRequest) -> str:
    """Where to go back after a change: ``next`` if it is the path of a page of this site, else
    the area."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    # A path, not a word: redirect() would take "abc" for the name of a view.
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("members:area")


@login_required
@require_http_methods(["GET", "POST"])
def organisation_edit(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """A primary contact updates the organisation's address, headcount and sector."""
    organisation = _managed_organisation(request, organisation_id)
    next_url = _next_url(request)
    if request.method == "POST":
        form = OrganisationForm(request.POST, instance=organisation)
        if form.is_valid():
            try:
                organisation_update(organisation=organisation, by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Les coordonnées de %(organisation)s sont à jour.")
                    % {"organisation": organisation.name},
                )
                return redirect(next_url)
    else:
        form = OrganisationForm(instance=organisation)
    return render(
        request,
        "members/organisation_edit.html",
        {"organisation": organisation, "form": form, "next_url": next_url},
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_add(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """A primary contact adds a colleague, who can then sign in with the e-mail given."""
    organisation = _managed_organisation(request, organisation_id)
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            try:
                contact = contact_add_service(
                    organisation=organisation, by=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _(
                        "%(name)s fait désormais partie des contacts de %(organisation)s et peut "
                        "se connecter avec l’adresse %(email)s."
                    )
                    % {
                        "name": contact.first_name or contact.email,
                        "organisation": organisation.name,
                        "email": contact.email,
                    },
                )
                return redirect(reverse("members:area") + f"#organisation-{organisation.pk}")
    else:
        form = ContactForm()
    return render(request, "members/contact_add.html", {"organisation": organisation, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, organisation_id: int, contact_id: int) -> HttpResponse:
    """A contact changes its own name and title; a primary contact those of its colleagues, and
    their roles. The e-mail is shown, not changed: it is how the person signs in."""
    organisation = get_object_or_404(organisations_of(request.user), pk=organisation_id)
    contact = get_object_or_404(organisation.contacts.all(), pk=contact_id)
    if not contact_editable_by(contact=contact, user=request.user):
        raise PermissionDenied(
            _("Seuls les contacts principaux de l’organisation peuvent modifier vos collègues.")
        )
    managed = organisation_managed_by(organisation=organisation, user=request.user)
    own = contact.user_id == request.user.pk  # the page's title: "my details"
    back = reverse("members:area") + f"#organisation-{organisation.pk}"
    initial = {"first_name": contact.first_name, "last_name": contact.last_name}
    initial |= {"job_title": contact.job_title, "role": contact.role}
    if request.method == "POST":
        form = ContactDetailsForm(request.POST, initial=initial, role_editable=managed)
        if form.is_valid():
            try:
                contact = contact_update(contact=contact, by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("Les informations de %(name)s sont à jour.")
                    % {"name": contact.full_name or contact.email},
                )
                return redirect(back)
    else:
        form = ContactDetailsForm(initial=initial, role_editable=managed)
    return render(
        request,
        "members/contact_edit.html",
        {"organisation": organisation, "contact": contact, "form": form, "own": own, "back": back},
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_remove(request: HttpRequest, organisation_id: int, contact_id: int) -> HttpResponse:
    """A primary contact removes a colleague, after a confirmation page."""
    organisation = _managed_organisation(request, organisation_id)
    contact = get_object_or_404(organisation.contacts.all(), pk=contact_id)
    back = reverse("members:area") + f"#organisation-{organisation.pk}"
    if request.method == "POST":
        try:
            contact_remove_service(contact=contact, by=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(
                request,
                _("%(contact)s ne fait plus partie des contacts de %(organisation)s.")
                % {"contact": contact, "organisation": organisation.name},
            )
        return redirect(back)
    return render(
        request,
        "members/contact_remove.html",
        {
            "organisation": organisation,
            "contact": contact,
            "contact_name": contact.full_name or contact.email,
            "refusal": contact_removal_refusal(contact=contact, by=request.user),
            "back": back,
        },
    )
