"""The assemblies in the member area."""

from urllib.parse import urlencode

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from assemblies.services import voice_link_read
from members.forms import LOGIN_EMAIL_SESSION_KEY


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
