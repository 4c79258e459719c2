"""Renewing a membership in three steps (the organisation's details, the plan, the confirmation),
and the signed renewal link that reminders carry.

Every membership and term is looked up among those of the user's organisations
(:func:`members.selectors.memberships_of`, :func:`members.selectors.terms_of`): another
organisation's identifiers answer 404.
"""

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from members.formatting import short_date
from members.forms import LOGIN_EMAIL_SESSION_KEY, RenewalConfirmForm, RenewalPlanForm
from members.models import Membership, Plan, Term
from members.selectors import (
    NextStep,
    contacts_primary,
    membership_next_steps,
    memberships_of,
    memberships_with_status,
    plans_offered,
    term_latest,
    terms_of,
)
from members.services.organisations import organisation_managed_by
from members.services.renewals import (
    RenewalOutlook,
    membership_renew,
    plan_suggested,
    renewal_link_read,
    renewal_of,
    renewal_outlook,
    renewal_period,
    renewal_term,
)


@dataclass(frozen=True)
class RenewalContext:
    """The membership being renewed, what its latest term allows today, and today."""

    membership: Membership
    outlook: RenewalOutlook
    today: date
    dues: list[NextStep]

    def as_dict(self) -> dict:
        return {
            "membership": self.membership,
            "organisation": self.membership.organisation,
            "cluster": self.membership.cluster,
            "outlook": self.outlook,
            "latest": self.outlook.latest,
            "dues": self.dues,
        }


def _renewal_context(request: HttpRequest, membership_id: int) -> RenewalContext:
    today = timezone.localdate()
    membership = get_object_or_404(
        memberships_with_status(on=today, queryset=memberships_of(request.user)).select_related(
            "cluster", "organisation"
        ),
        pk=membership_id,
    )
    terms = list(membership.terms.select_related("plan", "invoice").order_by("-start_date"))
    latest = term_latest(terms)
    return RenewalContext(
        membership=membership,
        outlook=renewal_outlook(membership=membership, latest=latest, today=today),
        today=today,
        # What is due comes before the renewal: the steps say so.
        dues=membership_next_steps(terms=terms, renewal_period=None),
    )


def plan_band(plan: Plan) -> str:
    """The headcount band of ``plan`` in words."""
    low, high = plan.headcount_min, plan.headcount_max
    if low is not None and high is not None:
        return ngettext(
            "De %(low)s à %(high)s personne", "De %(low)s à %(high)s personnes", high
        ) % {"low": low, "high": high}
    if low is not None:
        return ngettext("%(low)s personne ou plus", "%(low)s personnes ou plus", low) % {"low": low}
    if high is not None:
        return ngettext("Jusqu’à %(high)s personne", "Jusqu’à %(high)s personnes", high) % {
            "high": high
        }
    return _("Quel que soit l’effectif")


