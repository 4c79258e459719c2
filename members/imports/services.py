"""Importing a member spreadsheet: the services the admin, the Celery task and the
``import_members`` command call.

Semantics (tests/samples/README.md): all or nothing by default, in one transaction; with
``skip_invalid`` the valid rows are written and the refused ones reported; a dry run writes
nothing and reports exactly what the import would do. Every run is an :class:`ImportRecord`,
with the file kept privately.

The admin's workflow is a record's states: :func:`import_record_create` (queued), then
:func:`import_record_analyse` (a dry run: analysed, or unusable), :func:`import_record_confirm`
(imported, or refused) or :func:`import_record_cancel`. Files of more than
``IMPORT_BACKGROUND_ROWS`` data rows are analysed and imported by the Celery task
:func:`members.tasks.import_run`, which calls :func:`import_record_run`; smaller ones in the
caller's request. The command line records and runs a file in one call,
:func:`import_file_run`.
"""

import hashlib
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Cluster, ImportRecord
from members.texts import Text, TextError, text_render, text_store

from .readers import UnreadableFile
from .resources import PROFILES, MemberRowResource
from .tables import read_table

logger = logging.getLogger(__name__)


Status = ImportRecord.Status


class ImportUnusable(TextError):
    """The file cannot be imported at all (unreadable, wrong profile, missing columns, too big);
    ``exc.texts`` say why (:class:`members.texts.TextError`), ``str(exc)`` in the active
    language."""


@dataclass
class ImportReport:
    """What an import did, or would do. :meth:`as_json` is the ``--json`` contract."""

    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: list[dict] = field(default_factory=list)
    refused_rows: int = 0
    dry_run: bool = False
    skip_invalid: bool = False
    written: bool = False
    warnings: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "rows": self.rows,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "refused": [
                {**refusal, "message": text_render(refusal["message"])} for refusal in self.refused
            ],
            "dry_run": self.dry_run,
            "written": self.written,
        }

    @property
    def stopped(self) -> bool:
        """Refused rows stopped the import (nothing written), or would have (a dry run)."""
        return bool(self.refused_rows) and not self.skip_invalid


def import_profile_check(*, cluster: Cluster, profile: str) -> None:
    """Raise :class:`ImportUnusable` unless ``profile`` may import into ``cluster``: a known
    format, and either the cluster's own files' or the standard one (the two clusters' formats
    carry their own plans and sites)."""
    if profile not in PROFILES:
        raise ImportUnusable(
            Text("import.profile_unknown", profile=profile, profiles=", ".join(PROFILES))
        )
    if profile not in (cluster.slug, "standard"):
        raise ImportUnusable(
            Text(
                "import.profile_of_another_cluster",
                owner=PROFILES[profile].label,
                cluster=str(cluster),
            )
        )


def import_file_size_check(*, file_name: str, size: int) -> None:
    """Raise :class:`ImportUnusable` when a file of ``size`` bytes is over
    ``IMPORT_MAX_FILE_SIZE``: it is not read, whatever brought it."""
    if size > settings.IMPORT_MAX_FILE_SIZE:
        raise ImportUnusable(
            Text(
                "import.file_size",
                file=os.path.basename(file_name),
                size=filesizeformat(size),
                max=filesizeformat(settings.IMPORT_MAX_FILE_SIZE),
            )
        )


def import_record_create(
    *,
    cluster: Cluster,
    profile: str,
    file,
    file_name: str,
    source: str,
    user=None,
    dry_run: bool = False,
    skip_invalid: bool = False,
) -> ImportRecord:
    """A new record of an import of ``file`` (a path or a Django ``File``), the file kept in the
    private import storage. A file over ``IMPORT_MAX_FILE_SIZE`` is recorded as unusable and not
    kept; :func:`import_record_run` then refuses it before reading it. A profile that may not
    import into ``cluster`` is refused first (:func:`import_profile_check`)."""
    import_profile_check(cluster=cluster, profile=profile)
    if isinstance(file, str | os.PathLike):
        file = File(open(file, "rb"), name=os.path.basename(file))  # noqa: SIM115
    with file:
        digest = hashlib.sha256()
        for chunk in file.chunks():
            digest.update(chunk)
        record = ImportRecord(
            cluster=cluster,
            profile=profile,
            source=source,
            created_by=user,
            file_name=os.path.basename(file_name)[:255],
            file_sha256=digest.hexdigest(),
            file_size=file.size,
            dry_run=dry_run,
            skip_invalid=skip_invalid,
            status=Status.QUEUED,
        )
        try:
            import_file_size_check(file_name=record.file_name, size=file.size)
        except ImportUnusable:
            pass  # recorded without its file: the run refuses it with the reason
        else:
            file.seek(0)
            record.file.save(record.file_name, file, save=False)
    record.save()
    return record


