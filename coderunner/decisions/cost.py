"""Pure cost arithmetic for the autoscaler: spend accrual, budget alert levels, month projection.

The autoscaler workflow accrues spend each sync from the instance-seconds it observed and alerts once
per threshold crossed; the simulator uses the same functions, so its cost figures match production.
No clocks: elapsed time is passed in as seconds (epoch seconds where a calendar month matters: months
are UTC calendar months, and every second of an interval is charged to the month it fell in).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import BaseModel

from coderunner.models.autoscaler import MonthSpend, Spend

THRESHOLDS: tuple[int, ...] = (75, 90, 100)  # percent of budget that raise an alert
SECONDS_PER_HOUR = 3600.0
_EPSILON = 1e-9  # so 0.9 of a budget counts as 90% despite binary floating point


def _check(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def accrue(spend_so_far: float, instance_seconds: float, price_per_hour: float) -> float:
    """Spend after running `instance_seconds` of instances at `price_per_hour` each."""
    _check("spend_so_far", spend_so_far)
    _check("instance_seconds", instance_seconds)
    _check("price_per_hour", price_per_hour)
    return spend_so_far + instance_seconds / SECONDS_PER_HOUR * price_per_hour


def budget_level(spend: float, budget: float) -> int:
    """The highest alert threshold (75, 90 or 100 percent) that `spend` has reached, else 0."""
    _check("spend", spend)
    if not math.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a finite number > 0, got {budget!r}")
    percent = spend / budget * 100
    reached = [t for t in THRESHOLDS if percent >= t - _EPSILON]
    return max(reached, default=0)


def project_month_at_rate(spend: float, instances: int, price_per_hour: float, remaining_s: float) -> float:
    """The month's total if the instances running now keep running: spent + instances x price x hours
    left. Spend-so-far spread over the month says nothing about a deployment scaled up today."""
    _check("spend", spend)
    _check("instances", instances)
    _check("price_per_hour", price_per_hour)
    _check("remaining_s", remaining_s)
    return spend + instances * price_per_hour * remaining_s / SECONDS_PER_HOUR


def project_month(spend: float, elapsed_s_in_month: float, month_s: float) -> float:
    """Linear projection of the month's total from the spend so far.

    Before any time has elapsed there is nothing to extrapolate, so the projection is the spend
    itself; after the month is over it is the actual spend.
    """
    _check("spend", spend)
    _check("elapsed_s_in_month", elapsed_s_in_month)
    if not math.isfinite(month_s) or month_s <= 0:
        raise ValueError(f"month_s must be a finite number > 0, got {month_s!r}")
    if elapsed_s_in_month <= 0 or elapsed_s_in_month >= month_s:
        return spend
    return spend * month_s / elapsed_s_in_month


def crossed_thresholds(prev_spend: float, new_spend: float, budget: float) -> list[int]:
    """The thresholds reached by `new_spend` but not by `prev_spend`: each alert fires once.

    Spend that went down (a new month) crosses nothing.
    """
    before, after = budget_level(prev_spend, budget), budget_level(new_spend, budget)
    return [t for t in THRESHOLDS if before < t <= after]


def month_of(at_s: float) -> str:
    """The UTC calendar month ("2026-11") of an epoch time."""
    return datetime.fromtimestamp(at_s, UTC).strftime("%Y-%m")


def _next_month_start(at_s: float) -> float:
    t = datetime.fromtimestamp(at_s, UTC)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def split_by_month(start_s: float, end_s: float) -> list[tuple[str, float]]:
    """The seconds of [start_s, end_s) in each UTC calendar month, oldest first (empty if none)."""
    parts: list[tuple[str, float]] = []
    at = start_s
    while at < end_s:
        cut = min(_next_month_start(at), end_s)
        parts.append((month_of(at), cut - at))
        at = cut
    return parts


class Charged(BaseModel):
    spend: Spend  # for the month of `now_s`; `last_at_s` moved to `now_s`
    before: float  # this month's amount before the charge: alerts compare against it
    closed: list[MonthSpend]  # earlier months the interval finished, with their final amounts


def charge(spend: Spend, now_s: float, price_per_hour: float) -> Charged:
    """Charge `spend.last_instances` from `spend.last_at_s` to `now_s`, each second to its own month.

    An interval that spans a month's end charges the old month's tail to the old month (returned in
    `closed`, to be written as that month's final figure) and only the rest to the new one.
    """
    sp = spend.model_copy()
    closed: list[MonthSpend] = []
    before = sp.amount
    parts = split_by_month(sp.last_at_s, now_s) if sp.last_at_s is not None else []
    for month, seconds in [*parts, (month_of(now_s), 0.0)]:
        if month != sp.month:
            if sp.month:
                closed.append(MonthSpend(month=sp.month, amount=sp.amount, level=sp.level))
            sp.month, sp.amount, sp.level, before = month, 0.0, 0, 0.0
        sp.amount = accrue(sp.amount, sp.last_instances * seconds, price_per_hour)
    sp.last_at_s = now_s
    return Charged(spend=sp, before=before, closed=closed)
