"""Admin of the merger, for the merger committee and superusers.

- *Fusions*: the merger's status and planned date (changed with a reason, logged), the plan
  mapping, its history; actions and buttons to establish the proposals, inform the members,
  execute the transfers (a confirmation page showing the successor as it would be) and the
  report, exportable.
- *Propositions de transfert*: filters (decision, origin, flags, members of both), search (name,
  SIRET, SIREN, old member numbers), bulk approve / reject / defer with a reason; a proposal's
  page sets its source records side by side and takes the decision. Every decision goes through
  :func:`merger.services.transfer_decide`, which tells a member that somebody else decided first.
- *Doublons possibles*: the two records side by side; merge them (choosing the one that stays),
  undo a merge, or say "not a duplicate".
- *Informations des membres*: the notices sent, as proof; *Fusions de fiches*: the merges.
- An objection sent after the execution (the transfer stands) is flagged apart: a filter and a
  column in the proposals list, a note on the proposal's page, a filter in the notices list, a
  count on the merger's page.

Every list runs a constant number of queries whatever its length.
"""

from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Case,
    CharField,
    Count,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    When,
)
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cluster.errors import YearField, parameters_read
from members.models import (
    Cluster,
    Contact,
    Membership,
    MembershipStatus,
    Organisation,
    Plan,
    Term,
)
from members.selectors import memberships_with_status

from .exports import CONTENT_TYPES, report_export
from .models import (
    FLAGS,
    Decision,
    DuplicatePair,
    Merger,
    MergerEvent,
    MergerNotice,
    OrganisationMerge,
    PlanMapping,
    TransferProposal,
)
from .selectors import (
    BOTH,
    merger_current,
    merger_origins,
    merger_report,
    notices_objected_after_execution,
    proposals_flagged,
)
from .services import (
    duplicate_dismiss,
    duplicate_merge,
    duplicate_merge_undo,
    duplicates_refresh,
    merger_execute,
    merger_update,
    notices_queue,
    plan_mapping_update,
    proposals_refresh,
    transfer_decide,
)

#: Rows of the successor shown on the execution's confirmation page (all are executed).
PREVIEW_ROWS = 300


def _admin_url(obj, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Motif"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy("Gardé dans l’historique avec votre nom et la date."),
    )


