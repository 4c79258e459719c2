"""``python manage.py send_reminders``: the reminder pass that Celery beat runs every morning."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from members.formatting import short_date
from members.management.clusters import day_from_argument
from members.services.reminders import reminders_schedule


class Command(BaseCommand):
    help = (
        "Record the renewal reminders due today in the ledger and queue them for the Celery "
        "workers: the pass that Celery beat runs daily at 08:00. Running it again the same day "
        "records nothing twice. After days without a pass, only each membership's most recent "
        "due reminder goes out, if it is not older than its policy's maximal lateness."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--today", help="Run the pass as of this date (YYYY-MM-DD); default: today."
        )
        parser.add_argument("--dry-run", action="store_true", help="Count; record nothing.")
        parser.add_argument(
            "--json",
            action="store_true",
            help='Print {"today", "due", "scheduled", "already_sent"} as JSON and nothing else.',
        )

    def handle(self, *args, today, dry_run, json: bool, **options):
        day = day_from_argument(today) if today else None
        try:
            result = reminders_schedule(today=day, dry_run=dry_run)
        except OperationalError as error:
            # The ledger is committed; the entries not queued are queued by the next pass.
            raise CommandError(
                _(
                    "Relances enregistrées, mais la file des tâches (Celery) est injoignable : "
                    "%(error)s. Le prochain passage les remettra en file."
                )
                % {"error": error}
            ) from None
        if json:
            self.stdout.write(_json_dumps(result.as_json()))
            return
        values = {
            "today": short_date(result.today),
            "due": result.due,
            "scheduled": result.scheduled,
            "already_sent": result.already_sent,
        }
        if dry_run:
            message = _(
                "Simulation du %(today)s : %(due)d relance(s) due(s), %(scheduled)d à programmer, "
                "%(already_sent)d déjà programmée(s). Rien n’a été enregistré."
            )
        else:
            message = _(
                "Passage du %(today)s : %(due)d relance(s) due(s), %(scheduled)d programmée(s), "
                "%(already_sent)d déjà programmée(s) par un passage précédent."
            )
        self.stdout.write(message % values)
        if result.requeued:
            self.stdout.write(
                _(
                    "%(count)d relance(s) d’un passage précédent, restée(s) en attente, "
                    "remise(s) en file."
                )
                % {"count": result.requeued}
            )


def _json_dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
