"""The member-facing page of the merger: objecting to the transfer, from the signed link of the
information notice. No sign-in: the link itself is the proof that its recipient objects.

Once the organisation's transfer is executed the page says so (when, its new member number, how
to leave the successor) and still takes an objection, which reaches the committee as a late
one."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from .models import Decision
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
    """Show what the transfer means (or, once executed, what it did) and take the objection
    (POST), once; say so once recorded."""
    notice = objection_notice(token=token)
    if notice is None:
        return render(request, "merger/objection_invalid.html", status=404)
    # The page speaks the language of the e-mail, unless the visitor chose one with the switch.
    language = notice.language
    if settings.LANGUAGE_COOKIE_NAME in request.COOKIES:
        language = translation.get_language()
    form = ObjectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Recorded once: a second post (another tab, a double click) adds nothing, and is told.
        if not notice_object(notice=notice, text=form.cleaned_data["text"]).recorded:
            with translation.override(language):
                messages.info(
                    request,
                    gettext("Votre opposition était déjà enregistrée : cet envoi n’a rien ajouté."),
                )
        return HttpResponseRedirect(request.path)
    proposal = notice.proposal
    merger = proposal.merger
    with translation.override(language):
        return render(
            request,
            "merger/objection.html",
            {
                "notice": notice,
                "proposal": proposal,
                "merger": merger,
                "successor": merger.successor,
                "form": form,
                "executed": proposal.decision == Decision.EXECUTED,
                # The day the execution transferred the memberships (its effective date).
                "transferred_on": merger.effective_date or merger.planned_date,
            },
        )