@login_required
@require_GET
def renewal_details(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Step 1: the organisation's details, as the invoice will show them, to check first."""
    context = _renewal_context(request, membership_id)
    organisation = context.membership.organisation
    managed = organisation_managed_by(organisation=organisation, user=request.user)
    primary_contacts = [] if managed else list(contacts_primary(organisation=organisation))
    return render(
        request,
        "members/renewal_details.html",
        context.as_dict() | {"step": 1, "managed": managed, "primary_contacts": primary_contacts},
    )


@login_required
@require_GET
def renewal_plan(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Step 2: the cluster's active plans, the one that fits the headcount suggested."""
    context = _renewal_context(request, membership_id)
    plans = list(plans_offered(cluster_id=context.membership.cluster_id))
    latest = context.outlook.latest
    suggested = plan_suggested(
        plans=plans,
        headcount=context.membership.organisation.headcount,
        current=latest.plan if latest else None,
    )
    chosen = RenewalPlanForm(
        request.GET, plans=plans_offered(cluster_id=context.membership.cluster_id)
    )
    selected = chosen.cleaned_data["plan"] if chosen.is_valid() else suggested
    start, end = (
        renewal_period(after=latest, today=context.today, cluster=context.membership.cluster)
        if latest
        else (None, None)
    )
    return render(
        request,
        "members/renewal_plan.html",
        context.as_dict()
        | {
            "step": 2,
            "start": start,
            "end": end,
            "plans": [(plan, plan_band(plan)) for plan in plans],
            "suggested": suggested,
            "selected": selected,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def renewal_confirm(request: HttpRequest, membership_id: int) -> HttpResponse:
    """Step 3: the summary (period, plan, fee, who the invoice is for); posting it renews the
    membership once, whatever the number of clicks, tabs or colleagues, and leads to the
    renewal's invoice."""
    context = _renewal_context(request, membership_id)
    membership = context.membership
    plan_step = reverse("members:renewal_plan", args=[membership.pk])
    if request.method == "POST":
        return _renew(request, membership, plan_step)
    context_data = context.as_dict() | {"step": 3}
    if context.outlook.is_open:
        chosen = RenewalPlanForm(request.GET, plans=plans_offered(cluster_id=membership.cluster_id))
        if not chosen.is_valid():
            messages.error(request, _("Choisissez d’abord une formule."))
            return redirect(plan_step)
        plan = chosen.cleaned_data["plan"]
        period = renewal_term(
            after=context.outlook.latest,
            today=context.today,
            cluster=membership.cluster,
            annual_fee=plan.annual_fee,
        )
        context_data |= {
            "plan": plan,
            "band": plan_band(plan),
            "start": period.start,
            "end": period.end,
            "fee": period.fee,
            "form": RenewalConfirmForm(
                initial={"after": context.outlook.latest.pk, "plan": plan.pk}
            ),
        }
    return render(request, "members/renewal_confirm.html", context_data)


def _renew(request: HttpRequest, membership: Membership, plan_step: str) -> HttpResponse:
    form = RenewalConfirmForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choisissez d’abord une formule."))
        return redirect(plan_step)
    after = get_object_or_404(Term, pk=form.cleaned_data["after"], membership=membership)
    plan = Plan.objects.filter(pk=form.cleaned_data["plan"], cluster=membership.cluster).first()
    if plan is None:
        messages.error(request, _("Cette formule n’est plus proposée : choisissez-en une autre."))
        return redirect(plan_step)
    try:
        renewal = membership_renew(membership=membership, after=after, plan=plan)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        confirm_step = reverse("members:renewal_confirm", args=[membership.pk])
        return redirect(f"{confirm_step}?{urlencode({'plan': plan.pk})}")
    if renewal.created:
        messages.success(
            request,
            _("Renouvellement enregistré : facture %(number)s") % {"number": renewal.invoice},
        )
    else:
        messages.info(
            request,
            _("Cette adhésion a déjà été renouvelée : voici la facture %(number)s.")
            % {"number": renewal.invoice},
        )
    return redirect("members:invoice_detail", invoice_id=renewal.invoice.pk)


@require_GET
def renewal_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link of a reminder: through sign-in (the e-mail filled in) to the renewal of the term
    it names, or to that renewal's invoice once it has been made."""
    try:
        term_id, email = renewal_link_read(token=token)
    except signing.BadSignature:
        return render(request, "members/renewal_link_invalid.html", status=404)
    if not request.user.is_authenticated:
        # The sign-in forms fill the e-mail in from there.
        request.session[LOGIN_EMAIL_SESSION_KEY] = email
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('account_request_login_code')}?{query}")
    term = get_object_or_404(terms_of(request.user), pk=term_id)
    later = renewal_of(term=term)
    if later is None:
        return redirect("members:renewal_details", membership_id=term.membership_id)
    invoice = later.invoice if hasattr(later, "invoice") else None
    messages.info(
        request,
        _("Cette adhésion a déjà été renouvelée pour la période du %(start)s au %(end)s.")
        % {"start": short_date(later.start_date), "end": short_date(later.end_date)},
    )
    if invoice is None:
        return redirect("members:area")
    return redirect("members:invoice_detail", invoice_id=invoice.pk)
