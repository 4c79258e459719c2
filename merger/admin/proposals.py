"""*Propositions de transfert*: filters (decision, origin, flags, members of both), search (name,
SIRET, SIREN, old member numbers), bulk approve / reject / defer with a reason; a proposal’s
page sets its source records side by side and takes the decision."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from members.formatting import money, short_datetime

from ..models import Decision, TransferProposal
from ..selectors import (
    merger_current,
    merger_origins,
    proposal_alignment_lines,
    proposal_flags,
    proposal_records,
    proposals_decision_groups,
    proposals_with_origin_name,
)
from ..services import transfer_decide
from .base import MergerRecordAdmin
from .filters import FlagFilter, InformedFilter, LateObjectionFilter, OriginFilter
from .forms import DecideForm, DecideSelectedForm


@admin.register(TransferProposal)
class TransferProposalAdmin(MergerRecordAdmin):
    # What the committee decides on; the seniority and the facts in full are on the proposal's
    # page, so that the list fits a 1280 px window. An objection after the execution is a flag.
    list_display = (
        "organisation",
        "origin_label",
        "old_member_numbers",
        "paid_through",
        "credit_display",
        "flags_display",
        "decision_display",
    )
    list_filter = (
        "decision",
        OriginFilter,
        FlagFilter,
        "members_of_both",
        LateObjectionFilter,
        InformedFilter,
    )
    list_select_related = ("organisation",)
    search_fields = (
        "organisation__name",
        "organisation__siret",
        "organisation__siren",
        "old_member_numbers",
        "successor_membership__member_number",
    )
    search_help_text = gettext_lazy(
        "Raison sociale, SIRET, SIREN, ancien ou nouveau n° d’adhérent."
    )
    list_per_page = 50
    show_full_result_count = False
    ordering = ("organisation__name", "pk")
    actions = ("approve_selected", "reject_selected", "defer_selected")

    def has_decide_permission(self, request):
        return request.user.has_perm("merger.decide_transferproposal")

    def get_queryset(self, request):
        return proposals_with_origin_name(super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        # Django's admin would only leave out an action the user may not take and show the list
        # again: a decision asked without the committee's permission is refused as such.
        if (
            request.method == "POST"
            and request.POST.get("action") in self.actions
            and not self.has_decide_permission(request)
        ):
            raise PermissionDenied
        merger = merger_current()
        extra_context = {
            "title": _("Propositions de transfert"),
            **(extra_context or {}),
            "merger": merger,
            "can_propose": request.user.has_perm("merger.change_transferproposal"),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("origine"), ordering="origin")
    def origin_label(self, proposal: TransferProposal) -> str:
        return proposal.origin_name or proposal.origin

    @admin.display(description=gettext_lazy("avoir"), ordering="credit")
    def credit_display(self, proposal: TransferProposal) -> str:
        return money(proposal.credit) if proposal.credit else "–"

    @admin.display(description=gettext_lazy("signalements"))
    def flags_display(self, proposal: TransferProposal) -> str:
        flags = format_html_join(
            " ", '<span class="merger-flag merger-flag-{}">{}</span>', proposal_flags(proposal)
        )
        return format_html("{}{}", flags, self.late_objection(proposal))

    @admin.display(description=gettext_lazy("décision"), ordering="decision")
    def decision_display(self, proposal: TransferProposal) -> str:
        return format_html(
            '<span class="merger-decision merger-decision-{}">{}</span>',
            proposal.decision,
            proposal.get_decision_display(),
        )

    def late_objection(self, proposal: TransferProposal) -> str:
        """An objection sent after the execution (the transfer stands), as a flag."""
        if proposal.objection_after_execution is None:
            return ""
        return format_html(
            ' <span class="merger-flag merger-late-objection">{} {}</span>',
            _("opposition après exécution le"),
            short_datetime(proposal.objection_after_execution),
        )

    # Bulk decisions: a page asks for the reason, the proposals' versions travel with it.

    @admin.action(description=gettext_lazy("Approuver la sélection…"), permissions=["decide"])
    def approve_selected(self, request, queryset):
        return self._decide_selected(request, queryset, Decision.APPROVED)

    @admin.action(description=gettext_lazy("Refuser la sélection…"), permissions=["decide"])
    def reject_selected(self, request, queryset):
        return self._decide_selected(request, queryset, Decision.REJECTED)

    @admin.action(description=gettext_lazy("Ajourner la sélection…"), permissions=["decide"])
    def defer_selected(self, request, queryset):
        return self._decide_selected(request, queryset, Decision.DEFERRED)

    def _decide_selected(self, request, queryset, decision: Decision):
        """The confirmation of a bulk decision: the proposals grouped, flagged (listed with their
        flags) and unflagged (summed up, listed folded), the choice to leave the flagged ones
        out, the reason; then the decision, taken once (a form sent twice decides nothing more:
        the versions it carries are past)."""
        merger = merger_current()
        if merger is None or queryset.exclude(merger=merger).exists():
            messages.error(
                request,
                _(
                    "La sélection contient des propositions d’une autre fusion que la fusion en "
                    "cours : rien n’a été décidé."
                ),
            )
            return None
        groups = proposals_decision_groups(queryset=queryset)
        if not groups.proposals:  # the rows selected are no longer there
            messages.warning(request, _("Aucune des propositions sélectionnées n’existe encore."))
            return None
        form = DecideSelectedForm(request.POST if "reason" in request.POST else None, groups=groups)
        if form.is_bound:
            if form.is_valid():
                versions = form.versions()
                result = transfer_decide(
                    proposal_ids=list(versions),
                    decision=decision,
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    versions=versions,
                )
                self._decision_messages(request, result, decision)
                left_out = form.left_out()
                if left_out:
                    messages.warning(
                        request,
                        ngettext(
                            "%(count)d proposition signalée laissée à décider.",
                            "%(count)d propositions signalées laissées à décider.",
                            len(left_out),
                        )
                        % {"count": len(left_out)},
                    )
                return None
            for message in form.refusals():
                messages.error(request, message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("%(decision)s : %(count)d proposition(s)")
            % {"decision": decision.label, "count": len(groups.proposals)},
            "decision": decision,
            "merger": merger,
            "groups": groups,
            "flagged": [(p, proposal_flags(p)) for p in groups.flagged],
            "form": form,
            "action": request.POST.get("action"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/merger/transferproposal/decide.html", context)

    def _decision_messages(self, request, result, decision: Decision) -> None:
        if result.decided:
            messages.success(
                request,
                ngettext(
                    "%(count)d proposition : %(decision)s.",
                    "%(count)d propositions : %(decision)s.",
                    len(result.decided),
                )
                % {"count": len(result.decided), "decision": decision.label.lower()},
            )
        repeated = [conflict for conflict in result.conflicts if conflict.repeated]
        if repeated:
            messages.info(
                request,
                ngettext(
                    "Formulaire envoyé deux fois : %(count)d proposition déjà décidée ainsi par "
                    "vous, rien n’a été changé.",
                    "Formulaire envoyé deux fois : %(count)d propositions déjà décidées ainsi par "
                    "vous, rien n’a été changé.",
                    len(repeated),
                )
                % {"count": len(repeated)},
            )
        for conflict in result.conflicts:
            if not conflict.repeated:
                messages.error(request, f"{conflict.proposal.organisation} : {conflict.message}")

    # A proposal's page: its source records side by side, its decision and history.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        proposal = self.get_object(request, object_id)
        if proposal is None:
            raise Http404(_("Aucune proposition ne correspond à cette adresse."))
        if not self.has_view_permission(request, proposal):
            raise PermissionDenied
        can_decide = self.has_decide_permission(request) and proposal.decision != Decision.EXECUTED
        form = DecideForm(request.POST or None, initial={"decision": proposal.decision})
        if request.method == "POST":
            if not can_decide:
                raise PermissionDenied
            if form.is_valid():
                result = transfer_decide(
                    proposal_ids=[proposal.pk],
                    decision=form.cleaned_data["decision"],
                    by=request.user,
                    reason=form.cleaned_data["reason"],
                    versions={proposal.pk: form.cleaned_data["version"]},
                )
                self._decision_messages(request, result, Decision(form.cleaned_data["decision"]))
                return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Transfert de « %(organisation)s »")
            % {"organisation": proposal.organisation},
            "original": proposal,
            "proposal": proposal,
            "origin": dict(merger_origins(proposal.merger)).get(proposal.origin, proposal.origin),
            "flags": proposal_flags(proposal),
            "alignment": proposal_alignment_lines(proposal),
            **proposal_records(proposal=proposal),
            "organisation": proposal.organisation,
            "form": form,
            "can_decide": can_decide,
            "has_view_permission": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/merger/transferproposal/compare.html", context)

    def get_object(self, request, object_id, from_field=None):
        return (
            self.get_queryset(request)
            .select_related("merger__successor", "organisation", "successor_membership")
            .filter(pk=object_id)
            .first()
            if str(object_id).isdigit()
            else None
        )
