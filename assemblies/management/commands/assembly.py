"""``python manage.py assembly results ID [--json]`` and ``python manage.py assembly minutes ID
--output FILE [--language en]``: an assembly's results, and its minutes as a PDF."""

import json
import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from assemblies.minutes import minutes_pdf
from assemblies.models import Assembly
from assemblies.selectors import AssemblyResults, assembly_results
from members.management.clusters import EXIT_UNUSABLE

#: The largest identifier a row can have (a 64-bit key): a larger number names no assembly.
LARGEST_ID = 2**63 - 1


def assembly_from_argument(value: str) -> Assembly:
    """The assembly whose identifier is ``value``, or a :class:`CommandError` (exit status 2)
    saying that ``value`` is not an identifier or names no assembly."""
    try:
        assembly_id = int(value.strip())
    except ValueError:
        assembly_id = 0
    if not 1 <= assembly_id <= LARGEST_ID:
        raise CommandError(
            _("Identifiant d’assemblée invalide « %(value)s » : attendu un nombre entier positif.")
            % {"value": value},
            returncode=EXIT_UNUSABLE,
        )
    assembly = Assembly.objects.select_related("cluster").filter(pk=assembly_id).first()
    if assembly is None:
        raise CommandError(
            _("Aucune assemblée n° %(id)s.") % {"id": assembly_id}, returncode=EXIT_UNUSABLE
        )
    return assembly


class Command(BaseCommand):
    help = (
        "A general assembly's results (attendance, quorum, each resolution's counts and "
        "outcome) and its minutes as a PDF. Exit status 2 on an unknown or malformed ID or a "
        "file that cannot be written."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="command", required=True)
        results = commands.add_parser(
            "results", help="Print the results of the assembly ID, as a table or as JSON."
        )
        results.add_argument("id", help="The assembly's identifier.")
        results.add_argument(
            "--json",
            action="store_true",
            help=(
                'Print {"eligible", "present", "represented", "quorum_met", "resolutions": '
                '[{"title", "for", "against", "abstain", "adopted"}]} and nothing else.'
            ),
        )
        minutes = commands.add_parser(
            "minutes", help="Write the minutes (procès-verbal) of the assembly ID as a PDF."
        )
        minutes.add_argument("id", help="The assembly's identifier.")
        minutes.add_argument("--output", required=True, help="The PDF file to write.")
        minutes.add_argument(
            "--language",
            choices=[code for code, _name in settings.LANGUAGES],
            default="fr",
            help="The minutes' language (default: fr).",
        )

    def handle(self, *args, command: str, **options):
        assembly = assembly_from_argument(options["id"])
        if command == "results":
            self.results(assembly, as_json=options["json"])
        else:
            self.minutes(assembly, output=options["output"], language=options["language"])

    def results(self, assembly: Assembly, *, as_json: bool) -> None:
        results = assembly_results(assembly=assembly)
        if as_json:
            self.stdout.write(json.dumps(results.as_json(), ensure_ascii=False))
            return
        self.stdout.write(results_table(assembly, results))

    def minutes(self, assembly: Assembly, *, output: str, language: str) -> None:
        content = minutes_pdf(assembly=assembly, language=language)
        try:
            with open(output, "wb") as file:
                file.write(content)
        except OSError as exc:
            raise CommandError(
                _("Impossible d’écrire %(file)s : %(error)s")
                % {"file": output, "error": exc.strerror},
                returncode=EXIT_UNUSABLE,
            ) from None
        self.stdout.write(
            _("Procès-verbal écrit dans %(file)s.") % {"file": os.path.abspath(output)},
            style_func=self.style.SUCCESS,
        )


def results_table(assembly: Assembly, results: AssemblyResults) -> str:
    """The results as lines of text: the attendance and quorum, then a row per resolution."""
    quorum = _("atteint") if results.quorum_met else _("non atteint")
    headers = [_("Résolution"), _("Pour"), _("Contre"), _("Abstention"), _("Résultat")]
    rows = [
        [
            f"{result.resolution.position}. {result.resolution.title}",
            *(
                "–" if count is None else str(count)
                for count in (result.votes_for, result.against, result.abstain)
            ),
            _("vote secret en cours")
            if result.adopted is None
            else _("adoptée")
            if result.adopted
            else _("non adoptée"),
        ]
        for result in results.resolutions
    ]
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(5)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if column in (0, 4) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join(
        [
            f"{assembly} ({assembly.get_state_display()})",
            _(
                "Voix : %(eligible)s · présentes : %(present)s · représentées : "
                "%(represented)s · quorum : %(quorum)s"
            )
            % {
                "eligible": results.eligible,
                "present": results.present,
                "represented": results.represented,
                "quorum": quorum,
            },
            "",
            line(headers),
            *(line(row) for row in rows),
        ]
    )
