"""The imports in the admin site: upload → preview → confirm, and the record of every import.

A cluster's staff import into the clusters they manage, from the memberships list ("Importer un
fichier"). The upload is kept privately and analysed (a dry run); the record's page then shows
what the import would do, row by row, and asks for confirmation. Files of more than
``IMPORT_BACKGROUND_ROWS`` data rows are analysed and imported by a Celery task, whose progress
the page shows; smaller ones during the request. django-import-export's own admin import is not
used: it dry-runs and imports again in the request, holding every row's diff (PITFALLS.md).
"""

import uuid

from celery.result import AsyncResult
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.imports.readers import UnreadableFile
from members.imports.resources import PROFILES
from members.imports.services import ImportFailed, ImportUnusable, record_file, run_import
from members.imports.tables import read_table
from members.models import Cluster, ImportRecord
from members.selectors import clusters_managed_by
from members.tasks import import_run

Status = ImportRecord.Status
#: Rows of changes shown on the preview page (all are kept in the record).
PREVIEW_ROWS = 200


class UploadForm(forms.Form):
    cluster = forms.ModelChoiceField(
        label=gettext_lazy("Cluster"), queryset=Cluster.objects.none(), empty_label=None
    )
    profile = forms.ChoiceField(
        label=gettext_lazy("Format du fichier"),
        choices=ImportRecord.Profile.choices,
        help_text=gettext_lazy(
            "DigitalPlace : classeur « Adhérents » ; FrenchSouth.digital : CSV de l’ancien "
            "outil ; format standard : un export de ce site."
        ),
    )
    file = forms.FileField(
        label=gettext_lazy("Fichier"),
        help_text=gettext_lazy("XLSX, XLS, ODS ou CSV."),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.xls,.ods,.csv,.txt"}),
    )
    skip_invalid = forms.BooleanField(
        label=gettext_lazy("Importer les lignes valides même si d’autres sont refusées"),
        required=False,
        help_text=gettext_lazy(
            "Sinon, une seule ligne refusée arrête l’import : rien n’est écrit."
        ),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        clusters = clusters_managed_by(user).order_by("kind", "name")
        self.fields["cluster"].queryset = clusters
        first = clusters.first()
        if first is not None and first.slug in PROFILES:
            self.fields["profile"].initial = first.slug
        self.fields["file"].help_text = _("XLSX, XLS, ODS ou CSV, %(max)s au plus.") % {
            "max": filesizeformat(settings.IMPORT_MAX_FILE_SIZE)
        }

    def clean(self):
        data = super().clean()
        cluster, profile = data.get("cluster"), data.get("profile")
        if cluster and profile in PROFILES and profile not in (cluster.slug, "standard"):
            # The two clusters' formats carry their own plans and sites.
            self.add_error(
                "profile",
                _(
                    "Ce format est celui des fichiers de %(owner)s, pas de %(cluster)s : "
                    "choisissez le format de %(cluster)s ou le format standard."
                )
                % {"owner": PROFILES[profile].label, "cluster": cluster},
            )
        upload = data.get("file")
        if upload is not None and upload.size > settings.IMPORT_MAX_FILE_SIZE:
            self.add_error(
                "file",
                _("Le fichier fait %(size)s : la taille maximale est %(max)s.")
                % {
                    "size": filesizeformat(upload.size),
                    "max": filesizeformat(settings.IMPORT_MAX_FILE_SIZE),
                },
            )
        return data


class ImportRecordAdmin(ClusterScopedAdminMixin, admin.ModelAdmin):
    """Imports: the list is their history; "add" is the upload; an import's page is its preview,
    its progress or its report."""

    list_display = (
        "uploaded",
        "file_name",
        "cluster",
        "status",
        "rows",
        "new",
        "updated",
        "refused_rows",
        "created_by",
    )
    list_filter = (
        ("cluster", ClusterScopedRelatedFilter),
        "status",
        "profile",
        "source",
    )
    list_select_related = ("cluster", "created_by")
    search_fields = ("file_name", "file_sha256")
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("déposé le"), ordering="created_at")
    def uploaded(self, record: ImportRecord) -> str:
        return formats.date_format(timezone.localtime(record.created_at), "SHORT_DATETIME_FORMAT")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # The records are the history of the member base.
        return False

    def has_add_permission(self, request):
        return super().has_add_permission(request) and clusters_managed_by(request.user).exists()

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/confirm/", view(self.confirm_view), name=f"{prefix}_confirm"),
            path("<int:pk>/cancel/", view(self.cancel_view), name=f"{prefix}_cancel"),
            path("<int:pk>/file/", view(self.file_view), name=f"{prefix}_file"),
            *super().get_urls(),
        ]

    # Upload

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            record = record_file(
                cluster=form.cleaned_data["cluster"],
                profile=form.cleaned_data["profile"],
                file=form.cleaned_data["file"],
                file_name=form.cleaned_data["file"].name,
                source=ImportRecord.Source.ADMIN,
                user=request.user,
                skip_invalid=form.cleaned_data["skip_invalid"],
            )
            try:
                table = read_table(
                    record.file.path, PROFILES[record.profile], filename=record.file_name
                )
            except UnreadableFile as exc:
                record.status = Status.UNUSABLE
                record.message = str(exc)
                record.save(update_fields=["status", "message"])
                form.add_error("file", str(exc))
            else:
                if len(table.dataset) > settings.IMPORT_BACKGROUND_ROWS:
                    self._queue(record, dry_run=True)
                else:
                    self._run(request, record, dry_run=True)
                return HttpResponseRedirect(self._record_url(record))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Importer un fichier d’adhérents"),
            "form": form,
            "background_rows": settings.IMPORT_BACKGROUND_ROWS,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/members/importrecord/upload.html", context)

    # The record's page: progress, preview, report

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        progress = None
        if record.status in (Status.QUEUED, Status.ANALYSING, Status.IMPORTING) and record.task_id:
            info = AsyncResult(record.task_id).info
            if isinstance(info, dict) and info.get("total"):
                progress = {**info, "percent": int(100 * info["done"] / info["total"])}
        can_confirm = record.status == Status.ANALYSED and self._manages(request, record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import de « %(file)s »") % {"file": record.file_name},
            "record": record,
            "original": record,
            "progress": progress,
            "working": record.status in (Status.QUEUED, Status.ANALYSING, Status.IMPORTING),
            "can_confirm": can_confirm,
            "changes": record.changes[:PREVIEW_ROWS],
            "more_changes": max(0, record.new + record.updated - PREVIEW_ROWS),
            "has_view_permission": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/members/importrecord/detail.html", context)

    def confirm_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        with transaction.atomic():
            record = self._record_for_update(request, pk)
            if record.status != Status.ANALYSED:
                messages.warning(
                    request,
                    _("Cet import n’est plus à confirmer (état : %(status)s).")
                    % {"status": record.get_status_display()},
                )
                return HttpResponseRedirect(self._record_url(record))
            if request.POST.get("skip_invalid"):
                record.skip_invalid = True
            if record.refused_rows and not record.skip_invalid:
                messages.error(
                    request,
                    _(
                        "Des lignes sont refusées : corrigez le fichier, ou cochez « importer "
                        "les lignes valides »."
                    ),
                )
                return HttpResponseRedirect(self._record_url(record))
            record.status = Status.IMPORTING
            record.save(update_fields=["status", "skip_invalid"])
        if record.rows > settings.IMPORT_BACKGROUND_ROWS:
            self._queue(record, dry_run=False)
        else:
            self._run(request, record, dry_run=False)
        return HttpResponseRedirect(self._record_url(record))

    def cancel_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        with transaction.atomic():
            record = self._record_for_update(request, pk)
            if record.status == Status.ANALYSED:
                record.status = Status.CANCELLED
                record.save(update_fields=["status"])
                messages.info(request, _("Import annulé : rien n’a été écrit."))
        return HttpResponseRedirect(reverse("admin:members_importrecord_changelist"))

    def file_view(self, request, pk):
        record = self.get_object(request, str(pk))
        if not self.has_view_permission(request, record) or not record.file:
            raise Http404
        return FileResponse(record.file.open("rb"), as_attachment=True, filename=record.file_name)

    # Helpers

    def _record_for_update(self, request, pk) -> ImportRecord:
        scoped = self.get_queryset(request).select_for_update(of=("self",))
        record = get_object_or_404(scoped, pk=pk)
        if not self._manages(request, record):
            raise PermissionDenied
        return record

    def _manages(self, request, record) -> bool:
        return (
            request.user.has_perm("members.add_importrecord")
            and clusters_managed_by(request.user).filter(pk=record.cluster_id).exists()
        )

    def _record_url(self, record) -> str:
        return reverse("admin:members_importrecord_change", args=[record.pk])

    def _queue(self, record, *, dry_run: bool) -> None:
        record.status = Status.QUEUED
        record.task_id = str(uuid.uuid4())
        record.save(update_fields=["status", "task_id"])
        transaction.on_commit(
            lambda: import_run.apply_async(
                (record.pk,), {"dry_run": dry_run}, task_id=record.task_id
            )
        )

    def _run(self, request, record, *, dry_run: bool) -> None:
        try:
            run_import(record, dry_run=dry_run)
        except (ImportUnusable, ImportFailed) as exc:
            messages.error(request, str(exc))
        else:
            if not dry_run and record.status == Status.IMPORTED:
                messages.success(
                    request,
                    _(
                        "Import terminé. Lignes nouvelles : %(new)s ; modifiées : %(updated)s ; "
                        "inchangées : %(unchanged)s."
                    )
                    % {"new": record.new, "updated": record.updated, "unchanged": record.unchanged},
                )


admin.site.register(ImportRecord, ImportRecordAdmin)
