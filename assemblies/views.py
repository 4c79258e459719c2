"""The assemblies in the member area, and the staff's pages of an assembly (protected by the
admin site: see :mod:`assemblies.urls`)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST, require_safe

from assemblies.forms import MinutesLanguageForm, MinutesSignForm
from assemblies.minutes import minutes_filename, minutes_pdf
from assemblies.models import Signatory
from assemblies.selectors import (
    assemblies_convening,
    assemblies_managed_by,
    assemblies_visible_to,
    minutes_signed,
)
from assemblies.services import minutes_sign, voice_link_read
from cluster.errors import parameters_read
from members.forms import LOGIN_EMAIL_SESSION_KEY
from members.views.billing import pdf_response


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


# --- The minutes --------------------------------------------------------------------------------


def _minutes_response(request: HttpRequest, assembly) -> HttpResponse:
    language = parameters_read(MinutesLanguageForm, request.GET)["language"]
    content = minutes_pdf(assembly=assembly, language=language or get_language() or "fr")
    return pdf_response(content, filename=minutes_filename(assembly))


@require_safe
def minutes_staff_pdf(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The minutes of an assembly of a cluster the staff user sees, signed or still a draft,
    in the page's language or ``?language=``; another cluster's assembly is not found."""
    assembly = get_object_or_404(assemblies_visible_to(request.user), pk=assembly_id)
    return _minutes_response(request, assembly)


@require_POST
def minutes_staff_sign(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """Record the chair's or the secretary's signature (``role``) on the minutes of an assembly
    of the user's own cluster; the committee reads them and signs nothing. A refusal (not closed,
    signed already: a double click) is said as a message, never an error page."""
    assembly = get_object_or_404(assemblies_visible_to(request.user), pk=assembly_id)
    if not assemblies_managed_by(request.user).filter(pk=assembly.pk).exists():
        raise PermissionDenied
    role = parameters_read(MinutesSignForm, request.POST)["role"]
    try:
        minutes_sign(assembly=assembly, role=role, by=request.user)
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(
            request,
            _("Signature du %(role)s enregistrée sur le procès-verbal.")
            % {"role": str(Signatory(role).label).lower()},
        )
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    # Not redirect(): it would take a posted "next" for the name of a view to look up.
    return HttpResponseRedirect(next_url)


@login_required
@require_safe
def minutes_member_pdf(request: HttpRequest, assembly_id: int) -> HttpResponse:
    """The signed minutes, for a contact of an organisation convened to the assembly; not found
    before both signatures, or for anyone else."""
    assembly = get_object_or_404(minutes_signed(assemblies_convening(request.user)), pk=assembly_id)
    return _minutes_response(request, assembly)
