"""The merger's report as a file to download: XLSX (a sheet of figures and a sheet of every
proposal) or CSV (the proposals), text that could run as a formula escaped (CSV injection).

The execution's preview too: every row of its dry run.

In the XLSX workbook dates and date-times are date cells (shown dd/mm/yyyy) and amounts numbers
shown in euros (:func:`members.imports.export.xlsx_workbook`), which spreadsheet software sorts
and sums; the CSV file is text."""

import tablib
from django.utils import timezone
from django.utils.translation import gettext as _

from members.formatting import short_datetime
from members.imports.export import CONTENT_TYPES, CSV_DELIMITER, xlsx_workbook
from members.imports.widgets import escape_formula
from members.models import Organisation

from .models import Merger, TransferProposal
from .selectors import MergerReport, proposal_flags
from .services.execution import ExecutionResult

__all__ = ["CONTENT_TYPES", "execution_preview_export", "report_export"]


def _cell(value):
    if isinstance(value, str):
        return escape_formula(value)
    return value


def _proposals_sheet(report: MergerReport, *, typed: bool = False) -> tablib.Dataset:
    """Every proposal of ``report``'s merger, one row each; with ``typed``, the decision's
    date-time as a value (in Paris time) rather than text."""
    labels = dict(report.origins)
    headers = [
        _("Organisation"),
        _("SIRET"),
        _("SIREN"),
        _("Origine"),
        _("Anciens n° d’adhérent"),
        _("Formule du successeur"),
        _("Adhérent depuis"),
        _("Payée jusqu’au"),
        _("Avoir (€)"),
        _("Signalements"),
        _("Décision"),
        _("Décidée par"),
        _("Décidée le"),
        _("Motif"),
        _("N° d’adhérent au successeur"),
    ]
    sheet = tablib.Dataset(headers=headers, title=_("Propositions"))
    proposals = (
        TransferProposal.objects.filter(merger=report.merger)
        .select_related("organisation", "successor_plan", "decided_by", "successor_membership")
        .order_by("organisation__name", "pk")
    )
    for proposal in proposals.iterator(chunk_size=2000):
        flags = [label for _name, label in proposal_flags(proposal)]
        decided_at = ""
        if proposal.decided_at and typed:
            # Spreadsheet cells have no time zone: Paris time, as the admin shows it.
            decided_at = timezone.localtime(proposal.decided_at).replace(tzinfo=None)
        elif proposal.decided_at:
            decided_at = short_datetime(proposal.decided_at)
        sheet.append(
            [
                _cell(value)
                for value in (
                    proposal.organisation.name,
                    proposal.organisation.siret,
                    proposal.organisation.siren,
                    str(labels.get(proposal.origin, proposal.origin)),
                    proposal.old_member_numbers,
                    proposal.successor_plan.name if proposal.successor_plan else "",
                    proposal.member_since,
                    proposal.paid_through,
                    proposal.credit,
                    ", ".join(flags),
                    str(proposal.get_decision_display()),
                    str(proposal.decided_by or ""),
                    decided_at,
                    proposal.decision_reason,
                    proposal.successor_membership.member_number
                    if proposal.successor_membership
                    else "",
                )
            ]
        )
    return sheet


def _figures_sheet(report: MergerReport) -> tablib.Dataset:
    labels = dict(report.origins)
    sheet = tablib.Dataset(headers=[_("Indicateur"), _("Valeur")], title=_("Synthèse"))
    sheet.append([_("Fusion"), report.merger.name])
    sheet.append([_("Statut"), str(report.merger.get_status_display())])
    sheet.append([_("Date d’effet prévue"), report.merger.planned_date])
    sheet.append([_("Membres du successeur (approuvés ou transférés)"), report.successor_members])
    for origin, count in report.by_origin.items():
        sheet.append([_("Membres du successeur : %(origin)s") % {"origin": labels[origin]}, count])
    for decision, count in report.proposals.items():
        label = TransferProposal._meta.get_field("decision").choices
        sheet.append(
            [_("Propositions : %(decision)s") % {"decision": dict(label)[decision]}, count]
        )
    for origin, amount in report.revenue_by_origin.items():
        sheet.append(
            [
                _("Cotisations payées %(year)d : %(origin)s")
                % {"year": report.year, "origin": labels[origin]},
                amount,
            ]
        )
    sheet.append([_("Décisions en attente"), report.pending_decisions])
    sheet.append([_("Décisions en attente signalées"), report.pending_flagged])
    return sheet


def report_export(report: MergerReport, *, file_format: str) -> bytes:
    """``report`` as an XLSX workbook or a CSV file (``file_format``)."""
    if file_format == "csv":
        proposals = _proposals_sheet(report)
        return proposals.export("csv", delimiter=CSV_DELIMITER).encode("utf-8-sig")
    sheets = [_figures_sheet(report), _proposals_sheet(report, typed=True)]
    return xlsx_workbook((sheet.title, sheet) for sheet in sheets)


def execution_preview_export(result: ExecutionResult, *, merger: Merger, file_format: str) -> bytes:
    """The execution's dry run ``result`` as an XLSX workbook or a CSV file (``file_format``):
    one row per successor membership it would make, then one per proposal it would hold back,
    with why."""
    headers = [
        _("N° d’adhérent au successeur"),
        _("Organisation"),
        _("SIRET"),
        _("Anciens n° d’adhérent"),
        _("Formule du successeur"),
        _("Adhérent depuis"),
        _("Début de la première période"),
        _("Fin de la première période"),
        _("Période payée reprise"),
        _("Cotisation à payer (€)"),
        _("Déjà payé déduit (€)"),
        _("Avoir (€)"),
        _("Site"),
        _("Non transférée : pourquoi"),
    ]
    sheet = tablib.Dataset(
        headers=headers,
        title=_("Exécution au %(date)s") % {"date": result.effective_date.isoformat()},
    )
    organisation_ids = [row.organisation_id for row in (*result.executed, *result.failed)]
    sirets = dict(Organisation.objects.filter(pk__in=organisation_ids).values_list("pk", "siret"))
    for row in result.executed:
        sheet.append(
            [
                _cell(value)
                for value in (
                    row.member_number,
                    row.organisation,
                    sirets.get(row.organisation_id, ""),
                    row.old_member_numbers,
                    row.plan,
                    row.member_since,
                    row.start_date,
                    row.end_date,
                    _("oui") if row.is_paid else _("non"),
                    row.fee,
                    row.deduction,
                    row.credit,
                    row.site,
                    "",
                )
            ]
        )
    for failure in result.failed:
        sheet.append(
            [
                _cell(value)
                for value in (
                    "",
                    failure.organisation,
                    sirets.get(failure.organisation_id, ""),
                    *[""] * 10,
                    failure.message,
                )
            ]
        )
    if file_format == "csv":
        return sheet.export("csv", delimiter=CSV_DELIMITER).encode("utf-8-sig")
    return xlsx_workbook([(sheet.title, sheet)])
