"""Forms of the assemblies in the member area: the voice a request acts for, the proxy, the
ballot and the voter's designation; the minutes' parameters; the name proposed for the
successor and the ballot of the consultation. A value that cannot be read is a form error or a
400; the services check the rules."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from assemblies.consultations import NAME_MAX, REASON_MAX
from assemblies.models import NameProposal, Resolution, Signatory, Voice, VoteChoice
from cluster.errors import BoundedIntegerField

#: The proxy holder's value that means the chair.
CHAIR = "chair"

_ID_MAX = 2**31 - 1


class VoiceParameters(forms.Form):
    """The voice a member's request acts for, among the user's organisations' voices."""

    voice = BoundedIntegerField(
        min_value=1, max_value=_ID_MAX, message=_("Identifiant de voix incorrect.")
    )


class BallotParameters(VoiceParameters):
    """The voice a ballot is cast for (``voice``) and the voice that casts it (``by``): the
    same one, or the holder of its proxy."""

    by = BoundedIntegerField(
        min_value=1, max_value=_ID_MAX, message=_("Identifiant de voix incorrect.")
    )


class _HolderField(forms.ChoiceField):
    """The list offers the chair and the organisations that may receive the proxy; any other
    voice of the assembly is taken too, for the service to say why it cannot receive it (it
    reached the maximum, or gave its own, since the page was shown)."""

    def __init__(self, *, others: dict[str, Voice], **kwargs):
        super().__init__(**kwargs)
        self.others = others

    def valid_value(self, value) -> bool:
        return value in self.others or super().valid_value(value)


class ProxyForm(forms.Form):
    """To whom the organisation gives its voice: the chair or another organisation convened.
    ``holders`` are offered; ``others`` are the other voices of the assembly."""

    def __init__(self, *args, holders: list[Voice], others: list[Voice], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["holder"] = _HolderField(
            label=_("Donner pouvoir à"),
            others={str(voice.pk): voice for voice in others},
            choices=[
                ("", _("Choisissez…")),
                (CHAIR, _("Au président de séance")),
                *((str(voice.pk), voice.organisation.name) for voice in holders),
            ],
            error_messages={
                "required": _("Choisissez à qui donner le pouvoir."),
                "invalid_choice": _("Choisissez dans la liste à qui donner le pouvoir."),
            },
        )

    def clean_holder(self) -> Voice | None:
        """The holder's voice, or ``None`` for the chair."""
        value = self.cleaned_data["holder"]
        return None if value == CHAIR else self.fields["holder"].others[value]


class BallotForm(forms.Form):
    """One choice (for, against, abstain) on each resolution of the agenda."""

    def __init__(self, *args, resolutions: list[Resolution], **kwargs):
        super().__init__(*args, **kwargs)
        for resolution in resolutions:
            self.fields[f"resolution-{resolution.pk}"] = forms.ChoiceField(
                label=str(resolution),
                choices=VoteChoice.choices,
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Choisissez pour, contre ou abstention."),
                    "invalid_choice": _("Choisissez pour, contre ou abstention."),
                },
            )
        self.resolutions = resolutions

    def choices(self) -> dict[int, str]:
        """The choices by resolution id, once the form is valid."""
        return {r.pk: self.cleaned_data[f"resolution-{r.pk}"] for r in self.resolutions}


class VoterForm(forms.Form):
    """The contact a primary contact designates to vote for the organisation."""

    contact = forms.ModelChoiceField(
        label=_("Votant de l’organisation"),
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": _("Choisissez un contact de l’organisation.")},
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact"].queryset = organisation.contacts.order_by(
            "last_name", "first_name", "email"
        )


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
