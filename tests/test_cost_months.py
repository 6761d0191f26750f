"""Spend across a month's end: every second of a sync interval is charged to the month it fell in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions.cost import charge, month_of, split_by_month
from coderunner.models.autoscaler import MonthSpend, Spend

DEC_1 = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
JAN_1 = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


@pytest.mark.parametrize(
    ("start", "end", "parts"),
    [
        (DEC_1 - HOUR, DEC_1 - 60, [("2026-11", HOUR - 60)]),  # inside one month
        (DEC_1 - HOUR, DEC_1 + 1800, [("2026-11", HOUR), ("2026-12", 1800.0)]),  # over the end
        (DEC_1, DEC_1 + 10, [("2026-12", 10.0)]),  # starting on the boundary
        (JAN_1 - 10, JAN_1 + 10, [("2026-12", 10.0), ("2027-01", 10.0)]),  # over the year's end
        (DEC_1 - HOUR, JAN_1 + HOUR, [("2026-11", HOUR), ("2026-12", 31 * 24 * HOUR), ("2027-01", HOUR)]),
        (DEC_1, DEC_1, []),
    ],
)
def test_split_by_month(start: float, end: float, parts: list[tuple[str, float]]) -> None:
    assert split_by_month(start, end) == parts


@given(st.floats(DEC_1 - 90 * 24 * HOUR, DEC_1 + 90 * 24 * HOUR), st.floats(0, 80 * 24 * HOUR))
def test_split_by_month_loses_no_second(start: float, length: float) -> None:
    parts = split_by_month(start, start + length)
    assert sum(s for _, s in parts) == pytest.approx(length, abs=1e-3)
    assert [m for m, _ in parts] == sorted({m for m, _ in parts})


def test_month_rollover_charges_the_old_tail_to_the_old_month() -> None:
    """Two instances at 1/hour, last sync an hour before December, this one half an hour after it."""
    spend = Spend(month="2026-11", amount=10.0, level=75, last_at_s=DEC_1 - HOUR, last_instances=2)
    charged = charge(spend, DEC_1 + 1800, price_per_hour=1.0)
    assert charged.closed == [MonthSpend(month="2026-11", amount=12.0, level=75)]  # + 2 instance-hours
    assert charged.spend.month == "2026-12"
    assert charged.spend.amount == pytest.approx(1.0)  # not 3.0: the November hour stays in November
    assert charged.spend.level == 0 and charged.before == 0.0
    assert charged.spend.last_at_s == DEC_1 + 1800


def test_within_a_month_nothing_closes() -> None:
    spend = Spend(month="2026-12", amount=1.0, last_at_s=DEC_1 + 60, last_instances=3)
    charged = charge(spend, DEC_1 + 60 + HOUR, price_per_hour=2.0)
    assert charged.closed == [] and charged.before == 1.0
    assert charged.spend.amount == pytest.approx(7.0)


def test_first_charge_opens_the_month() -> None:
    charged = charge(Spend(), DEC_1 + 5, price_per_hour=1.0)
    assert charged.spend.month == month_of(DEC_1 + 5) == "2026-12"
    assert charged.spend.amount == 0.0 and charged.closed == []
