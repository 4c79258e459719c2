"""The record of every spreadsheet import: who, when, which file, what it did, what it refused."""

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext_lazy as _

from members.formatting import short_datetime

from .clusters import Cluster


def import_storage() -> FileSystemStorage:
    """Where imported files are kept: a private folder, outside ``MEDIA_ROOT``, with no URL (the
    files hold personal data; staff download them through the admin, scoped to their cluster)."""
    return FileSystemStorage(location=settings.IMPORT_FILES_ROOT, base_url=None)


def import_file_path(record: "ImportRecord", filename: str) -> str:
    return f"{record.cluster.slug}/{record.file_sha256[:16]}/{filename}"


class ImportRecord(models.Model):
    """One import of a member spreadsheet into a cluster, from the admin or the command line,
    dry runs included. Its counts and refused rows are the import's report."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("En file d’attente")
        ANALYSING = "analysing", _("Analyse en cours")
        ANALYSED = "analysed", _("Analysé, à confirmer")
        IMPORTING = "importing", _("Import en cours")
        IMPORTED = "imported", _("Importé")
        SIMULATED = "simulated", _("Simulation")
        REFUSED = "refused", _("Refusé (lignes invalides)")
        UNUSABLE = "unusable", _("Fichier inutilisable")
        FAILED = "failed", _("Échec")
        CANCELLED = "cancelled", _("Annulé")

    class Profile(models.TextChoices):
        """The spreadsheet formats (``members.imports.resources.PROFILES``)."""

        DIGITALPLACE = "digitalplace", "DigitalPlace"
        FRENCHSOUTH = "frenchsouth", "FrenchSouth.digital"
        STANDARD = "standard", _("Format standard (export de ce site)")

    class Source(models.TextChoices):
        ADMIN = "admin", _("Site d’administration")
        COMMAND = "command", _("Ligne de commande")

    cluster = models.ForeignKey(
        Cluster, verbose_name=_("cluster"), on_delete=models.PROTECT, related_name="imports"
    )
    profile = models.CharField(_("profil"), max_length=20, choices=Profile.choices)
    source = models.CharField(_("origine"), max_length=10, choices=Source.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("déposé par"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("déposé le"), auto_now_add=True)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    file = models.FileField(
        _("fichier"),
        storage=import_storage,
        upload_to=import_file_path,
        max_length=300,
        blank=True,
        help_text=_("Vide quand le fichier dépassait la taille maximale et n’a pas été gardé."),
    )
    file_name = models.CharField(_("nom du fichier"), max_length=255)
    file_sha256 = models.CharField(_("SHA-256 du fichier"), max_length=64)
    file_size = models.PositiveBigIntegerField(_("taille (octets)"))
    dry_run = models.BooleanField(_("simulation"), default=False)
    skip_invalid = models.BooleanField(_("lignes refusées ignorées"), default=False)
    status = models.CharField(_("état"), max_length=10, choices=Status.choices)
    task_id = models.CharField(_("tâche Celery"), max_length=50, blank=True)
    rows = models.PositiveIntegerField(_("lignes"), default=0)
    new = models.PositiveIntegerField(_("nouvelles"), default=0)
    updated = models.PositiveIntegerField(_("modifiées"), default=0)
    unchanged = models.PositiveIntegerField(_("inchangées"), default=0)
    refused_rows = models.PositiveIntegerField(_("refusées"), default=0)
    refused = models.JSONField(
        _("refus"),
        default=list,
        blank=True,
        help_text="[{row, column, message}]: message a stored text (members.texts)",
    )
    warnings = models.JSONField(_("avertissements"), default=list, blank=True)
    changes = models.JSONField(
        _("aperçu des changements"),
        default=list,
        blank=True,
        help_text=_("Les premières lignes nouvelles ou modifiées, avec leurs changements."),
    )
    message = models.JSONField(
        _("message"),
        default=str,
        blank=True,
        help_text=_("Pourquoi le fichier n’a pas pu être importé."),
    )
    """Why the run stopped: stored texts (:mod:`members.texts`, shown in the reader's language),
    or the words of the error that broke it off."""

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["cluster", "-created_at"], name="import_cluster_date_idx")]

    def __str__(self) -> str:
        return f"{self.file_name} → {self.cluster} ({short_datetime(self.created_at)})"

    @property
    def written(self) -> bool:
        return self.status == self.Status.IMPORTED
