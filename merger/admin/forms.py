"""The forms of the merger’s admin: a reason kept in the history, the merger’s status and date,
the decisions on proposals, the report’s year, the merge of two records, the resolution that
adopted the merger."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from assemblies.models import Resolution
from assemblies.selectors import ResolutionResult
from cluster.errors import BoundedIntegerField, YearField
from members.formatting import short_date
from members.models import Organisation

from ..models import Decision, DuplicatePair, Merger, TransferProposal
from ..selectors import DecisionGroups
from ..services import merger_update


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Gardé dans l’historique avec votre nom et la date."),
    )


class MergerForm(forms.ModelForm):
    reason = forms.CharField(
        label=gettext_lazy("Motif du changement"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy(
            "Obligatoire quand le statut ou la date changent : gardé dans l’historique (un "
            "report de la date y figure comme tel)."
        ),
    )

    class Meta:
        model = Merger
        fields = ("status", "planned_date", "align_on_successor_year")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A reader's page has no status field: nothing to narrow.
        if "status" in self.fields and self.instance.status != Merger.Status.EFFECTIVE:
            # The execution makes the merger effective, nobody else.
            self.fields["status"].choices = [
                choice for choice in Merger.Status.choices if choice[0] != Merger.Status.EFFECTIVE
            ]

    def update_arguments(self) -> dict:
        """What :func:`merger.services.merger_update` is asked: the status only when it is
        changed, since a date moved later with the status left as it was is a postponement."""
        data = self.cleaned_data
        return {
            "reason": data.get("reason", ""),
            "status": data.get("status") if "status" in self.changed_data else None,
            "planned_date": data.get("planned_date"),
            "align_on_successor_year": data.get("align_on_successor_year"),
        }

    def clean(self):
        """The service's rules, and only them: the change is tried in a savepoint rolled back at
        once, its refusals become the form's errors. The change itself is made once, by the
        admin's ``save_model``, when the whole page is valid."""
        data = super().clean()
        try:
            with transaction.atomic():
                merger_update(merger=self.instance, by=None, **self.update_arguments())
                transaction.set_rollback(True)
        except ValidationError as error:
            self.add_error(None, error)
        return data


class ReportForm(forms.Form):
    """What the report's address may say: the year of the fees shown (this year by default)."""

    year = YearField(required=False)


class ProposalVersionField(forms.IntegerField):
    """A proposal's version as the page that decides it showed it (a hidden field): the decision
    is taken only if nobody decided meanwhile (:func:`merger.services.transfer_decide`). Missing
    or unreadable, nothing is decided."""

    def __init__(self, **kwargs):
        message = gettext_lazy(
            "La version de la proposition lue par la page manque ou est illisible : rien n’a "
            "été décidé. Rechargez la page avant de décider."
        )
        kwargs["error_messages"] = dict.fromkeys(
            ("required", "invalid", "min_value", "max_value"), message
        )
        # A version is a PositiveIntegerField: its largest value on every database.
        super().__init__(min_value=0, max_value=2**31 - 1, widget=forms.HiddenInput, **kwargs)


class DecideForm(ReasonForm):
    """The decision taken on a proposal's page."""

    version = ProposalVersionField()
    decision = forms.ChoiceField(
        label=gettext_lazy("Décision"),
        choices=[
            (Decision.APPROVED, gettext_lazy("Approuver le transfert")),
            (Decision.REJECTED, gettext_lazy("Refuser le transfert")),
            (Decision.DEFERRED, gettext_lazy("Ajourner")),
        ],
        widget=forms.RadioSelect,
    )


