"""The consultation on the successor's name in the admin: the committee opens it, moves its
phases, reads the result and gives the successor its name; staff and the committee moderate the
proposals (accept, merge the same name written twice, refuse with a reason). Every write goes
through :mod:`assemblies.consultations`; the pages only read and call it."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from assemblies.consultations import (
    candidates,
    consultation_in_progress,
    consultation_result,
    name_consultation_advance,
    name_consultation_open,
    name_proposal_moderate,
    proposal_duplicates,
    successor_name_set,
)
from assemblies.models import NameConsultation, NameProposal, ProposalStatus
from members.models import Membership
from members.selectors import clusters_visible_to, user_sees_all_clusters

RUN = "assemblies.run_nameconsultation"


class NameConsultationForm(forms.ModelForm):
    class Meta:
        model = NameConsultation
        fields = (
            "merger",
            "title",
            "introduction",
            "proposals_per_organisation",
            "proposals_until",
            "voting_from",
            "voting_until",
        )

    def clean_merger(self):
        merger = self.cleaned_data["merger"]
        if consultation_in_progress(merger=merger) is not None:
            raise ValidationError(
                _("Une consultation sur le nom est déjà en cours pour cette fusion.")
            )
        return merger


class ModerationForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Décision"),
        choices=[
            (ProposalStatus.ACCEPTED, gettext_lazy("Retenir pour le vote")),
            (ProposalStatus.MERGED, gettext_lazy("Regrouper avec un nom identique retenu")),
            (ProposalStatus.REFUSED, gettext_lazy("Refuser")),
        ],
        widget=forms.RadioSelect,
    )
    into = forms.ModelChoiceField(
        label=gettext_lazy("Regrouper avec"),
        queryset=NameProposal.objects.none(),
        required=False,
        help_text=gettext_lazy("Les noms retenus ; la suggestion a le même nom normalisé."),
    )
    refusal_reason = forms.CharField(
        label=gettext_lazy("Motif du refus"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("L’organisation le lit dans son espace adhérent."),
    )

    def __init__(self, *args, proposal: NameProposal, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["into"].queryset = candidates(consultation=proposal.consultation).exclude(
            pk=proposal.pk
        )


class SuccessorNameForm(forms.Form):
    candidate = forms.ModelChoiceField(
        label=gettext_lazy("Nom donné au successeur"), queryset=NameProposal.objects.none()
    )
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy(
            "Obligatoire pour un autre nom que le plus approuvé ; gardé dans l’historique de la "
            "fusion."
        ),
    )

    def __init__(self, *args, consultation: NameConsultation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["candidate"].queryset = candidates(consultation=consultation)


@admin.register(NameConsultation)
class NameConsultationAdmin(admin.ModelAdmin):
    """The committee's page of a consultation: its settings, its phase and the button to the
    next, the counts of the proposals, the result, and the name to give."""

    form = NameConsultationForm
    list_display = ("title", "phase", "opened_at", "name_chosen")
    list_filter = ("phase",)
    readonly_fields = (
        "phase",
        "voting_method",
        "proposals_summary",
        "result_table",
        "opened_by",
        "opened_at",
        "moderation_started_at",
        "voting_opened_at",
        "voting_closed_at",
        "published_at",
        "name_chosen",
        "name_chosen_at",
        "name_chosen_by",
    )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("merger", "proposals_per_organisation", *self.readonly_fields)

    def get_fields(self, request, obj=None):
        if obj is None:
            return NameConsultationForm.Meta.fields
        return (
            "merger",
            "title",
            "introduction",
            "phase",
            "voting_method",
            "proposals_per_organisation",
            "proposals_until",
            "voting_from",
            "voting_until",
            "proposals_summary",
            "result_table",
            "opened_by",
            "opened_at",
            "moderation_started_at",
            "voting_opened_at",
            "voting_closed_at",
            "published_at",
            "name_chosen",
            "name_chosen_at",
            "name_chosen_by",
        )

    @admin.display(description=gettext_lazy("propositions"))
    def proposals_summary(self, consultation: NameConsultation) -> str:
        counts = dict(
            consultation.proposals.values_list("status").annotate(count=Count("pk")).order_by()
        )
        lines = ", ".join(
            f"{label} : {counts.get(value, 0)}" for value, label in ProposalStatus.choices
        )
        return format_html(
            '{} — <a href="{}?consultation__id__exact={}">{}</a>',
            lines,
            reverse("admin:assemblies_nameproposal_changelist"),
            consultation.pk,
            _("modérer les propositions"),
        )

    @admin.display(description=gettext_lazy("résultat"))
    def result_table(self, consultation: NameConsultation) -> str:
        if consultation.voting_opened_at is None:
            return _("Le vote n’est pas encore ouvert.")
        result = consultation_result(consultation=consultation)
        rows = format_html(
            "".join(["<tr><th>{}</th><td>{}</td><td>{}</td></tr>"] * len(result.lines)),
            *(
                value
                for line in result.lines
                for value in (line.candidate.name, line.approvals, line.proposed_by)
            ),
        )
        verdict = (
            _("Égalité : le comité tranche.")
            if result.tie
            else _("Le plus approuvé : %(name)s.") % {"name": result.winners[0].candidate.name}
            if result.winners
            else ""
        )
        return format_html(
            '<table class="name-result"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr>'
            "</thead><tbody>{}</tbody></table><p>{} {}</p>",
            _("Nom"),
            _("Approbations"),
            _("Organisations qui l’ont proposé"),
            rows,
            ngettext(
                "%(ballots)s bulletin sur %(eligible)s organisations à jour aujourd’hui.",
                "%(ballots)s bulletins sur %(eligible)s organisations à jour aujourd’hui.",
                result.ballots,
            )
            % {"ballots": result.ballots, "eligible": result.eligible},
            verdict,
        )

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        data = {key: value for key, value in form.cleaned_data.items() if key != "merger"}
        created = name_consultation_open(
            merger=form.cleaned_data["merger"], by=request.user, **data
        )
        obj.pk = created.pk

    def has_add_permission(self, request):
        return request.user.has_perm(RUN) and super().has_add_permission(request)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/advance/",
                view(self.advance_view),
                name="assemblies_nameconsultation_advance",
            ),
            path(
                "<int:pk>/name/",
                view(self.successor_name_view),
                name="assemblies_nameconsultation_name",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_run": request.user.has_perm(RUN)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _consultation(self, request, pk: int) -> NameConsultation:
        if not request.user.has_perm(RUN):
            raise PermissionDenied
        return get_object_or_404(NameConsultation, pk=pk)

    def advance_view(self, request, pk: int):
        """POST: the consultation moves to its next phase, or says why it cannot."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        consultation = self._consultation(request, pk)
        expected = request.POST.get("expected_phase", "")
        if expected != consultation.phase:
            # A second tab or a double click: the phase moved since the page was shown.
            messages.warning(
                request,
                _("La consultation a changé de phase entre-temps : %(phase)s.")
                % {"phase": consultation.get_phase_display()},
            )
        else:
            try:
                consultation = name_consultation_advance(consultation=consultation, by=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(
                    request,
                    _("La consultation passe à la phase : %(phase)s.")
                    % {"phase": consultation.get_phase_display()},
                )
        return HttpResponseRedirect(
            reverse("admin:assemblies_nameconsultation_change", args=[consultation.pk])
        )

    def successor_name_view(self, request, pk: int):
        """The committee gives the successor a name of the published result."""
        consultation = self._consultation(request, pk)
        result = consultation_result(consultation=consultation)
        initial = {"candidate": result.winners[0].candidate} if len(result.winners) == 1 else {}
        form = SuccessorNameForm(
            request.POST if request.method == "POST" else None,
            consultation=consultation,
            initial=initial,
        )
        if request.method == "POST" and form.is_valid():
            try:
                successor_name_set(
                    consultation=consultation,
                    candidate=form.cleaned_data["candidate"],
                    reason=form.cleaned_data["reason"],
                    by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request,
                    _("Le cluster successeur s’appelle désormais « %(name)s ».")
                    % {"name": form.cleaned_data["candidate"].name},
                )
                return HttpResponseRedirect(
                    reverse("admin:assemblies_nameconsultation_change", args=[consultation.pk])
                )
        return TemplateResponse(
            request,
            "admin/assemblies/nameconsultation/successor_name.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Donner son nom au successeur"),
                "consultation": consultation,
                "result": result,
                "form": form,
            },
        )


