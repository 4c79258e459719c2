"""``python manage.py export_members``: export memberships in the standard format."""

import os

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from members.imports.export import (
    CONTENT_TYPES,
    export_filename,
    memberships_dataset,
    render_dataset,
)
from members.management.clusters import EXIT_UNUSABLE, cluster_from_slug
from members.selectors import memberships_in

#: The --output that means standard output.
STDOUT = "-"


class Command(BaseCommand):
    help = (
        "Export memberships with their organisation, latest term and contacts in the standard "
        "format (one row per contact), which the standard import profile reads back unchanged. "
        "Default: every cluster, XLSX, in the current directory as "
        "adherents-<cluster or tous>-<date>.xlsx; --output - writes CSV to stdout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cluster", help="Slug of the cluster (default: every cluster).")
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(CONTENT_TYPES),
            help="xlsx (default) or csv (default with --output -).",
        )
        parser.add_argument(
            "--output",
            help="File to write (default: the conventional name in the current directory); "
            "- for stdout (CSV only).",
        )

    def handle(self, *args, cluster, file_format, output, **options):
        cluster_obj = None
        if cluster is not None:
            cluster_obj = cluster_from_slug(cluster)
        to_stdout = output == STDOUT
        file_format = file_format or ("csv" if to_stdout else "xlsx")
        if to_stdout and file_format != "csv":
            raise CommandError(
                _("Seul le format CSV s’écrit sur la sortie standard (--format csv)."),
                returncode=EXIT_UNUSABLE,
            )

        dataset = memberships_dataset(memberships_in(cluster=cluster_obj))
        content = render_dataset(dataset, file_format=file_format)

        if to_stdout:
            self.stdout.write(content.decode("utf-8"), ending="")
            report = self.stderr
            where = _("la sortie standard")
        else:
            output = output or export_filename(cluster=cluster_obj, file_format=file_format)
            try:
                with open(output, "wb") as file:
                    file.write(content)
            except OSError as exc:
                raise CommandError(
                    _("Impossible d’écrire %(file)s : %(error)s")
                    % {"file": output, "error": exc.strerror},
                    returncode=EXIT_UNUSABLE,
                ) from None
            report = self.stdout
            where = os.path.abspath(output)
        report.write(
            ngettext(
                "%(rows)d ligne exportée dans %(where)s.",
                "%(rows)d lignes exportées dans %(where)s.",
                dataset.height,
            )
            % {"rows": dataset.height, "where": where},
            style_func=self.style.SUCCESS,
        )
