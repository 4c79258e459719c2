"""The merger itself: its status and planned date, changed with a reason and logged (a
postponement included), and the mapping of the source plans to the successor's."""

from datetime import date

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from members.formatting import short_date
from members.models import Plan

from ..models import Merger, MergerEvent, PlanMapping
from ..selectors import merger_sources_not_adopted

Status = Merger.Status


def merger_log(
    *, merger: Merger, kind: str, by: AbstractBaseUser | None, reason: str = "", **details
) -> MergerEvent:
    """Add a line to ``merger``'s history."""
    return MergerEvent.objects.create(
        merger=merger, kind=kind, by=by, reason=reason, details=details
    )


def reason_required(reason: str) -> str:
    """``reason`` stripped; a :class:`ValidationError` if there is none: every decision of the
    merger says why."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Indiquez le motif : il est gardé dans l’historique.")})
    return reason


@transaction.atomic
def merger_update(
    *,
    merger: Merger,
    by: AbstractBaseUser | None,
    reason: str,
    status: str | None = None,
    planned_date: date | None = None,
    align_on_successor_year: bool | None = None,
) -> MergerEvent | None:
    """Change ``merger``'s status, planned date and/or whether its execution aligns the
    successor memberships on the successor's membership year, logging who, when and why;
    return the event, or ``None`` when nothing changed.

    Moving the date later is a postponement, logged as such; the status becomes "postponed"
    unless one is given (a date moved later and fixed at once stays "scheduled"). "Effective"
    is set by the execution only, and an effective merger no longer changes. The date is fixed
    ("scheduled") only once each source cluster's assembly adopted the merger
    (:func:`merger.services.merger_adoption_record`); a merger scheduled before that rule keeps
    its status. Raise :class:`ValidationError` (by field) otherwise.
    """
    merger = Merger.objects.select_for_update().get(pk=merger.pk)
    status_given = status is not None
    status = status or merger.status
    planned_date = planned_date or merger.planned_date
    align = (
        merger.align_on_successor_year
        if align_on_successor_year is None
        else align_on_successor_year
    )
    if (
        status == merger.status
        and planned_date == merger.planned_date
        and align == merger.align_on_successor_year
    ):
        return None
    if merger.status == Status.EFFECTIVE:
        raise ValidationError(
            _(
                "La fusion est effective depuis le %(date)s : sa date et son statut ne "
                "changent plus."
            )
            % {"date": short_date(merger.effective_date)}
        )
    if status == Status.EFFECTIVE:
        raise ValidationError(
            {"status": _("La fusion devient effective quand ses transferts sont exécutés.")}
        )
    if status == Status.SCHEDULED and merger.status != Status.SCHEDULED:
        missing = [str(cluster) for cluster in merger_sources_not_adopted(merger=merger)]
        if missing:
            raise ValidationError(
                {
                    "status": _(
                        "La date ne peut être arrêtée qu’une fois la fusion adoptée par "
                        "l’assemblée générale extraordinaire de chaque cluster source ; "
                        "adoption non enregistrée pour : %(clusters)s."
                    )
                    % {"clusters": ", ".join(missing)}
                }
            )
    reason = reason_required(reason)
    postponed = planned_date > merger.planned_date
    if postponed and not status_given:
        status = Status.POSTPONED
    event = MergerEvent.objects.create(
        merger=merger,
        kind=MergerEvent.Kind.POSTPONED
        if postponed or status == Status.POSTPONED
        else MergerEvent.Kind.CHANGED,
        by=by,
        reason=reason,
        status_before=merger.status,
        status_after=status,
        date_before=merger.planned_date,
        date_after=planned_date,
        details={"align_on_successor_year": align}
        if align != merger.align_on_successor_year
        else {},
    )
    merger.status = status
    merger.planned_date = planned_date
    merger.align_on_successor_year = align
    merger.save(update_fields=["status", "planned_date", "align_on_successor_year", "updated_at"])
    return event


def plan_mapping_ensure(*, merger: Merger) -> int:
    """Map each source plan that has no mapping yet to the successor's first plan of the same
    category (none if the successor has no such plan); return how many were added."""
    mapped = PlanMapping.objects.filter(merger=merger).values("source_plan_id")
    new = Plan.objects.filter(cluster__in=merger.sources.all()).exclude(pk__in=mapped)
    successor_plans = list(Plan.objects.filter(cluster=merger.successor_id).order_by("position"))
    created = PlanMapping.objects.bulk_create(
        PlanMapping(
            merger=merger,
            source_plan=plan,
            successor_plan=next((p for p in successor_plans if p.category == plan.category), None),
        )
        for plan in new
    )
    return len(created)


@transaction.atomic
def plan_mapping_update(
    *, mapping: PlanMapping, successor_plan: Plan | None, by: AbstractBaseUser | None
) -> bool:
    """Map ``mapping``'s source plan to ``successor_plan`` (a plan of the successor, or none),
    logged in the merger's history; return whether it changed. Refused once the merger is
    effective."""
    mapping = (
        PlanMapping.objects.select_for_update()
        .select_related("merger", "source_plan")
        .get(pk=mapping.pk)
    )
    merger = mapping.merger
    if mapping.successor_plan_id == (successor_plan.pk if successor_plan else None):
        return False
    if merger.status == Status.EFFECTIVE:
        raise ValidationError(
            _("La fusion est effective : la correspondance des formules ne change plus.")
        )
    if successor_plan is not None and successor_plan.cluster_id != merger.successor_id:
        raise ValidationError(
            {"successor_plan": _("Choisissez une formule du cluster successeur.")}
        )
    before = str(mapping.successor_plan) if mapping.successor_plan_id else ""
    mapping.successor_plan = successor_plan
    mapping.save(update_fields=["successor_plan"])
    merger_log(
        merger=merger,
        kind=MergerEvent.Kind.MAPPING,
        by=by,
        source_plan=f"{mapping.source_plan.cluster} · {mapping.source_plan}",
        before=before,
        after=str(successor_plan or ""),
    )
    return True
