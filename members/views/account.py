"""The account's sign-in address, in place of allauth's e-mail management page.

A member signs in with the address under which its organisation registered it as a contact, and
with no other: an organisation's contacts and their addresses are kept by its primary contacts
(member area) and its cluster's staff (admin). Letting members add addresses to their account
let one take over another organisation's area (an address claimed on an account, then verified
there by its real owner's first sign-in), so this page only shows the address and says how to
change it; it adds, changes, removes and makes primary nothing, whatever is posted.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from members.selectors import email_addresses_of, organisations_of


@login_required
def email_addresses(request: HttpRequest) -> HttpResponse:
    """The account's addresses and the organisations it is a contact of; a POST (allauth's form
    actions: add, make primary, remove, re-send) is refused with the reason."""
    status = 200
    if request.method not in ("GET", "HEAD"):
        messages.error(
            request,
            _(
                "Les adresses de connexion ne se modifient pas depuis votre compte : demandez au "
                "contact principal de votre organisation ou à l’équipe de votre cluster."
            ),
        )
        status = 405
    return render(
        request,
        "account/email.html",
        {
            "addresses": email_addresses_of(request.user),
            "organisations": organisations_of(request.user).order_by("name"),
        },
        status=status,
    )
