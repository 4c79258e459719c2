"""A cluster's membership year, and what a first term costs in it: pure functions of the cluster's
settings (:attr:`members.models.Cluster.membership_year` and the fields beside it) and of dates,
without a query.

- **Anniversary** (the default): a term runs one year from its first day (29 February ends on
  28 February), at the plan's full annual fee.
- **Fixed year** (say the calendar year, from 1 January): every term ends on the last day of a
  membership year. A new member's first term runs from the day it joins to the end of that year,
  at a fee set by the cluster's :class:`members.models.Proration` rule:

  - ``days``: the annual fee × the days covered / the days of that membership year (365, or 366
    when it holds a 29 February): joining on its first day pays the full fee, on its last day
    one day's fee;
  - ``months``: the annual fee × the months begun / 12, a month counting from the year's start
    day (from 1 January: joining on 1 or 31 March pays 10 months, on 1 April 9);
  - ``cutoff``: before the cut-off date (a month and day, its first occurrence in the membership
    year), the full annual fee up to the end of the year; on the cut-off date or after it, the
    full annual fee up to the end of the *next* membership year (the rest of the current one is
    given).

  Fees are rounded to the cent, half up (0.005 → 0.01), once, at the end.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from members.models import Cluster, MembershipYear, Proration

CENT = Decimal("0.01")


def one_year_after(day: date) -> date:
    """The same day a year later (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` months on (the last day of a shorter month when it has no such
    day: 31 January + 1 month is 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def is_fixed_year(cluster: Cluster) -> bool:
    """Whether ``cluster``'s terms align on a fixed membership year."""
    return cluster.membership_year == MembershipYear.FIXED


def fixed_year_of(*, cluster: Cluster, day: date) -> tuple[date, date]:
    """The fixed membership year of ``cluster`` holding ``day``: its first and last days."""
    start = date(day.year, cluster.year_start_month, cluster.year_start_day)
    if start > day:
        start = date(day.year - 1, cluster.year_start_month, cluster.year_start_day)
    return start, date(start.year + 1, start.month, start.day) - timedelta(days=1)


def _cutoff_in(*, cluster: Cluster, year_start: date) -> date:
    """The cut-off date's first occurrence in the membership year starting on ``year_start``."""
    cutoff = date(year_start.year, cluster.proration_cutoff_month, cluster.proration_cutoff_day)
    if cutoff < year_start:
        cutoff = date(year_start.year + 1, cutoff.month, cutoff.day)
    return cutoff


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class FirstTerm:
    """A term as proposed for a start date: its period, its fee, and how the fee was found
    (``share`` of the annual fee: covered / of, in ``unit``: "days", "months" or "years")."""

    start: date
    end: date
    fee: Decimal
    covered: int
    of: int
    unit: str

    def as_json(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "fee": str(self.fee),
            "covered": self.covered,
            "of": self.of,
            "unit": self.unit,
        }


def first_term(*, cluster: Cluster, annual_fee: Decimal, start: date) -> FirstTerm:
    """The term of a member of ``cluster`` joining on ``start`` at a plan of ``annual_fee``: on
    the anniversary, a year at the full fee; in a fixed year, up to the end of the membership
    year (or of the next one, after a cut-off date) at the fee the cluster's rule gives (see the
    module's docstring)."""
    if not is_fixed_year(cluster):
        end = one_year_after(start) - timedelta(days=1)
        return FirstTerm(start, end, _cents(annual_fee), 1, 1, "years")
    year_start, year_end = fixed_year_of(cluster=cluster, day=start)
    if cluster.proration == Proration.CUTOFF:
        if start >= _cutoff_in(cluster=cluster, year_start=year_start):
            _next_start, year_end = fixed_year_of(cluster=cluster, day=year_end + timedelta(days=1))
        return FirstTerm(start, year_end, _cents(annual_fee), 1, 1, "years")
    if cluster.proration == Proration.MONTHS:
        elapsed = 0
        while _add_months(year_start, elapsed + 1) <= start:
            elapsed += 1
        months = 12 - elapsed
        return FirstTerm(start, year_end, _cents(annual_fee * months / 12), months, 12, "months")
    days = (year_end - start).days + 1
    year_days = (year_end - year_start).days + 1
    fee = _cents(annual_fee * days / year_days)
    return FirstTerm(start, year_end, fee, days, year_days, "days")
