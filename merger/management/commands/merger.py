"""``python manage.py merger``: the merger from the command line, the same services as the admin.

    merger propose [--as-of YYYY-MM-DD] [--json]
    merger duplicates [--json]
    merger decide {approve,reject,defer} (--all | --id N [N ...]) --reason TEXT --by EMAIL [--json]
    merger notify [--json]
    merger execute [--dry-run] [--json]
    merger report [--year YYYY] [--json]

With ``--json`` each prints one JSON object and nothing else; the exit status is 0 on success,
1 when some proposals could not be decided or executed, 2 on unusable input, the reason said on
stderr.
"""

import json
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from members.formatting import money, short_date
from members.management.clusters import EXIT_UNUSABLE, day_from_argument
from members.selectors import user_active_by_login
from merger.models import Decision, TransferProposal
from merger.selectors import merger_current, merger_proposal_ids, merger_report
from merger.services import (
    duplicates_refresh,
    merger_execute,
    notices_queue,
    proposals_refresh,
    transfer_decide,
)

#: Exit status when some proposals could not be decided or executed.
EXIT_INCOMPLETE = 1
#: The verbs of ``merger decide`` and the decisions they take.
VERBS = {"approve": Decision.APPROVED, "reject": Decision.REJECTED, "defer": Decision.DEFERRED}


def _date(value: date | None) -> str:
    return short_date(value) if value else "–"