class DuplicateFilter(admin.SimpleListFilter):
    title = gettext_lazy("doublons")
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return [("yes", _("Même nom qu’une autre proposition"))]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        same = NameProposal.objects.filter(
            consultation=OuterRef("consultation"), normalised_name=OuterRef("normalised_name")
        ).exclude(pk=OuterRef("pk"))
        return queryset.filter(Exists(same))


@admin.register(NameProposal)
class NameProposalAdmin(admin.ModelAdmin):
    """The proposals to moderate: membership staff see those of their clusters' members, the
    committee all of them. A proposal changes only through its moderation page."""

    list_display = (
        "name",
        "organisation",
        "status",
        "duplicates",
        "moderate_link",
        "proposed_at",
        "moderated_by",
    )
    list_filter = ("consultation", "status", DuplicateFilter)
    search_fields = ("name", "normalised_name", "organisation__name")
    ordering = ("normalised_name", "proposed_at")
    actions = ["accept_action"]
    readonly_fields = (
        "consultation",
        "organisation",
        "name",
        "normalised_name",
        "reason",
        "proposed_by",
        "proposed_at",
        "status",
        "merged_into",
        "refusal_reason",
        "moderated_by",
        "moderated_at",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("organisation", "moderated_by")
        if user_sees_all_clusters(request.user):
            return queryset
        members = Membership.objects.filter(
            organisation=OuterRef("organisation"), cluster__in=clusters_visible_to(request.user)
        )
        return queryset.filter(Exists(members))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("même nom"))
    def duplicates(self, proposal: NameProposal) -> str:
        count = proposal_duplicates(proposal=proposal).count()
        return str(count) if count else "–"

    @admin.display(description=gettext_lazy("modération"))
    def moderate_link(self, proposal: NameProposal) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:assemblies_nameproposal_moderate", args=[proposal.pk]),
            _("Modérer « %(name)s »") % {"name": proposal.name},
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:pk>/moderate/",
                view(self.moderate_view),
                name="assemblies_nameproposal_moderate",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            # Nothing changes here but through the moderation page.
            return HttpResponseNotAllowed(["GET"])
        extra_context = {**(extra_context or {}), "show_save": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def moderate_view(self, request, pk: int):
        """A proposal, the others of the same name, and the decision: accept, merge, refuse."""
        if not request.user.has_perm("assemblies.change_nameproposal"):
            raise PermissionDenied
        proposal = get_object_or_404(
            self.get_queryset(request).select_related("consultation"), pk=pk
        )
        duplicates = list(proposal_duplicates(proposal=proposal).select_related("organisation"))
        suggestion = next((d for d in duplicates if d.status == ProposalStatus.ACCEPTED), None)
        form = ModerationForm(
            request.POST if request.method == "POST" else None,
            proposal=proposal,
            initial={"into": suggestion, "status": proposal.status},
        )
        if request.method == "POST" and form.is_valid():
            try:
                name_proposal_moderate(
                    proposal=proposal,
                    status=form.cleaned_data["status"],
                    into=form.cleaned_data["into"],
                    reason=form.cleaned_data["refusal_reason"],
                    by=request.user,
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request,
                    _("« %(name)s » : %(status)s.")
                    % {
                        "name": proposal.name,
                        "status": ProposalStatus(form.cleaned_data["status"]).label,
                    },
                )
                return HttpResponseRedirect(
                    reverse("admin:assemblies_nameproposal_changelist")
                    + f"?consultation__id__exact={proposal.consultation_id}"
                )
        return TemplateResponse(
            request,
            "admin/assemblies/nameproposal/moderate.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Modérer « %(name)s »") % {"name": proposal.name},
                "proposal": proposal,
                "duplicates": duplicates,
                "form": form,
            },
        )

    @admin.action(description=gettext_lazy("Retenir pour le vote"), permissions=["change"])
    def accept_action(self, request, queryset):
        accepted = 0
        for proposal in queryset.filter(~Q(status=ProposalStatus.ACCEPTED)):
            try:
                name_proposal_moderate(
                    proposal=proposal, status=ProposalStatus.ACCEPTED, by=request.user
                )
            except ValidationError as error:
                messages.error(request, f"{proposal.name} : {' '.join(error.messages)}")
            else:
                accepted += 1
        messages.success(
            request,
            ngettext("%(count)s proposition retenue.", "%(count)s propositions retenues.", accepted)
            % {"count": accepted},
        )
