"""The assemblies in the member area."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from assemblies.consultations import (
    candidates,
    consultation_result,
    consultations_for_members,
    contact_acting_for,
    name_ballot_cast,
    name_propose,
    organisations_eligible,
    proposals_counted,
    proposals_of,
)
from assemblies.forms import NameBallotForm, NameProposalForm
from assemblies.models import ConsultationPhase, NameConsultation
from assemblies.services import voice_link_read
from members.forms import LOGIN_EMAIL_SESSION_KEY
from members.selectors import organisations_of


@require_GET
def assembly_link(request: HttpRequest, token: str) -> HttpResponse:
    """The personal link of a convocation: through sign-in (the e-mail filled in) to the
    assembly's page in the member area."""
    try:
        _voice_id, email = voice_link_read(token=token)
    except signing.BadSignature:
        return render(request, "assemblies/link_invalid.html", status=404)
    if not request.user.is_authenticated:
        request.session[LOGIN_EMAIL_SESSION_KEY] = email
        query = urlencode({"next": request.get_full_path()})
        return redirect(f"{reverse('account_request_login_code')}?{query}")
    return redirect("members:area")


# The consultation on the successor's name --------------------------------------------------


def _consultation_organisations(request: HttpRequest, consultation: NameConsultation) -> list:
    """The user's organisations, each with whether it takes part and the contact acting for it."""
    eligible = set(
        organisations_eligible(consultation=consultation)
        .filter(pk__in=organisations_of(request.user))
        .values_list("pk", flat=True)
    )
    return [
        {
            "organisation": organisation,
            "eligible": organisation.pk in eligible,
            "acting": contact_acting_for(user=request.user, organisation=organisation),
            "voted": consultation.ballots.filter(organisation=organisation).exists(),
        }
        for organisation in organisations_of(request.user).order_by("name")
    ]


def _consultation_for(request: HttpRequest, consultation_id: int) -> NameConsultation:
    """The consultation ``consultation_id``, for a user who is a contact of an organisation."""
    if not organisations_of(request.user).exists():
        raise Http404
    return get_object_or_404(consultations_for_members(), pk=consultation_id)


@login_required
@require_GET
def name_consultation(request: HttpRequest, consultation_id: int) -> HttpResponse:
    """The consultation on the successor's name: its phase and dates, how the vote counts, the
    user's organisations (what each may do), the names on the ballot and, once published, the
    result."""
    consultation = _consultation_for(request, consultation_id)
    published = consultation.phase == ConsultationPhase.PUBLISHED
    return render(
        request,
        "assemblies/name_consultation.html",
        {
            "consultation": consultation,
            "organisations": _consultation_organisations(request, consultation),
            "candidates": candidates(consultation=consultation),
            "result": consultation_result(consultation=consultation) if published else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def name_consultation_organisation(
    request: HttpRequest, consultation_id: int, organisation_id: int
) -> HttpResponse:
    """What an organisation does in the consultation, by the one who acts for it (a primary
    contact or its designated voter): while proposals are open, propose names and see what
    became of them; while the vote is open, its approval ballot."""
    consultation = _consultation_for(request, consultation_id)
    organisation = get_object_or_404(organisations_of(request.user), pk=organisation_id)
    contact = contact_acting_for(user=request.user, organisation=organisation)
    if contact is None:
        raise PermissionDenied(
            _(
                "Seuls les contacts principaux de l’organisation et son votant désigné agissent "
                "pour elle dans la consultation."
            )
        )
    voting = consultation.phase == ConsultationPhase.VOTING
    names = candidates(consultation=consultation)
    # Bound on every POST, an empty one included: a ballot approving nothing is an error.
    data = request.POST if request.method == "POST" else None
    form = NameBallotForm(data, candidates=names) if voting else NameProposalForm(data)
    if request.method == "POST" and form.is_valid():
        try:
            if voting:
                name_ballot_cast(
                    consultation=consultation,
                    organisation=organisation,
                    approved=[name.pk for name in form.cleaned_data["approved"]],
                )
                done = _("Le bulletin de %(organisation)s est enregistré. Merci !")
            else:
                name_propose(
                    consultation=consultation,
                    organisation=organisation,
                    contact=contact,
                    **form.cleaned_data,
                )
                done = _("La proposition de %(organisation)s est enregistrée.")
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, done % {"organisation": organisation.name})
            return redirect(request.path)
    return render(
        request,
        "assemblies/name_consultation_organisation.html",
        {
            "consultation": consultation,
            "organisation": organisation,
            "form": form,
            "voting": voting,
            "voted": consultation.ballots.filter(organisation=organisation).exists(),
            "eligible": organisations_eligible(consultation=consultation)
            .filter(pk=organisation.pk)
            .exists(),
            "proposals": proposals_of(consultation=consultation, organisation=organisation),
            "counted": proposals_counted(consultation=consultation, organisation=organisation),
        },
    )
