"""Issue 16's evidence gate as pure functions: what a weight needs before the canary moves on."""

from __future__ import annotations

import pytest

from coderunner.decisions.evidence_gate import missing_evidence, tally
from coderunner.models.rollout import (
    AnalysisResult,
    AnalysisSettings,
    GroupStats,
    RolloutStrategy,
    WeightTally,
    WindowVerdict,
)

DEFAULTS = AnalysisSettings()


def window(verdict: str, requests: int) -> AnalysisResult:
    return AnalysisResult(verdict=WindowVerdict(verdict), canary=GroupStats(requests=requests))


def tally_of(weight: int, *windows: AnalysisResult) -> WeightTally:
    t = WeightTally()
    for w in windows:
        t = tally(t, weight, w)
    return t


# (name, windows at weight 10, settings, expected fragment or None)
CASES = [
    ("no traffic", [window("inconclusive", 0)] * 3, DEFAULTS,
     "canary got 0 requests in 3 analysis windows (needs 1 healthy window) — send traffic, or "
     "`coderunner promote demo` to go on without analysis"),
    ("trickle", [window("inconclusive", 4), window("inconclusive", 5)], DEFAULTS,
     "canary got 9 requests in 2 analysis windows, fewer than the 20 a window needs (min_requests)"),
    ("degraded only", [window("degraded", 100)], DEFAULTS, "0 of 1 healthy window (1 degraded"),
    ("one healthy is enough", [window("inconclusive", 0), window("healthy", 100)], DEFAULTS, None),
    ("two needed", [window("healthy", 100)], AnalysisSettings(healthy_windows_per_step=2),
     "1 of 2 healthy windows"),
    ("gate off", [], AnalysisSettings(healthy_windows_per_step=0), None),
    ("nothing yet", [], DEFAULTS, "canary got 0 requests in 0 analysis windows"),
]


@pytest.mark.parametrize(("name", "windows", "cfg", "expected"), CASES, ids=[c[0] for c in CASES])
def test_missing_evidence(name: str, windows: list[AnalysisResult], cfg: AnalysisSettings,
                          expected: str | None) -> None:
    message = missing_evidence(tally_of(10, *windows), 10, cfg, "demo")
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message, message


def test_a_new_weight_starts_a_new_tally() -> None:
    at_ten = tally_of(10, window("healthy", 100))
    assert missing_evidence(at_ten, 10, DEFAULTS, "demo") is None
    assert missing_evidence(at_ten, 25, DEFAULTS, "demo") is not None  # evidence at 10 % says nothing at 25 %
    assert tally(at_ten, 25, window("inconclusive", 3)) == WeightTally(weight=25, windows=1, inconclusive=1,
                                                                        requests=3)


def test_step_shorter_than_the_analysis_needs() -> None:
    with pytest.raises(ValueError, match=r"step_duration 5s is shorter than the 10s the analysis needs"):
        RolloutStrategy.from_shorthand("10,100", "5s", "10s")
    RolloutStrategy.from_shorthand("10,100", "10s", "10s")
    no_gate = AnalysisSettings(healthy_windows_per_step=0)
    lenient = RolloutStrategy.from_shorthand("10,100", "5s", "10s", no_gate)
    assert lenient.dwell_problem() is None
    assert RolloutStrategy.model_validate({}).dwell_problem() is None  # the defaults are consistent
