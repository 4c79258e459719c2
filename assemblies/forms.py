"""Forms of the assemblies' member pages; the services check the rules."""

from django import forms
from django.utils.translation import gettext_lazy as _

from assemblies.consultations import NAME_MAX, REASON_MAX
from assemblies.models import NameProposal


class NameProposalForm(forms.Form):
    """A name proposed for the successor, with why."""

    name = forms.CharField(label=_("Nom proposé"), max_length=NAME_MAX)
    reason = forms.CharField(
        label=_("Pourquoi ce nom ?"),
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("En quelques mots : ce qu’il dit du cluster, d’où il vient."),
    )


class NameBallotForm(forms.Form):
    """An approval ballot: the names the organisation approves, any number, one at least."""

    approved = forms.ModelMultipleChoiceField(
        label=_("Les noms que vous approuvez"),
        queryset=NameProposal.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Approuvez au moins un nom."),
            "invalid_choice": _("Ce bulletin approuve un nom qui n’est pas soumis au vote."),
            "invalid_pk_value": _("Ce bulletin approuve un nom qui n’est pas soumis au vote."),
        },
    )

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["approved"].queryset = candidates