class MergerRecordAdmin(admin.ModelAdmin):
    """The merger's records are made by its services and never deleted: they are its history."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MergerHistoryAdmin(MergerRecordAdmin):
    """Records that nobody changes either: proof of what was done."""

    def has_change_permission(self, request, obj=None):
        return False


# --- The merger ---------------------------------------------------------------------------------


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
        fields = ("status", "planned_date")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.status != Merger.Status.EFFECTIVE:
            # The execution makes the merger effective, nobody else.
            self.fields["status"].choices = [
                choice for choice in Merger.Status.choices if choice[0] != Merger.Status.EFFECTIVE
            ]

    def clean(self):
        data = super().clean()
        if self.changed_data and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Indiquez le motif : il est gardé dans l’historique."))
        if self.changed_data and self.instance.status == Merger.Status.EFFECTIVE:
            raise ValidationError(
                _("La fusion est effective : sa date et son statut ne changent plus.")
            )
        return data


class PlanMappingInline(admin.TabularInline):
    model = PlanMapping
    fields = ("source", "successor_plan")
    readonly_fields = ("source",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Once the transfers are executed, the mapping they followed is history.
        effective = obj is not None and obj.status == Merger.Status.EFFECTIVE
        return not effective and super().has_change_permission(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source_plan__cluster")

    @admin.display(description=gettext_lazy("formule source"))
    def source(self, mapping: PlanMapping) -> str:
        plan = mapping.source_plan
        return f"{plan.cluster} · {plan} ({plan.annual_fee} €)"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "successor_plan":
            merger = merger_current()
            kwargs["queryset"] = Plan.objects.filter(
                cluster=merger.successor_id if merger else None
            ).order_by("position")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MergerEventInline(admin.TabularInline):
    model = MergerEvent
    fields = ("at", "kind", "by", "change", "reason", "figures")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = gettext_lazy("historique")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")

    @admin.display(description=gettext_lazy("changement"))
    def change(self, event: MergerEvent) -> str:
        parts = []
        if event.status_before != event.status_after and event.status_after:
            before = event.get_status_before_display() or "–"
            parts.append(f"{before} → {event.get_status_after_display()}")
        if event.date_after and event.date_before != event.date_after:
            before = f"{event.date_before:%d/%m/%Y}" if event.date_before else "–"
            parts.append(f"{before} → {event.date_after:%d/%m/%Y}")
        return " · ".join(parts) or "–"

    @admin.display(description=gettext_lazy("détails"))
    def figures(self, event: MergerEvent) -> str:
        parts = []
        for key, label in EVENT_DETAILS.items():
            value = event.details.get(key)
            if value in ("", None):
                continue
            if isinstance(value, list):
                value = len(value)
            elif key == "as_of":
                value = f"{date.fromisoformat(value):%d/%m/%Y}"
            parts.append(f"{label} : {value}")
        return " · ".join(parts) or "–"


#: What the figures of the merger's history are called.
EVENT_DETAILS = {
    "as_of": gettext_lazy("établies au"),
    "proposals": gettext_lazy("propositions"),
    "created": gettext_lazy("créées"),
    "updated": gettext_lazy("mises à jour"),
    "removed": gettext_lazy("retirées"),
    "members_of_both": gettext_lazy("membres des deux"),
    "flagged": gettext_lazy("signalées"),
    "organisations": gettext_lazy("organisations"),
    "requeued": gettext_lazy("remises en file"),
    "executed": gettext_lazy("exécutées"),
    "skipped": gettext_lazy("déjà transférées"),
    "failed": gettext_lazy("en échec"),
    "source_plan": gettext_lazy("formule source"),
    "before": gettext_lazy("avant"),
    "after": gettext_lazy("après"),
}


@admin.register(Merger)
class MergerAdmin(MergerRecordAdmin):
    form = MergerForm
    list_display = ("name", "status", "planned_date", "effective_date", "proposals_summary")
    readonly_fields = (
        "name",
        "successor",
        "sources_list",
        "effective_date",
        "proposals_summary",
        "late_objections",
    )
    fieldsets = (
        (None, {"fields": ("name", "successor", "sources_list")}),
        (
            gettext_lazy("Date d’effet"),
            {"fields": ("status", "planned_date", "reason", "effective_date")},
        ),
        (gettext_lazy("Propositions"), {"fields": ("proposals_summary", "late_objections")}),
    )
    inlines = (PlanMappingInline, MergerEventInline)
    actions = ("propose_action", "notify_action", "execute_action")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("successor")
            .prefetch_related("sources")
            .annotate(
                proposals_count=Count("proposals"),
                undecided_count=Count(
                    "proposals",
                    filter=Q(proposals__decision__in=[Decision.PENDING, Decision.DEFERRED]),
                ),
                executed_count=Count("proposals", filter=Q(proposals__decision=Decision.EXECUTED)),
            )
        )

    @admin.display(description=gettext_lazy("clusters sources"))
    def sources_list(self, merger: Merger) -> str:
        return ", ".join(cluster.name for cluster in merger.sources.all())

    @admin.display(description=gettext_lazy("propositions"))
    def proposals_summary(self, merger: Merger) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:merger_transferproposal_changelist"),
            _("%(count)d en tout, %(undecided)d à décider, %(executed)d exécutées")
            % {
                "count": merger.proposals_count,
                "undecided": merger.undecided_count,
                "executed": merger.executed_count,
            },
        )

    @admin.display(description=gettext_lazy("oppositions après exécution"))
    def late_objections(self, merger: Merger) -> str:
        count = notices_objected_after_execution(merger=merger).count()
        if not count:
            return _("Aucune")
        return format_html(
            '<a href="{}?late_objection=yes" class="merger-late-objection">{}</a>',
            reverse("admin:merger_mergernotice_changelist"),
            ngettext(
                "%(count)d opposition reçue après l’exécution",
                "%(count)d oppositions reçues après l’exécution",
                count,
            )
            % {"count": count},
        )

    def save_model(self, request, obj, form, change):
        merger_update(
            merger=obj,
            by=request.user,
            reason=form.cleaned_data.get("reason", ""),
            # A date moved later with the status left as it was is a postponement.
            status=form.cleaned_data["status"] if "status" in form.changed_data else None,
            planned_date=form.cleaned_data["planned_date"],
        )

    def save_formset(self, request, form, formset, change):
        # The history is read-only; a mapping changes through its service, which logs it. The
        # admin's own change message reads what a formset's save() would have recorded.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if formset.model is not PlanMapping:
            return
        for mapping_form in formset.forms:
            if mapping_form.has_changed() and plan_mapping_update(
                mapping=mapping_form.instance,
                successor_plan=mapping_form.cleaned_data["successor_plan"],
                by=request.user,
            ):
                formset.changed_objects.append((mapping_form.instance, mapping_form.changed_data))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/propose/", view(self.propose_view), name="merger_merger_propose"),
            path("<int:pk>/notify/", view(self.notify_view), name="merger_merger_notify"),
            path("<int:pk>/execute/", view(self.execute_view), name="merger_merger_execute"),
            path("<int:pk>/report/", view(self.report_view), name="merger_merger_report"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_propose": request.user.has_perm("merger.change_transferproposal"),
            "can_notify": request.user.has_perm("merger.add_mergernotice"),
            "can_execute": request.user.has_perm("merger.execute_merger"),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # Actions of the list, and the buttons of the merger's page, lead to the same views.

    @admin.action(
        description=gettext_lazy("Établir ou actualiser les propositions de transfert"),
        permissions=["propose"],
    )
    def propose_action(self, request, queryset):
        for merger in queryset:
            self._propose(request, merger)

    @admin.action(
        description=gettext_lazy("Informer les membres (e-mail avec lien d’opposition)"),
        permissions=["notify"],
    )
    def notify_action(self, request, queryset):
        for merger in queryset:
            self._notify(request, merger)

    @admin.action(
        description=gettext_lazy("Exécuter les transferts approuvés…"), permissions=["execute"]
    )
    def execute_action(self, request, queryset):
        merger = queryset.first()
        if merger is None:  # the rows selected are no longer there
            return None
        return HttpResponseRedirect(reverse("admin:merger_merger_execute", args=[merger.pk]))

    def has_propose_permission(self, request):
        return request.user.has_perm("merger.change_transferproposal")

    def has_notify_permission(self, request):
        return request.user.has_perm("merger.add_mergernotice")

    def has_execute_permission(self, request):
        return request.user.has_perm("merger.execute_merger")

    def _propose(self, request, merger: Merger) -> None:
        result = proposals_refresh(merger=merger, by=request.user)
        messages.success(
            request,
            _(
                "Propositions établies au %(date)s : %(proposals)d en tout, %(created)d "
                "nouvelle(s), %(updated)d mise(s) à jour, %(removed)d retirée(s) ; %(both)d "
                "membre(s) des deux clusters, %(flagged)d signalée(s)."
            )
            % {
                "date": f"{result.as_of:%d/%m/%Y}",
                "proposals": result.proposals,
                "created": result.created,
                "updated": result.updated,
                "removed": result.removed,
                "both": result.members_of_both,
                "flagged": result.flagged,
            },
        )

    def _notify(self, request, merger: Merger) -> None:
        run = notices_queue(merger=merger, by=request.user)
        messages.success(
            request,
            _(
                "%(created)d e-mail(s) d’information mis en file pour les contacts de "
                "%(organisations)d organisation(s) ; les contacts déjà informés ne le sont pas "
                "deux fois."
            )
            % run.as_json(),
        )

    def _merger(self, request, pk: int, *, permission: str) -> Merger:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def propose_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        merger = self._merger(request, pk, permission="merger.change_transferproposal")
        self._propose(request, merger)
        return HttpResponseRedirect(reverse("admin:merger_transferproposal_changelist"))

    def notify_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        merger = self._merger(request, pk, permission="merger.add_mergernotice")
        self._notify(request, merger)
        return HttpResponseRedirect(_admin_url(merger))

    def execute_view(self, request, pk: int):
        """GET: the successor as the execution would make it (a dry run) and a confirmation;
        POST: execute."""
        merger = self._merger(request, pk, permission="merger.execute_merger")
        try:
            result = merger_execute(
                merger=merger, by=request.user, dry_run=request.method != "POST"
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(_admin_url(merger))
        if request.method == "POST":
            message = _(
                "Transferts exécutés au %(date)s : %(executed)d adhésion(s) au successeur "
                "créée(s), %(skipped)d déjà transférée(s), %(failed)d en échec."
            ) % {
                "date": f"{result.effective_date:%d/%m/%Y}",
                "executed": len(result.executed),
                "skipped": result.skipped,
                "failed": len(result.failed),
            }
            messages.add_message(
                request, messages.WARNING if result.failed else messages.SUCCESS, message
            )
            for failure in result.failed:
                messages.error(request, f"{failure.organisation} : {failure.message}")
            return HttpResponseRedirect(_admin_url(merger))
        informed = MergerNotice.objects.filter(proposal__merger=merger).values("proposal_id")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Exécuter les transferts"),
            "merger": merger,
            "result": result,
            "rows": result.executed[:PREVIEW_ROWS],
            "more_rows": max(0, len(result.executed) - PREVIEW_ROWS),
            "paid": sum(1 for row in result.executed if row.is_paid),
            "with_credit": sum(1 for row in result.executed if row.credit),
            "not_informed": TransferProposal.objects.filter(
                merger=merger, decision=Decision.APPROVED
            )
            .exclude(pk__in=informed)
            .count(),
        }
        return TemplateResponse(request, "admin/merger/merger/execute.html", context)

    def report_view(self, request, pk: int):
        merger = self._merger(request, pk, permission="merger.view_merger")
        year = parameters_read(ReportForm, request.GET)["year"] or timezone.localdate().year
        report = merger_report(merger=merger, year=year)
        file_format = request.GET.get("export")
        if file_format in CONTENT_TYPES:
            name = f"rapport-fusion-{timezone.localdate():%Y-%m-%d}.{file_format}"
            return HttpResponse(
                report_export(report, file_format=file_format),
                content_type=CONTENT_TYPES[file_format],
                headers={
                    "Content-Disposition": content_disposition_header(
                        as_attachment=True, filename=name
                    )
                },
            )
        labels = dict(report.origins)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Rapport de la fusion"),
            "merger": merger,
            "report": report,
            "by_origin": [(labels[key], count) for key, count in report.by_origin.items()],
            "revenue": [(labels[key], amount) for key, amount in report.revenue_by_origin.items()],
            "revenue_total": sum(report.revenue_by_origin.values()),
            "proposals": [
                (Decision(key).label, key, count) for key, count in report.proposals.items()
            ],
            "years": range(timezone.localdate().year + 1, timezone.localdate().year - 11, -1),
        }
        return TemplateResponse(request, "admin/merger/merger/report.html", context)


# --- Transfer proposals -------------------------------------------------------------------------


class OriginFilter(admin.SimpleListFilter):
    title = gettext_lazy("origine")
    parameter_name = "origin"

    def lookups(self, request, model_admin):
        merger = merger_current()
        return merger_origins(merger) if merger else []

    def queryset(self, request, queryset):
        return queryset.filter(origin=self.value()) if self.value() else queryset


class FlagFilter(admin.SimpleListFilter):
    title = gettext_lazy("signalement")
    parameter_name = "flag"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Au moins un")),
            ("none", _("Aucun")),
            *(
                (name, capfirst(TransferProposal._meta.get_field(name).verbose_name))
                for name in FLAGS
            ),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "any":
            return proposals_flagged(queryset)
        if value == "none":
            return queryset.exclude(pk__in=proposals_flagged(queryset).values("pk"))
        if value in FLAGS:
            return queryset.filter(**{value: True})
        return queryset


class LateObjectionFilter(admin.SimpleListFilter):
    """Objections that came once the transfer was executed: it stands, the committee reads
    them."""

    title = gettext_lazy("opposition après exécution")
    parameter_name = "late_objection"
    #: The field that dates a late objection, on the model of the list.
    field = "objection_after_execution"

    def lookups(self, request, model_admin):
        return [("yes", _("Reçue")), ("no", _("Aucune"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


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
    """The bulk decision's page: the reason, and the version of each of the ``proposals`` as the
    page showed it (``version_<id>``)."""

    def __init__(self, *args, proposals: list[TransferProposal], **kwargs):
        super().__init__(*args, **kwargs)
        self.proposals = proposals
        for proposal in proposals:
            self.fields[f"version_{proposal.pk}"] = ProposalVersionField()

    def versions(self) -> dict[int, int]:
        """Each proposal's version as the page showed it, by proposal id."""
        return {p.pk: self.cleaned_data[f"version_{p.pk}"] for p in self.proposals}

    def refusals(self) -> list[str]:
        """What is missing: the reason, or a version, said with the proposal's organisation."""
        said = []
        if "reason" in self.errors:
            said.append(_("Indiquez le motif : il est gardé dans l’historique."))
        for proposal in self.proposals:
            for error in self.errors.get(f"version_{proposal.pk}", []):
                said.append(f"{proposal.organisation} : {error}")
        return said


