"""The imports in the admin site: upload → preview → confirm, and the record of every import.

A cluster's staff import into the clusters they manage, from the memberships list ("Importer un
fichier"). The upload is kept privately and analysed (a dry run); the record's page then shows
what the import would do, row by row, and asks for confirmation. The record's states, and whether
a file is run in the request or by a Celery task (files of more than ``IMPORT_BACKGROUND_ROWS``
data rows, whose progress the page shows), are the services' of :mod:`members.imports.services`.
django-import-export's own admin import is not used: it dry-runs and imports again in the
request, holding every row's diff.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.admin.scoping import ClusterScopedAdminMixin, ClusterScopedRelatedFilter
from members.formatting import short_datetime
from members.imports.refused import (
    CONTENT_TYPES,
    refused_rows_file,
    refused_rows_filename,
    refused_rows_formats,
)
from members.imports.resources import PROFILES
from members.imports.selectors import WORKING, import_record_progress
from members.imports.services import (
    ImportFailed,
    ImportUnusable,
    import_file_size_check,
    import_profile_check,
    import_record_analyse,
    import_record_cancel,
    import_record_confirm,
    import_record_create,
)
from members.models import Cluster, ImportRecord
from members.selectors import clusters_managed_by

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
        if cluster and profile:
            try:
                import_profile_check(cluster=cluster, profile=profile)
            except ImportUnusable as refusal:
                self.add_error("profile", str(refusal))
        upload = data.get("file")
        if upload is not None:
            try:
                import_file_size_check(file_name=upload.name, size=upload.size)
            except ImportUnusable as refusal:
                self.add_error("file", str(refusal))
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
        return short_datetime(record.created_at)

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
            path(
                "<int:pk>/refused.<str:file_format>",
                view(self.refused_view),
                name=f"{prefix}_refused",
            ),
            *super().get_urls(),
        ]

    # Upload

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            record = import_record_create(
                cluster=form.cleaned_data["cluster"],
                profile=form.cleaned_data["profile"],
                file=form.cleaned_data["file"],
                file_name=form.cleaned_data["file"].name,
                source=ImportRecord.Source.ADMIN,
                user=request.user,
                skip_invalid=form.cleaned_data["skip_invalid"],
            )
            try:
                import_record_analyse(record=record)
            except ImportUnusable as exc:
                form.add_error("file", str(exc))
            except ImportFailed as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(self._record_url(record))
            else:
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
        can_confirm = record.status == Status.ANALYSED and self._manages(request, record)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import de « %(file)s »") % {"file": record.file_name},
            "record": record,
            "original": record,
            "progress": import_record_progress(record=record),
            "working": record.status in WORKING,
            "can_confirm": can_confirm,
            "changes": record.changes[:PREVIEW_ROWS],
            "more_changes": max(0, record.new + record.updated - PREVIEW_ROWS),
            "has_view_permission": True,
            "refused_formats": refused_rows_formats(record=record),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/members/importrecord/detail.html", context)

    def confirm_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        record = self._record_managed(request, pk)
        try:
            report = import_record_confirm(
                record=record, skip_invalid=bool(request.POST.get("skip_invalid"))
            )
        except ValidationError as error:
            level = messages.WARNING if error.code == "not_analysed" else messages.ERROR
            messages.add_message(request, level, error.messages[0])
        except (ImportUnusable, ImportFailed) as exc:
            messages.error(request, str(exc))
        else:
            if report is not None and report.written:
                messages.success(
                    request,
                    _(
                        "Import terminé. Lignes nouvelles : %(new)s ; modifiées : %(updated)s ; "
                        "inchangées : %(unchanged)s."
                    )
                    % {"new": report.new, "updated": report.updated, "unchanged": report.unchanged},
                )
        return HttpResponseRedirect(self._record_url(record))

    def cancel_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if import_record_cancel(record=self._record_managed(request, pk)):
            messages.info(request, _("Import annulé : rien n’a été écrit."))
        return HttpResponseRedirect(reverse("admin:members_importrecord_changelist"))

    def file_view(self, request, pk):
        record = self.get_object(request, str(pk))
        if not self.has_view_permission(request, record) or not record.file:
            raise Http404
        return FileResponse(record.file.open("rb"), as_attachment=True, filename=record.file_name)

    def refused_view(self, request, pk, file_format):
        """The refused rows of the import, to fix and upload again (members.imports.refused)."""
        record = get_object_or_404(self.get_queryset(request), pk=pk)
        formats = refused_rows_formats(record=record)
        if file_format not in formats:
            if formats or file_format not in CONTENT_TYPES:
                raise Http404
            messages.info(request, _("Cet import n’a aucune ligne refusée : rien à télécharger."))
            return HttpResponseRedirect(self._record_url(record))
        content = refused_rows_file(record=record, file_format=file_format)
        response = HttpResponse(content, content_type=CONTENT_TYPES[file_format])
        filename = refused_rows_filename(record=record, file_format=file_format)
        response["Content-Disposition"] = content_disposition_header(True, filename)
        return response

    # Helpers

    def _record_managed(self, request, pk) -> ImportRecord:
        record = get_object_or_404(self.get_queryset(request), pk=pk)
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


admin.site.register(ImportRecord, ImportRecordAdmin)
