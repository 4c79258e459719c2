"""The member-facing page of the merger: objecting to the transfer, from the signed link of the
information notice. No sign-in: the link itself is the proof that its recipient objects."""

from django import forms
from django.conf import settings
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .services import notice_object
from .services.notices import objection_notice


class ObjectionForm(forms.Form):
    text = forms.CharField(
        label=_("Motif (facultatif)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Vous n’avez pas à vous justifier ; un motif aide le comité de fusion."),
    )


@require_http_methods(["GET", "POST"])
def objection(request, token: str):
    """Show what the transfer means and take the objection (POST); say so once recorded."""
    notice = objection_notice(token=token)
    if notice is None:
        return render(request, "merger/objection_invalid.html", status=404)
    # The page speaks the language of the e-mail, unless the visitor chose one with the switch.
    language = notice.language
    if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        language = translation.get_language()
    form = ObjectionForm(request.POST or None)
    if request.method == "POST" and notice.objected_at is None and form.is_valid():
        notice_object(notice=notice, text=form.cleaned_data["text"])
        return HttpResponseRedirect(request.path)
    proposal = notice.proposal
    with translation.override(language):
        return render(
            request,
            "merger/objection.html",
            {
                "notice": notice,
                "proposal": proposal,
                "merger": proposal.merger,
                "successor": proposal.merger.successor,
                "form": form,
            },
        )
