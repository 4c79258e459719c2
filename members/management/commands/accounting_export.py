"""``python manage.py accounting_export``: a cluster's accounting for a period, as its FEC."""

import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from members import formatting
from members.accounting import (
    WRITERS,
    accounting_export,
    accounting_export_check,
    fec_filename,
)
from members.management.clusters import EXIT_UNUSABLE, cluster_from_slug, day_from_argument


class Command(BaseCommand):
    help = (
        "Write the accounting entries of a cluster's invoices, credit notes, payments and "
        "refunds dated in a period: its FEC (fichier des écritures comptables), named "
        "<SIREN>FEC<YYYYMMDD>.txt after the period's last day in the current directory, or the "
        "same lines as CSV or XLSX. Exit status 2 on unusable input (unknown cluster, bad "
        "dates, a period ending before it starts, a cluster without SIREN)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cluster", required=True, help="Slug of the cluster.")
        parser.add_argument(
            "--from", dest="start", required=True, help="First day (YYYY-MM-DD), included."
        )
        parser.add_argument(
            "--to", dest="end", required=True, help="Last day (YYYY-MM-DD), included."
        )
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=sorted(WRITERS),
            default="fec",
            help="fec (default), csv or xlsx.",
        )
        parser.add_argument(
            "--output", help="File to write (default: the FEC's name in the current directory)."
        )

    def handle(self, *args, cluster, start, end, file_format, output, **options):
        cluster = cluster_from_slug(cluster)
        start, end = day_from_argument(start), day_from_argument(end)
        try:
            accounting_export_check(cluster=cluster, start=start, end=end)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages), returncode=EXIT_UNUSABLE) from None
        output = output or fec_filename(cluster=cluster, end=end, file_format=file_format)
        try:
            with open(output, "wb") as file:
                summary = accounting_export(
                    cluster=cluster, start=start, end=end, file_format=file_format, file=file
                )
        except OSError as exc:
            raise CommandError(
                _("Impossible d’écrire %(file)s : %(error)s")
                % {"file": output, "error": exc.strerror},
                returncode=EXIT_UNUSABLE,
            ) from None
        self.stdout.write(
            _(
                "%(entries)d écritures (%(lines)d lignes, total des débits = total des crédits = "
                "%(total)s) écrites dans %(file)s."
            )
            % {
                "entries": summary.entries,
                "lines": summary.lines,
                "total": formatting.money(summary.debit),
                "file": os.path.abspath(output),
            },
            style_func=self.style.SUCCESS,
        )
