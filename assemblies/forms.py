"""The forms of the assemblies' pages: the parameters their views read."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from assemblies.models import Signatory


class MinutesLanguageForm(forms.Form):
    """``?language=en``: the minutes in another language than the page's."""

    language = forms.ChoiceField(
        label=_("langue"),
        choices=settings.LANGUAGES,
        required=False,
        error_messages={"invalid_choice": _("Langues possibles : fr, en.")},
    )


class MinutesSignForm(forms.Form):
    """Which signatory's signature staff record."""

    role = forms.ChoiceField(
        label=_("signataire"),
        choices=Signatory.choices,
        error_messages={
            "invalid_choice": _("Signataires possibles : chair, secretary."),
            "required": _("Indiquez le signataire : chair ou secretary."),
        },
    )
