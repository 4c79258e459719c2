"""*Fusions*: the merger’s status and planned date (changed with a reason, logged), the plan
mapping, its history; actions and buttons to establish the proposals, inform the members,
execute the transfers (a confirmation page showing the successor as it would be) and the
report, exportable."""

import uuid
from datetime import date

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cluster.errors import parameters_read
from members.formatting import money, short_date

from ..exports import CONTENT_TYPES, execution_preview_export, report_export
from ..models import Decision, Merger, MergerEvent, MergerExecution, PlanMapping
from ..selectors import (
    adoption_candidates,
    execution_summary,
    merger_adoptions,
    merger_current,
    merger_execution_running,
    merger_report,
    merger_steps,
    mergers_with_counts,
    notice_audience,
    notice_example,
    notices_objected_after_execution,
    notices_progress,
    proposals_not_informed,
    successor_plans,
)
from ..services import (
    merger_adoption_record,
    merger_execute,
    merger_execution_preview,
    merger_execution_start,
    merger_update,
    notice_test_send,
    notices_queue,
    plan_mapping_update,
    proposals_refresh,
)
from ..services.execution import merger_execute_check
from ..services.notices import notice_example_for, notice_message
from .base import MergerRecordAdmin, admin_url
from .forms import (
    AdoptionRecordForm,
    ExecutionConfirmForm,
    ExecutionPreviewForm,
    MergerForm,
    NoticeSendForm,
    ReportForm,
)


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
        return f"{plan.cluster} · {plan} ({money(plan.annual_fee)})"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "successor_plan":
            kwargs["queryset"] = successor_plans(merger=merger_current())
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
            before = short_date(event.date_before) if event.date_before else "–"
            parts.append(f"{before} → {short_date(event.date_after)}")
        return " · ".join(parts) or "–"

    @admin.display(description=gettext_lazy("détails"))
    def figures(self, event: MergerEvent) -> str:
        parts = []
        for key, label in EVENT_DETAILS.items():
            value = event.details.get(key)
            if value in ("", None):
                continue
            if isinstance(value, bool):
                value = _("oui") if value else _("non")
            elif isinstance(value, list):
                value = len(value)
            elif key == "as_of":
                value = short_date(date.fromisoformat(value))
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
    "align_on_successor_year": gettext_lazy("alignement sur l’année du successeur"),
    "cluster": gettext_lazy("cluster"),
    "assembly": gettext_lazy("assemblée"),
    "resolution": gettext_lazy("résolution"),
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
            {
                "fields": (
                    "status",
                    "planned_date",
                    "align_on_successor_year",
                    "reason",
                    "effective_date",
                )
            },
        ),
        (gettext_lazy("Propositions"), {"fields": ("proposals_summary", "late_objections")}),
    )
    inlines = (PlanMappingInline, MergerEventInline)
    actions = ("propose_action", "notify_action", "execute_action")

    def get_queryset(self, request):
        return mergers_with_counts(super().get_queryset(request))

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
        merger_update(merger=obj, by=request.user, **form.update_arguments())

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
            path(
                "<int:pk>/notify/test/",
                view(self.notify_test_view),
                name="merger_merger_notify_test",
            ),
            path("<int:pk>/execute/", view(self.execute_view), name="merger_merger_execute"),
            path(
                "<int:pk>/executions/<int:execution_pk>/",
                view(self.execution_view),
                name="merger_merger_execution",
            ),
            path("<int:pk>/report/", view(self.report_view), name="merger_merger_report"),
            path(
                "<int:pk>/adoptions/<int:cluster_pk>/",
                view(self.adoption_view),
                name="merger_merger_adoption",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_propose": request.user.has_perm("merger.change_transferproposal"),
            "can_notify": request.user.has_perm("merger.add_mergernotice"),
            "can_execute": request.user.has_perm("merger.execute_merger"),
            "can_change": request.user.has_perm("merger.change_merger"),
            "can_record_adoption": request.user.has_perm("merger.add_mergeradoption"),
        }
        merger = self.get_object(request, object_id) if str(object_id).isdigit() else None
        if merger is not None:
            extra_context["steps"] = merger_steps(merger=merger)
            extra_context["adoptions"] = merger_adoptions(merger=merger)
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
        description=gettext_lazy("Informer les membres (e-mail avec lien d’opposition)…"),
        permissions=["notify"],
    )
    def notify_action(self, request, queryset):
        merger = queryset.first()
        if merger is None:  # the rows selected are no longer there
            return None
        return HttpResponseRedirect(reverse("admin:merger_merger_notify", args=[merger.pk]))

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
        messages.success(request, result.summary())

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

    def adoption_view(self, request, pk: int, cluster_pk: int):
        """GET: the adopted resolutions of the source cluster's closed extraordinary assemblies,
        to pick the one that adopted the merger; POST: record it (a refusal says why)."""
        merger = self._merger(request, pk, permission="merger.add_mergeradoption")
        cluster = get_object_or_404(merger.sources.all(), pk=cluster_pk)
        candidates = adoption_candidates(cluster=cluster)
        form = AdoptionRecordForm(request.POST or None, candidates=candidates)
        if request.method == "POST" and form.is_valid():
            try:
                merger_adoption_record(
                    merger=merger, resolution=form.cleaned_data["resolution"], by=request.user
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request,
                    _("L’adoption de la fusion par %(cluster)s est enregistrée.")
                    % {"cluster": cluster},
                )
                return HttpResponseRedirect(admin_url(merger))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Adoption de la fusion par %(cluster)s") % {"cluster": cluster},
            "merger": merger,
            "cluster": cluster,
            "adoption": merger.adoptions.filter(cluster=cluster).first(),
            "form": form,
        }
        return TemplateResponse(request, "admin/merger/merger/adoption.html", context)

    # Informing the members: what will be sent and to how many, a test, then the confirmation

    def notify_view(self, request, pk: int):
        """GET: the e-mail in each language as a member gets it, the number of recipients by
        language, the sending's progress; POST: send, once the box is ticked and the number
        of recipients is still the one shown."""
        merger = self._merger(request, pk, permission="merger.add_mergernotice")
        audience = notice_audience(merger=merger)
        form = NoticeSendForm(initial={"recipients": audience.recipients})
        if request.method == "POST":
            form = NoticeSendForm(request.POST)
            if form.is_valid():
                shown = form.cleaned_data["recipients"]
                if not audience.recipients:
                    messages.info(
                        request,
                        _(
                            "Personne de plus à informer : chaque contact a déjà son e-mail "
                            "(envoyé ou en cours d’envoi). Rien n’a été envoyé deux fois."
                        ),
                    )
                    return HttpResponseRedirect(request.path)
                if shown != audience.recipients:
                    # The page shown afresh, with the new count and the box to tick again.
                    messages.error(
                        request,
                        _(
                            "Le nombre de destinataires a changé depuis l’affichage de la page "
                            "(%(now)d au lieu de %(shown)d) : relisez la page, puis confirmez "
                            "à nouveau. Rien n’a été envoyé."
                        )
                        % {"now": audience.recipients, "shown": shown},
                    )
                else:
                    run = notices_queue(merger=merger, by=request.user)
                    messages.success(
                        request,
                        _(
                            "%(created)d e-mail(s) d’information mis en file pour les contacts "
                            "de %(organisations)d organisation(s) ; les contacts déjà informés "
                            "ne le sont pas deux fois."
                        )
                        % run.as_json(),
                    )
                return HttpResponseRedirect(request.path)
        example = notice_example(merger=merger)
        previews = []
        if example is not None:
            for code, label in settings.LANGUAGES:
                message = notice_message(notice=notice_example_for(proposal=example, language=code))
                previews.append(
                    {
                        "code": code,
                        "label": label,
                        "subject": message.subject,
                        "text": message.body,
                        "html": message.alternatives[0][0],
                    }
                )
        progress = notices_progress(merger=merger)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Informer les membres"),
            "merger": merger,
            "audience": audience,
            "example": example,
            "previews": previews,
            "form": form,
            "progress": progress,
            "sending": bool(progress["pending"]),
        }
        return TemplateResponse(request, "admin/merger/merger/notify.html", context)

    def notify_test_view(self, request, pk: int):
        """POST: the notice of the page's example sent to the signed-in member, in each
        language; not a notice, and as often as asked."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        merger = self._merger(request, pk, permission="merger.add_mergernotice")
        notify_url = reverse("admin:merger_merger_notify", args=[merger.pk])
        example = notice_example(merger=merger)
        if example is None or not request.user.email:
            messages.error(
                request,
                _("Aucun e-mail d’exemple à envoyer : personne n’est à informer.")
                if example is None
                else _("Votre compte n’a pas d’adresse e-mail : l’essai ne peut pas partir."),
            )
            return HttpResponseRedirect(notify_url)
        for test in notice_test_send(merger=merger, proposal=example, by=request.user):
            if test.state == test.State.SENT:
                messages.success(
                    request,
                    _("Essai (%(language)s) envoyé à %(email)s.")
                    % {"language": test.get_language_display(), "email": test.email},
                )
            else:
                messages.error(
                    request,
                    _("Essai (%(language)s) non envoyé à %(email)s : %(error)s")
                    % {
                        "language": test.get_language_display(),
                        "email": test.email,
                        "error": test.error,
                    },
                )
        return HttpResponseRedirect(notify_url)

    # Executing: the preview, searchable and exportable, the confirmation, the progress

    def execute_view(self, request, pk: int):
        """GET: the successor as the execution would make it (a dry run, a page at a time,
        searchable; ``export`` downloads all of it) and the confirmation; POST: start the
        execution in a Celery worker, once the box is ticked, and show its progress."""
        merger = self._merger(request, pk, permission="merger.execute_merger")
        parameters = parameters_read(ExecutionPreviewForm, request.GET)
        try:
            merger_execute_check(merger=merger)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return HttpResponseRedirect(admin_url(merger))
        if parameters["export"]:
            return self._execution_export(merger, file_format=parameters["export"])
        form = ExecutionConfirmForm(initial={"key": uuid.uuid4()})
        if request.method == "POST":
            form = ExecutionConfirmForm(request.POST)
            if form.is_valid():
                try:
                    execution, created = merger_execution_start(
                        merger=merger, by=request.user, key=form.cleaned_data["key"]
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    if not created:
                        messages.info(
                            request,
                            _(
                                "Cette exécution est déjà demandée : elle n’est pas lancée une "
                                "seconde fois."
                            ),
                        )
                    return HttpResponseRedirect(
                        reverse("admin:merger_merger_execution", args=[merger.pk, execution.pk])
                    )
            form.data = form.data.copy()
            form.data["key"] = str(uuid.uuid4())
        preview = merger_execution_preview(
            merger=merger, search=parameters["q"], page_number=parameters["p"] or 1
        )
        effective = merger.effective_date or merger.planned_date
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Exécuter les transferts"),
            "merger": merger,
            "effective_date": effective,
            "summary": execution_summary(merger=merger, on=effective),
            "preview": preview,
            "search": parameters["q"],
            "page_range": preview.page.paginator.get_elided_page_range(
                preview.page.number, on_each_side=2, on_ends=1
            ),
            "form": form,
            "running": merger_execution_running(merger=merger),
            "not_informed": proposals_not_informed(merger=merger),
        }
        return TemplateResponse(request, "admin/merger/merger/execute.html", context)

    def _execution_export(self, merger: Merger, *, file_format: str) -> HttpResponse:
        result = merger_execute(merger=merger, dry_run=True)
        name = f"execution-apercu-{timezone.localdate():%Y-%m-%d}.{file_format}"
        return HttpResponse(
            execution_preview_export(result, merger=merger, file_format=file_format),
            content_type=CONTENT_TYPES[file_format],
            headers={
                "Content-Disposition": content_disposition_header(as_attachment=True, filename=name)
            },
        )

    def execution_view(self, request, pk: int, execution_pk: int):
        """An execution's progress while a worker runs it (the page refreshes itself), then
        what it did."""
        merger = self._merger(request, pk, permission="merger.execute_merger")
        execution = get_object_or_404(
            MergerExecution.objects.select_related("by"), pk=execution_pk, merger=merger
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Exécution des transferts"),
            "merger": merger,
            "execution": execution,
        }
        return TemplateResponse(request, "admin/merger/merger/execution.html", context)

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