class Command(BaseCommand):
    help = (
        "The merger of the source clusters into the successor: propose the transfers, find the "
        "duplicate records, decide, inform the members, execute, report."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        json_help = "Print one JSON object on stdout and nothing else."

        propose = actions.add_parser(
            "propose", help="Create or refresh one transfer proposal per transferring member."
        )
        propose.add_argument(
            "--as-of", help="Facts as of this date (YYYY-MM-DD); default: the planned date."
        )
        propose.add_argument("--json", action="store_true", help=json_help)

        duplicates = actions.add_parser(
            "duplicates", help="Find the organisation records that may be one company."
        )
        duplicates.add_argument("--json", action="store_true", help=json_help)

        decide = actions.add_parser("decide", help="Approve, reject or defer proposals.")
        decide.add_argument("decision", choices=VERBS)
        which = decide.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every proposal awaiting a decision.")
        which.add_argument("--id", type=int, nargs="+", dest="ids", help="Proposal ids.")
        decide.add_argument("--reason", required=True, help="Why (kept with the decision).")
        decide.add_argument("--by", required=True, help="E-mail of the deciding user.")
        decide.add_argument("--json", action="store_true", help=json_help)

        notify = actions.add_parser(
            "notify", help="E-mail the contacts of the transferring members (GDPR notice)."
        )
        notify.add_argument("--json", action="store_true", help=json_help)

        execute = actions.add_parser("execute", help="Execute the approved transfers.")
        execute.add_argument(
            "--dry-run",
            action="store_true",
            help="Show the successor as it would be; write nothing.",
        )
        execute.add_argument("--json", action="store_true", help=json_help)

        report = actions.add_parser("report", help="The merger's figures.")
        report.add_argument("--year", type=int, help="Year of the revenue; default: this year.")
        report.add_argument("--json", action="store_true", help=json_help)

    def handle(self, *args, action: str, **options):
        merger = merger_current()
        if merger is None:
            raise CommandError(
                _("Aucune fusion n’est enregistrée : lancez `python manage.py migrate`."),
                returncode=EXIT_UNUSABLE,
            )
        self.json = options["json"]
        try:
            getattr(self, f"_{action}")(merger, **options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages), returncode=EXIT_UNUSABLE) from None

    def _print(self, value: dict, text: str) -> None:
        self.stdout.write(json.dumps(value, ensure_ascii=False) if self.json else text)

    # Actions

    def _propose(self, merger, *, as_of, **options):
        result = proposals_refresh(merger=merger, as_of=day_from_argument(as_of) if as_of else None)
        self._print(result.as_json(), result.summary())

    def _duplicates(self, merger, **options):
        result = duplicates_refresh()
        lines = [
            _("%(count)d doublon(s) possible(s) à examiner (%(new)d nouveau(x)).")
            % {"count": len(result.pairs), "new": result.created}
        ]
        for pair in result.pairs:
            lines.append(
                f"{pair.score:.2f}  {pair.a.name} ({pair.a.siret or pair.a.siren or '–'}, "
                f"{pair.a.postcode or '–'}) ↔ {pair.b.name} ({pair.b.siret or pair.b.siren or '–'}"
                f", {pair.b.postcode or '–'}) : {', '.join(pair.reasons)}"
            )
        self._print(result.as_json(), "\n".join(lines))

    def _decide(self, merger, *, decision, all, ids, reason, by, **options):
        user = user_active_by_login(login=by)
        if user is None or not user.has_perm("merger.decide_transferproposal"):
            raise CommandError(
                _("« %(by)s » n’est pas un utilisateur autorisé à décider des transferts.")
                % {"by": by},
                returncode=EXIT_UNUSABLE,
            )
        if all:
            proposal_ids = merger_proposal_ids(merger=merger)
        else:
            proposal_ids = merger_proposal_ids(merger=merger, ids=ids)
            unknown = sorted(set(ids) - set(proposal_ids))
            if unknown:
                raise CommandError(
                    _("Propositions inconnues : %(ids)s.") % {"ids": ", ".join(map(str, unknown))},
                    returncode=EXIT_UNUSABLE,
                )
        decision = VERBS[decision]
        result = transfer_decide(
            proposal_ids=proposal_ids, decision=decision, by=user, reason=reason
        )
        conflicts = [
            {
                "proposal": conflict.proposal.pk,
                "organisation": conflict.proposal.organisation_id,
                "message": conflict.message,
            }
            for conflict in result.conflicts
        ]
        lines = [
            _("%(count)d proposition(s) : %(decision)s.")
            % {"count": len(result.decided), "decision": decision.label.lower()}
        ]
        lines += [
            f"{conflict.proposal.pk} · {conflict.proposal.organisation} : {conflict.message}"
            for conflict in result.conflicts
        ]
        self._print({"decided": len(result.decided), "conflicts": conflicts}, "\n".join(lines))
        if conflicts:
            raise CommandError(
                _("%(count)d proposition(s) non décidée(s).") % {"count": len(conflicts)},
                returncode=EXIT_INCOMPLETE,
            )

    def _notify(self, merger, **options):
        run = notices_queue(merger=merger, by=None)
        self._print(
            run.as_json(),
            _(
                "%(created)d information(s) mise(s) en file pour les contacts de "
                "%(organisations)d organisation(s) ; %(requeued)d remise(s) en file."
            )
            % run.as_json(),
        )

    def _execute(self, merger, *, dry_run, **options):
        started = timezone.now()
        result = merger_execute(merger=merger, dry_run=dry_run)
        elapsed = (timezone.now() - started).total_seconds()
        if dry_run:
            lines = [
                _(
                    "Simulation au %(date)s : %(executed)d adhésion(s) au successeur seraient "
                    "créées, %(skipped)d déjà transférée(s), %(failed)d en échec. Rien n’a été "
                    "écrit."
                )
                % {
                    "date": _date(result.effective_date),
                    "executed": len(result.executed),
                    "skipped": result.skipped,
                    "failed": len(result.failed),
                }
            ]
        else:
            lines = [
                _(
                    "Exécution au %(date)s : %(executed)d adhésion(s) au successeur créée(s), "
                    "%(skipped)d déjà transférée(s), %(failed)d en échec (%(seconds).1f s)."
                )
                % {
                    "date": _date(result.effective_date),
                    "executed": len(result.executed),
                    "skipped": result.skipped,
                    "failed": len(result.failed),
                    "seconds": elapsed,
                }
            ]
        for row in result.executed:
            paid = _("payée") if row.is_paid else _("à payer %(fee)s") % {"fee": money(row.fee)}
            credit = (
                " · " + _("avoir %(credit)s") % {"credit": money(row.credit)} if row.credit else ""
            )
            lines.append(
                f"{row.member_number}  {row.organisation} · {row.plan} · "
                + _("depuis le %(since)s") % {"since": _date(row.member_since)}
                + f" · {_date(row.start_date)} – {_date(row.end_date)} ({paid}){credit} · "
                + row.old_member_numbers
            )
        for failure in result.failed:
            lines.append(_("Échec") + f" · {failure.organisation} : {failure.message}")
        self._print(result.as_json(), "\n".join(lines))
        if result.failed:
            raise CommandError(
                _("%(count)d transfert(s) en échec.") % {"count": len(result.failed)},
                returncode=EXIT_INCOMPLETE,
            )

    def _report(self, merger, *, year, **options):
        report = merger_report(merger=merger, year=year or timezone.localdate().year)
        labels = dict(report.origins)
        decisions = dict(TransferProposal.decision.field.choices)
        lines = [
            f"{merger.name} · {merger.get_status_display()} · "
            + _("date d’effet prévue le %(date)s") % {"date": _date(merger.planned_date)},
            _("Membres du successeur (approuvés ou transférés) : %(count)d")
            % {"count": report.successor_members},
            *(f"  {labels[origin]} : {count}" for origin, count in report.by_origin.items()),
            _("Propositions :"),
            *(f"  {decisions[key]} : {count}" for key, count in report.proposals.items()),
            _("Cotisations payées en %(year)d, par origine des membres :") % {"year": report.year},
            *(
                f"  {labels[origin]} : {money(amount)}"
                for origin, amount in report.revenue_by_origin.items()
            ),
            _("Décisions en attente : %(count)d, dont %(flagged)d signalée(s).")
            % {"count": report.pending_decisions, "flagged": report.pending_flagged},
        ]
        self._print(report.as_json(), "\n".join(lines))