class DecideSelectedForm(ReasonForm):
    """The bulk decision's page: which of the proposals asked for (``groups``) are decided, the
    reason, and the version of each as the page showed it (``version_<id>``).

    When some are flagged, ``scope`` says whether the decision leaves them out ("unflagged", the
    choice offered first) or takes them too ("all")."""

    UNFLAGGED, ALL = "unflagged", "all"

    scope = forms.ChoiceField(
        label=gettext_lazy("Propositions décidées"), widget=forms.RadioSelect, choices=()
    )

    def __init__(self, *args, groups: DecisionGroups, **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups
        self.proposals = groups.proposals
        if groups.flagged:
            unflagged, count = len(groups.unflagged), len(self.proposals)
            choices = [
                (
                    self.ALL,
                    ngettext(
                        "Toutes, signalées comprises (%(count)d proposition)",
                        "Toutes, signalées comprises (%(count)d propositions)",
                        count,
                    )
                    % {"count": count},
                )
            ]
            if unflagged:
                choices.insert(
                    0,
                    (
                        self.UNFLAGGED,
                        ngettext(
                            "Seulement la proposition non signalée (%(count)d)",
                            "Seulement les propositions non signalées (%(count)d)",
                            unflagged,
                        )
                        % {"count": unflagged},
                    ),
                )
            self.fields["scope"].choices = choices
            self.fields["scope"].initial = choices[0][0]
            self.fields["scope"].error_messages["invalid_choice"] = _(
                "Choisissez les propositions à décider : seulement les non signalées, ou toutes."
            )
            self.fields["scope"].error_messages["required"] = self.fields["scope"].error_messages[
                "invalid_choice"
            ]
        else:
            del self.fields["scope"]
        for proposal in self.proposals:
            self.fields[f"version_{proposal.pk}"] = ProposalVersionField()

    def decided(self) -> list[TransferProposal]:
        """The proposals the decision takes: all of them, or only the unflagged ones."""
        if self.cleaned_data.get("scope") == self.UNFLAGGED:
            return self.groups.unflagged
        return self.proposals

    def left_out(self) -> list[TransferProposal]:
        """The flagged proposals the decision leaves as they are."""
        return self.groups.flagged if self.cleaned_data.get("scope") == self.UNFLAGGED else []

    def versions(self) -> dict[int, int]:
        """Each decided proposal's version as the page showed it, by proposal id."""
        return {p.pk: self.cleaned_data[f"version_{p.pk}"] for p in self.decided()}

    def refusals(self) -> list[str]:
        """What is missing: the reason, the choice, or a version, said with the proposal's
        organisation."""
        said = []
        if "reason" in self.errors:
            said.append(_("Indiquez le motif : il est gardé dans l’historique."))
        said.extend(self.errors.get("scope", []))
        for proposal in self.proposals:
            for error in self.errors.get(f"version_{proposal.pk}", []):
                said.append(f"{proposal.organisation} : {error}")
        return said


class MergeForm(ReasonForm):
    survivor = forms.ChoiceField(
        label=gettext_lazy("Fiche à conserver"), widget=forms.RadioSelect, choices=()
    )

    def __init__(self, *args, pair: DuplicatePair, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = {str(o.pk): o for o in (pair.organisation_a, pair.organisation_b)}
        self.fields["survivor"].choices = [
            (pk, f"{o.name} · {o.siret or o.siren or _('sans SIRET')}")
            for pk, o in self.records.items()
        ]

    def clean_survivor(self) -> Organisation:
        """The record chosen (one of the pair's two, as the choices say)."""
        return self.records[self.cleaned_data["survivor"]]


class NoticeSendForm(forms.Form):
    """The confirmation of the notices' sending: the number of recipients the page showed, and
    the box that says it was read (the page says why when it is not ticked, rather than the
    browser's bubble)."""

    use_required_attribute = False

    recipients = forms.IntegerField(min_value=0, max_value=2**31 - 1, widget=forms.HiddenInput)
    confirm = forms.BooleanField(
        label=gettext_lazy("J’ai relu l’e-mail et je confirme son envoi à ces destinataires."),
        error_messages={
            "required": gettext_lazy("Cochez la case pour confirmer : rien n’a été envoyé.")
        },
    )


class ExecutionPreviewForm(forms.Form):
    """What the execution's page may be asked: a search, a page of the preview, an export."""

    q = forms.CharField(required=False, max_length=200, strip=True)
    p = BoundedIntegerField(
        required=False,
        min_value=1,
        max_value=10**6,
        message=gettext_lazy("Le numéro de page doit être un nombre entier de 1 à 1 000 000."),
    )
    export = forms.ChoiceField(required=False, choices=[("", ""), ("xlsx", "XLSX"), ("csv", "CSV")])


class ExecutionConfirmForm(forms.Form):
    """The confirmation of the execution: the page's own key (a double click or the page
    posted again is one execution) and the box that says it cannot be undone."""

    use_required_attribute = False

    key = forms.UUIDField(
        widget=forms.HiddenInput,
        error_messages=dict.fromkeys(
            ("required", "invalid"),
            gettext_lazy(
                "La page de confirmation est incomplète ou illisible : rien n’a été exécuté. "
                "Rechargez-la."
            ),
        ),
    )
    confirm = forms.BooleanField(
        label=gettext_lazy(
            "Je comprends que cette opération est irréversible et je confirme l’exécution des "
            "transferts."
        ),
        error_messages={
            "required": gettext_lazy("Cochez la case pour confirmer : rien n’a été exécuté.")
        },
    )


class AdoptionRecordForm(forms.Form):
    """The resolution that adopted the merger, picked among the adopted resolutions of a source
    cluster's closed extraordinary assemblies (``candidates``); an id of any other resolution,
    or unreadable, is the form's error."""

    resolution = forms.ModelChoiceField(
        label=gettext_lazy("Résolution adoptée"),
        queryset=Resolution.objects.none(),
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choisissez la résolution qui a adopté la fusion."),
            "invalid_choice": gettext_lazy(
                "Cette résolution n’est pas une résolution adoptée par une assemblée générale "
                "extraordinaire de ce cluster : choisissez-en une de la liste."
            ),
        },
    )

    def __init__(self, *args, candidates: list[ResolutionResult], **kwargs):
        super().__init__(*args, **kwargs)
        labels = {result.resolution.pk: adoption_label(result) for result in candidates}
        field = self.fields["resolution"]
        field.queryset = Resolution.objects.filter(pk__in=labels)
        field.label_from_instance = lambda resolution: labels[resolution.pk]


def adoption_label(result: ResolutionResult) -> str:
    """How a resolution reads where the committee picks it: its assembly and its result."""
    assembly = result.resolution.assembly
    return _(
        "%(assembly)s du %(date)s : « %(resolution)s » (pour : %(for)s, contre : %(against)s, "
        "abstention : %(abstain)s)"
    ) % {
        "assembly": assembly.title,
        "date": short_date(assembly.starts_at),
        "resolution": result.resolution.title,
        "for": result.votes_for,
        "against": result.against,
        "abstain": result.abstain,
    }