def import_record_run(
    *,
    record: ImportRecord,
    dry_run: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import (or, with ``dry_run``, analyse) the record's file into its cluster, and store the
    report in the record. Raises :class:`ImportUnusable` when the file cannot be imported."""
    dry_run = record.dry_run if dry_run is None else dry_run
    resource_class = PROFILES[record.profile]
    record.status = Status.ANALYSING if dry_run else Status.IMPORTING
    record.finished_at = None
    record.save(update_fields=["status", "finished_at"])
    try:
        import_file_size_check(file_name=record.file_name, size=record.file_size)
        table = read_table(record.file.path, resource_class, filename=record.file_name)
    except (ImportUnusable, UnreadableFile) as exc:
        _finish(record, Status.UNUSABLE, message=text_store(exc.texts))
        raise ImportUnusable(*exc.texts) from exc

    resource = resource_class(cluster=record.cluster, progress=progress)
    resource.header_of.update(table.header_of)
    try:
        result = resource.import_data(
            table.dataset,
            dry_run=dry_run,
            use_transactions=True,
            rollback_on_validation_errors=not record.skip_invalid,
            skip_invalid=record.skip_invalid,
        )
    except Exception as exc:
        logger.exception("Import %s failed", record.pk)
        _finish(record, Status.FAILED, message=str(exc))
        raise
    if result.has_errors():
        error = (result.base_errors or [row.errors[0] for row in result.rows if row.errors])[0]
        logger.error("Import %s failed: %s\n%s", record.pk, error.error, error.traceback)
        _finish(record, Status.FAILED, message=str(error.error))
        raise ImportFailed(
            _("L’import a échoué, rien n’a été écrit : %(error)s") % {"error": error.error}
        )

    report = ImportReport(
        rows=len(table.dataset),
        new=result.totals["new"],
        updated=result.totals["update"],
        unchanged=result.totals["skip"],
        refused=resource.refusals(result),
        refused_rows=len(result.invalid_rows),
        dry_run=dry_run,
        skip_invalid=record.skip_invalid,
    )
    report.written = not dry_run and not (report.refused_rows and not record.skip_invalid)
    report.warnings = [
        *({"row": None, "message": message} for message in table.warnings),
        *resource.warnings,
    ]
    report.changes = resource.changes
    if dry_run:
        status = Status.SIMULATED if record.dry_run else Status.ANALYSED
    else:
        status = Status.IMPORTED if report.written else Status.REFUSED
    _finish(record, status, report=report)
    return report


class ImportFailed(Exception):
    """The import broke off (a database error, a bug): nothing was written."""


def _finish(record: ImportRecord, status: str, *, report=None, message="") -> None:
    """Record the end of ``record``'s run: its status, and its report or the ``message`` that
    says why it stopped (stored texts, or the error's own words for a failure)."""
    record.status = status
    record.message = message
    record.finished_at = timezone.now()
    fields = ["status", "message", "finished_at"]
    if report is not None:
        record.rows = report.rows
        record.new = report.new
        record.updated = report.updated
        record.unchanged = report.unchanged
        record.refused_rows = report.refused_rows
        # Like the warnings and the preview, at most so many refusals are kept in the record;
        # their texts as codes and values, shown in the language of whoever reads the record.
        record.refused = text_store(report.refused[: MemberRowResource.DETAILS_KEPT])
        record.warnings = text_store(report.warnings[: MemberRowResource.DETAILS_KEPT])
        record.changes = text_store(report.changes)
        fields += ["rows", "new", "updated", "unchanged", "refused_rows", "refused"]
        fields += ["warnings", "changes"]
    with transaction.atomic():
        record.save(update_fields=fields)


def import_file_run(
    *,
    path,
    cluster: Cluster,
    profile: str,
    dry_run: bool = False,
    skip_invalid: bool = False,
    user=None,
    source: str = ImportRecord.Source.COMMAND,
) -> tuple[ImportRecord, ImportReport]:
    """Record and run an import of the file at ``path`` in one call (the command line's way)."""
    record = import_record_create(
        cluster=cluster,
        profile=profile,
        file=path,
        file_name=os.path.basename(path),
        source=source,
        user=user,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
    )
    return record, import_record_run(record=record)


def import_record_analyse(*, record: ImportRecord) -> ImportReport | None:
    """Analyse the file of a new record (a dry run): in the background for a file of more than
    ``IMPORT_BACKGROUND_ROWS`` data rows (returns ``None``), else now (returns the report).

    Raises :class:`ImportUnusable` for a file that cannot be read (the record says so), and what
    :func:`import_record_run` raises."""
    try:
        table = read_table(record.file.path, PROFILES[record.profile], filename=record.file_name)
    except UnreadableFile as exc:
        _finish(record, Status.UNUSABLE, message=text_store(exc.texts))
        raise ImportUnusable(*exc.texts) from exc
    return _import_record_start(record=record, dry_run=True, rows=len(table.dataset))


def import_record_confirm(
    *, record: ImportRecord, skip_invalid: bool = False
) -> ImportReport | None:
    """Import the file of an analysed record, as its analysis showed; with ``skip_invalid``, the
    valid rows even if others are refused. In the background for a large file (returns
    ``None``), else now (returns the report).

    Raises :class:`ValidationError` when the record is no longer to confirm (code
    ``"not_analysed"``: confirmed or cancelled meanwhile) or has refused rows and
    ``skip_invalid`` is not asked for (code ``"refused_rows"``), and what
    :func:`import_record_run` raises."""
    with transaction.atomic():
        record = (
            ImportRecord.objects.select_for_update(of=("self",))
            .select_related("cluster")
            .get(pk=record.pk)
        )
        if record.status != Status.ANALYSED:
            raise ValidationError(
                _("Cet import n’est plus à confirmer (état : %(status)s).")
                % {"status": record.get_status_display()},
                code="not_analysed",
            )
        record.skip_invalid = record.skip_invalid or skip_invalid
        if record.refused_rows and not record.skip_invalid:
            raise ValidationError(
                _(
                    "Des lignes sont refusées : corrigez le fichier, ou cochez « importer "
                    "les lignes valides »."
                ),
                code="refused_rows",
            )
        record.status = Status.IMPORTING
        record.save(update_fields=["status", "skip_invalid"])
    return _import_record_start(record=record, dry_run=False, rows=record.rows)


def import_record_cancel(*, record: ImportRecord) -> bool:
    """Cancel an analysed record (nothing was written); whether it was still to confirm."""
    with transaction.atomic():
        locked = ImportRecord.objects.select_for_update().get(pk=record.pk)
        if locked.status != Status.ANALYSED:
            return False
        locked.status = Status.CANCELLED
        locked.save(update_fields=["status"])
    record.status = locked.status
    return True


def _import_record_start(*, record: ImportRecord, dry_run: bool, rows: int) -> ImportReport | None:
    """Run the import of ``record`` now, or queue it for a Celery worker when its file has more
    than ``IMPORT_BACKGROUND_ROWS`` data rows."""
    if rows <= settings.IMPORT_BACKGROUND_ROWS:
        return import_record_run(record=record, dry_run=dry_run)
    # The task calls this module's services: imported when one is queued.
    from members.tasks import import_run

    record.status = Status.QUEUED
    record.task_id = str(uuid.uuid4())
    record.save(update_fields=["status", "task_id"])
    transaction.on_commit(
        lambda: import_run.apply_async((record.pk,), {"dry_run": dry_run}, task_id=record.task_id)
    )
    return None
