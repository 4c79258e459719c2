"""The accounting export in the admin (*Factures → Export comptable*), and each cluster's
journals and accounts, an inline of the cluster's page.

The export is for whoever keeps a cluster's books: its staff (and superusers), for their own
clusters only; the merger committee, which reads every cluster's data, does not export it. The
form is sent by GET: the same address downloads the same file again.
"""

import datetime as dt
import tempfile

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.accounting import (
    CONTENT_TYPES,
    accounting_export,
    accounting_export_check,
    fec_filename,
)
from members.models import AccountingSettings, Cluster
from members.selectors import clusters_managed_by

FORMAT_CHOICES = (
    ("fec", _("FEC (fichier des écritures comptables, .txt)")),
    ("csv", _("CSV (tableur)")),
    ("xlsx", _("XLSX (Excel, LibreOffice)")),
)


class AccountingSettingsInline(admin.StackedInline):
    """A cluster's journals and accounts, on its page: its defaults until someone changes them."""

    model = AccountingSettings
    can_delete = False
    max_num = 1
    min_num = 0
    extra = 1
    verbose_name = _("paramètres comptables (export FEC)")
    verbose_name_plural = _("paramètres comptables (export FEC)")
    fieldsets = (
        (
            _("Journaux"),
            {
                "fields": (
                    ("sales_journal_code", "sales_journal_label"),
                    ("bank_journal_code", "bank_journal_label"),
                    ("card_journal_code", "card_journal_label"),
                    ("misc_journal_code", "misc_journal_label"),
                )
            },
        ),
        (
            _("Comptes"),
            {
                "fields": (
                    ("fees_account", "fees_account_label"),
                    ("customers_account", "customers_account_label"),
                    ("bank_account", "bank_account_label"),
                    ("card_account", "card_account_label"),
                    ("cheque_account", "cheque_account_label"),
                ),
                "description": _(
                    "Par défaut, le plan comptable des associations. Chaque adhérent a son "
                    "compte auxiliaire dans le compte des adhérents : son numéro d’adhérent."
                ),
            },
        ),
    )


class AccountingExportForm(forms.Form):
    """Which cluster's accounting to export, for which period, in which format."""

    cluster = forms.ModelChoiceField(label=_("Cluster"), queryset=Cluster.objects.none())
    start = forms.DateField(label=_("Du"), widget=AdminDateWidget)
    end = forms.DateField(label=_("Au (inclus)"), widget=AdminDateWidget)
    file_format = forms.ChoiceField(label=_("Format"), choices=FORMAT_CHOICES, initial="fec")

    def __init__(self, *args, clusters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cluster"].queryset = clusters

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                accounting_export_check(
                    cluster=data["cluster"], start=data["start"], end=data["end"]
                )
            except ValidationError as exc:
                self.add_error(None, exc)
        return data


def accounting_export_view(model_admin: admin.ModelAdmin, request):
    """The export's form; once it is valid, the file."""
    clusters = clusters_managed_by(request.user)
    if not clusters.exists():
        raise PermissionDenied
    if "cluster" in request.GET:
        form = AccountingExportForm(request.GET, clusters=clusters)
    else:
        last_year = timezone.localdate().year - 1
        form = AccountingExportForm(
            clusters=clusters,
            initial={
                "cluster": clusters.order_by("kind", "name").first(),
                "start": dt.date(last_year, 1, 1),
                "end": dt.date(last_year, 12, 31),
            },
        )
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        file_format = data["file_format"]
        # Written to a temporary file, not held in memory, then sent from it.
        file = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        accounting_export(
            cluster=data["cluster"],
            start=data["start"],
            end=data["end"],
            file_format=file_format,
            file=file,
        )
        file.seek(0)
        return FileResponse(
            file,
            as_attachment=True,
            filename=fec_filename(
                cluster=data["cluster"], end=data["end"], file_format=file_format
            ),
            content_type=CONTENT_TYPES[file_format],
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "form": form,
        "media": model_admin.media + form.media,
        "title": _("Export comptable"),
    }
    return TemplateResponse(request, "admin/members/invoice/accounting_export.html", context)