@admin.register(TransferProposal)
class TransferProposalAdmin(MergerRecordAdmin):
    list_display = (
        "organisation",
        "origin_label",
        "old_member_numbers",
        "member_since",
        "paid_through",
        "credit_display",
        "flags_display",
        "decision_display",
        "late_objection_display",
    )
    list_filter = ("decision", OriginFilter, FlagFilter, "members_of_both", LateObjectionFilter)
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
        # The origin's label in SQL: the source cluster's name, or "both" said in words.
        source_name = Cluster.objects.filter(slug=OuterRef("origin")).values("name")[:1]
        return (
            super()
            .get_queryset(request)
            .annotate(
                origin_name=Case(
                    When(origin=BOTH, then=Value(str(_("Membres des deux")))),
                    default=Subquery(source_name),
                    output_field=CharField(),
                )
            )
        )

    def changelist_view(self, request, extra_context=None):
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
        return f"{proposal.credit} €" if proposal.credit else "–"

    @admin.display(description=gettext_lazy("signalements"))
    def flags_display(self, proposal: TransferProposal) -> str:
        return format_html_join(
            " ", '<span class="merger-flag merger-flag-{}">{}</span>', _flags(proposal)
        )

    @admin.display(description=gettext_lazy("décision"), ordering="decision")
    def decision_display(self, proposal: TransferProposal) -> str:
        return format_html(
            '<span class="merger-decision merger-decision-{}">{}</span>',
            proposal.decision,
            proposal.get_decision_display(),
        )

    @admin.display(
        description=gettext_lazy("opposition après exécution"),
        ordering="objection_after_execution",
    )
    def late_objection_display(self, proposal: TransferProposal) -> str:
        if proposal.objection_after_execution is None:
            return "–"
        return format_html(
            '<span class="merger-flag merger-late-objection">{}</span>',
            date_format(
                timezone.localtime(proposal.objection_after_execution), "SHORT_DATETIME_FORMAT"
            ),
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
        proposals = list(queryset.select_related("organisation").order_by("organisation__name"))
        form = DecideSelectedForm(
            request.POST if "reason" in request.POST else None, proposals=proposals
        )
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
                return None
            for message in form.refusals():
                messages.error(request, message)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("%(decision)s : %(count)d proposition(s)")
            % {"decision": decision.label, "count": len(proposals)},
            "decision": decision,
            "proposals": proposals,
            "form": form,
            "action": request.POST.get("action"),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "flagged": [p for p in proposals if _flags(p)],
            "executed": [p for p in proposals if p.decision == Decision.EXECUTED],
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
        for conflict in result.conflicts:
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
            "flags": _flags(proposal),
            "columns": _source_columns(proposal),
            "organisation": proposal.organisation,
            "contacts": proposal.organisation.contacts.order_by("role", "last_name", "email"),
            "decisions": proposal.decisions.select_related("by"),
            "notices": proposal.notices.order_by("email"),
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


def _flags(proposal: TransferProposal) -> list[tuple[str, str]]:
    """(flag, label) of the flags raised on ``proposal``."""
    return [
        (name, TransferProposal._meta.get_field(name).verbose_name)
        for name in FLAGS
        if getattr(proposal, name)
    ]


def _source_columns(proposal: TransferProposal) -> list[dict]:
    """The source memberships of ``proposal`` (and, once executed, its successor membership),
    each with its status as of the proposal's date and its terms with their invoices."""
    terms = Prefetch(
        "terms", queryset=Term.objects.select_related("plan", "invoice").order_by("-start_date")
    )
    memberships = list(
        memberships_with_status(
            on=proposal.as_of,
            queryset=proposal.source_memberships.select_related("cluster", "site"),
        )
        .prefetch_related(terms)
        .order_by("cluster__name")
    )
    columns = [
        {"membership": m, "status": MembershipStatus(m.status).label, "successor": False}
        for m in memberships
    ]
    if proposal.successor_membership_id:
        successor = (
            memberships_with_status(
                queryset=Membership.objects.filter(
                    pk=proposal.successor_membership_id
                ).select_related("cluster", "site")
            )
            .prefetch_related(terms)
            .get()
        )
        columns.append(
            {
                "membership": successor,
                "status": MembershipStatus(successor.status).label,
                "successor": True,
            }
        )
    return columns


# --- Duplicates ---------------------------------------------------------------------------------


class MergeForm(ReasonForm):
    survivor = forms.ChoiceField(
        label=gettext_lazy("Fiche à conserver"), widget=forms.RadioSelect, choices=()
    )

    def __init__(self, *args, pair: DuplicatePair, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [
            (str(o.pk), f"{o.name} · {o.siret or o.siren or _('sans SIRET')}")
            for o in (pair.organisation_a, pair.organisation_b)
        ]


@admin.register(DuplicatePair)
class DuplicatePairAdmin(MergerRecordAdmin):
    list_display = ("record_a", "record_b", "score_display", "reasons_display", "state")
    list_filter = ("state",)
    list_select_related = ("organisation_a", "organisation_b")
    search_fields = (
        "organisation_a__name",
        "organisation_b__name",
        "organisation_a__siren",
        "organisation_b__siren",
    )
    search_help_text = gettext_lazy("Raison sociale ou SIREN de l’une des deux fiches.")
    ordering = ("-score", "pk")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("find/", view(self.find_view), name="merger_duplicatepair_find"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "title": _("Doublons possibles"),
            **(extra_context or {}),
            "can_review": request.user.has_perm("merger.change_duplicatepair"),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("fiche A"), ordering="organisation_a__name")
    def record_a(self, pair: DuplicatePair) -> str:
        return _record_label(pair.organisation_a)

    @admin.display(description=gettext_lazy("fiche B"), ordering="organisation_b__name")
    def record_b(self, pair: DuplicatePair) -> str:
        return _record_label(pair.organisation_b)

    @admin.display(description=gettext_lazy("score"), ordering="score")
    def score_display(self, pair: DuplicatePair) -> str:
        return f"{pair.score:.2f}"

    @admin.display(description=gettext_lazy("raisons"))
    def reasons_display(self, pair: DuplicatePair) -> str:
        return ", ".join(pair.reason_labels)

    def find_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("merger.change_duplicatepair"):
            raise PermissionDenied
        result = duplicates_refresh()
        messages.success(
            request,
            _("%(count)d doublon(s) possible(s) à examiner, dont %(new)d nouveau(x).")
            % {"count": len(result.pairs), "new": result.created},
        )
        return HttpResponseRedirect(reverse("admin:merger_duplicatepair_changelist"))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        pair = (
            self.get_queryset(request).filter(pk=object_id).first()
            if str(object_id).isdigit()
            else None
        )
        if pair is None:
            raise Http404(_("Aucun doublon ne correspond à cette adresse."))
        if not self.has_view_permission(request, pair):
            raise PermissionDenied
        can_review = request.user.has_perm("merger.change_duplicatepair")
        merge = pair.merges.filter(undone_at__isnull=True).select_related("by").first()
        merge_form = MergeForm(
            request.POST if request.POST.get("do") == "merge" else None, pair=pair
        )
        reason_form = ReasonForm(
            request.POST if request.POST.get("do") in ("dismiss", "undo") else None
        )
        if request.method == "POST":
            if not can_review:
                raise PermissionDenied
            try:
                done = self._review(request, pair, merge, merge_form, reason_form)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                done = False
            if done:
                return HttpResponseRedirect(request.path)
        records = [pair.organisation_a, pair.organisation_b]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Doublon possible : %(a)s ↔ %(b)s")
            % {"a": pair.organisation_a, "b": pair.organisation_b},
            "original": pair,
            "pair": pair,
            "merge": merge,
            "records": [_record_column(record) for record in records],
            "merge_form": merge_form,
            "reason_form": reason_form,
            "can_review": can_review,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/merger/duplicatepair/compare.html", context)

    def _review(self, request, pair, merge, merge_form, reason_form) -> bool:
        action = request.POST.get("do")
        if action == "merge" and merge_form.is_valid():
            survivor = Organisation.objects.get(pk=merge_form.cleaned_data["survivor"])
            duplicate_merge(
                pair=pair,
                survivor=survivor,
                by=request.user,
                reason=merge_form.cleaned_data["reason"],
            )
            messages.success(
                request,
                _("Fiches fusionnées : « %(name)s » est conservée, l’autre y est rattachée.")
                % {"name": survivor.name},
            )
            return True
        if action == "dismiss" and reason_form.is_valid():
            duplicate_dismiss(pair=pair, by=request.user, reason=reason_form.cleaned_data["reason"])
            messages.success(request, _("Noté : ces deux fiches ne seront plus proposées."))
            return True
        if action == "undo" and merge is not None and reason_form.is_valid():
            duplicate_merge_undo(
                merge=merge, by=request.user, reason=reason_form.cleaned_data["reason"]
            )
            messages.success(
                request, _("Fusion des fiches annulée : les deux fiches sont séparées.")
            )
            return True
        messages.error(request, _("Indiquez le motif : il est gardé dans l’historique."))
        return False


def _record_label(organisation: Organisation) -> str:
    identifier = organisation.siret or (
        _("SIREN %(siren)s") % {"siren": organisation.siren}
        if organisation.siren
        else _("sans SIRET")
    )
    return f"{organisation.name} · {identifier} · {organisation.postcode or '–'}"


def _record_column(organisation: Organisation) -> dict:
    """An organisation record as the duplicate review shows it: its details, memberships (with
    status) and contacts, wherever they are now."""
    memberships = memberships_with_status(
        queryset=Membership.objects.filter(
            Q(organisation=organisation) | Q(organisation=organisation.merged_into_id)
            if organisation.merged_into_id
            else Q(organisation=organisation)
        ).select_related("cluster", "organisation")
    ).order_by("cluster__name")
    return {
        "organisation": organisation,
        "memberships": list(memberships),
        "contacts": list(Contact.objects.filter(organisation=organisation).order_by("email")),
    }


@admin.register(OrganisationMerge)
class OrganisationMergeAdmin(MergerHistoryAdmin):
    list_display = ("absorbed", "survivor", "by", "at", "reason", "undone_at")
    list_select_related = ("absorbed", "survivor", "by")
    readonly_fields = [field.name for field in OrganisationMerge._meta.fields]
    search_fields = ("absorbed__name", "survivor__name")


# --- Notices ------------------------------------------------------------------------------------


class ObjectionFilter(admin.SimpleListFilter):
    title = gettext_lazy("opposition")
    parameter_name = "objection"

    def lookups(self, request, model_admin):
        return [("yes", _("Opposition reçue")), ("no", _("Sans opposition"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(objected_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(objected_at__isnull=True)
        return queryset


class NoticeLateObjectionFilter(LateObjectionFilter):
    field = "objected_after_execution"


@admin.register(MergerNotice)
class MergerNoticeAdmin(MergerHistoryAdmin):
    list_display = ("email", "organisation", "language", "state", "sent_at", "objected_at")
    list_filter = ("state", ObjectionFilter, "language", NoticeLateObjectionFilter)
    list_select_related = ("proposal__organisation",)
    search_fields = ("email", "proposal__organisation__name")
    show_full_result_count = False
    fields = (
        "proposal",
        "email",
        "language",
        "state",
        "queued_at",
        "sent_at",
        "subject",
        "body",
        "error",
        "objected_at",
        "objection_text",
        "objected_after_execution",
    )
    readonly_fields = fields

    @admin.display(
        description=gettext_lazy("organisation"), ordering="proposal__organisation__name"
    )
    def organisation(self, notice: MergerNotice) -> Organisation:
        return notice.proposal.organisation
