"""``python manage.py import_members``: import a cluster's member spreadsheet."""

import json
import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.imports.resources import PROFILES
from members.imports.services import (
    ImportFailed,
    ImportUnusable,
    import_file_run,
    import_profile_check,
)
from members.management.clusters import EXIT_UNUSABLE, cluster_from_slug

#: Exit statuses: written (or a dry run that found nothing refused); refused rows stopped it (or a
#: dry run found some). Unusable input exits with EXIT_UNUSABLE (2).
EXIT_REFUSED = 1


class Command(BaseCommand):
    help = (
        "Import a member spreadsheet (XLSX, CSV or ODS) into a cluster: organisations by SIRET, "
        "memberships by member number, their terms and contacts. All or nothing unless "
        "--skip-invalid; --dry-run writes nothing and reports what would change. Exit status: 0 "
        "written (or a dry run with nothing refused), 1 refused rows stopped it, 2 unusable input."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The spreadsheet to import.")
        parser.add_argument(
            "--cluster", required=True, help="Slug of the cluster, e.g. digitalplace."
        )
        parser.add_argument(
            "--profile", required=True, help=f"Format of the file: {', '.join(PROFILES)}."
        )
        parser.add_argument("--dry-run", action="store_true", help="Write nothing; report.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Write the valid rows and report the refused ones (default: all or nothing).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print one JSON object on stdout and nothing else."
        )

    def handle(self, *args, file, cluster, profile, dry_run, skip_invalid, json: bool, **options):
        verbosity = options["verbosity"]
        cluster_obj = cluster_from_slug(cluster)
        try:
            import_profile_check(cluster=cluster_obj, profile=profile)
        except ImportUnusable as exc:
            raise CommandError(str(exc), returncode=EXIT_UNUSABLE) from None
        if not os.path.isfile(file) or not os.access(file, os.R_OK):
            raise CommandError(
                _("Fichier introuvable ou illisible : %(file)s") % {"file": file},
                returncode=EXIT_UNUSABLE,
            )
        try:
            record, report = import_file_run(
                path=file,
                cluster=cluster_obj,
                profile=profile,
                dry_run=dry_run,
                skip_invalid=skip_invalid,
            )
        except ImportUnusable as exc:
            raise CommandError(str(exc), returncode=EXIT_UNUSABLE) from None
        except ImportFailed as exc:
            # A database error or a bug: logged with its traceback, nothing written.
            raise CommandError(str(exc), returncode=EXIT_REFUSED) from None

        if json:
            self.stdout.write(_json_dumps(report.as_json()))
        else:
            self._print_report(record, report, verbosity)
        if report.refused_rows and report.dry_run:
            # Exit 0 is for a dry run that found nothing refused, with or without --skip-invalid.
            raise CommandError(
                ngettext(
                    "Simulation : %(count)d ligne refusée.",
                    "Simulation : %(count)d lignes refusées.",
                    report.refused_rows,
                )
                % {"count": report.refused_rows},
                returncode=EXIT_REFUSED,
            )
        if report.stopped:
            raise CommandError(
                ngettext(
                    "%(count)d ligne refusée : rien n’a été écrit (--skip-invalid pour écrire "
                    "les lignes valides).",
                    "%(count)d lignes refusées : rien n’a été écrit (--skip-invalid pour écrire "
                    "les lignes valides).",
                    report.refused_rows,
                )
                % {"count": report.refused_rows},
                returncode=EXIT_REFUSED,
            )

    def _print_report(self, record, report, verbosity: int) -> None:
        write = self.stdout.write
        write(
            _(
                "%(file)s → %(cluster)s (profil %(profile)s). Lignes : %(rows)d ; nouvelles : "
                "%(new)d ; modifiées : %(updated)d ; inchangées : %(unchanged)d ; refusées : "
                "%(refused)d."
            )
            % {
                "file": record.file_name,
                "cluster": record.cluster,
                "profile": record.profile,
                "rows": report.rows,
                "new": report.new,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "refused": report.refused_rows,
            }
        )
        for refusal in report.refused:
            write(
                _("  refusée ligne %(row)d, colonne « %(column)s » : %(message)s") % refusal,
                style_func=self.style.ERROR,
            )
        if verbosity > 1:
            for warning in report.warnings:
                prefix = _("ligne %(row)d : ") % warning if warning["row"] else ""
                write(f"  {prefix}{warning['message']}", style_func=self.style.WARNING)
        elif report.warnings:
            write(
                _("Avertissements : %(count)d (-v 2 pour les voir).")
                % {"count": len(report.warnings)}
            )
        if report.written:
            write(_("Import écrit (enregistrement n° %(id)d).") % {"id": record.pk})
        elif report.dry_run:
            write(_("Simulation : rien n’a été écrit."))


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
