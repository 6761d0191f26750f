"""The sequential canary judgement (`judge_summary` + `decisions.error_evidence`): table and properties.

Documented semantics: healthy < 5 %, unhealthy > 10 %; 2 errors in a 20-request window is not
unhealthy; 6 % against a stable 0.5 % is not unhealthy; a clearly sick canary aborts after one
window; thin evidence never aborts.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions import error_evidence
from coderunner.decisions.canary import decide, judge_summary
from coderunner.decisions.window_summary import summarise_window
from coderunner.models.rollout import AnalysisSettings, ErrorEvidence, WindowVerdict
from tests.test_canary_verdict import STABLE_OK, backend, spread

H, D, U, N = (WindowVerdict(v) for v in ("healthy", "degraded", "unhealthy", "inconclusive"))
DEFAULTS = AnalysisSettings()
STABLE_HALF_PERCENT = [backend(1000, 5, spread(80, 120), canary=False)]


def judge(canary_requests: int, canary_errors: int, stable=STABLE_OK, evidence: ErrorEvidence | None = None,
          cfg: AnalysisSettings = DEFAULTS, latencies: list[float] | None = None):
    summary = summarise_window([backend(canary_requests, canary_errors, latencies)], stable, cfg)
    return judge_summary(summary, cfg, evidence or ErrorEvidence())


# (name, canary requests, errors, stable, verdict, conclusive, substrings in reasons)
# fmt: off
CASES = [
    ("2 errors in the 20-request minimum is thin", 20, 2, STABLE_OK, D, False, ["without strong"]),
    ("6 % against a stable 0.5 % is degraded, not unhealthy", 100, 6, STABLE_HALF_PERCENT, D, False,
     ["6.0%", "exceeds stable's 0.5%"]),
    ("6 % on a big window is still not unhealthy", 2000, 120, STABLE_HALF_PERCENT, D, False, ["6.0%"]),
    ("20 % on 50 requests aborts at once", 50, 10, STABLE_OK, U, True,
     ["sequential test", "10 errors of 50 requests"]),
    ("12 % on 500 requests: strong evidence of > 10 %", 500, 60, STABLE_OK, U, True, ["likelier"]),
    ("4.9 % is healthy", 1000, 49, STABLE_OK, H, False, ["canary healthy"]),
    ("0.5 % is healthy", 200, 1, STABLE_HALF_PERCENT, H, False, ["canary healthy"]),
    ("too few requests", 10, 1, STABLE_OK, N, False, ["10 of the 20"]),
    ("all 10 of 10 failing is still under min_requests", 10, 10, STABLE_OK, N, False, ["10 of the 20"]),
]
# fmt: on


@pytest.mark.parametrize(("name", "requests", "errors", "stable", "verdict", "conclusive", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_sequential_verdicts(name: str, requests: int, errors: int, stable: list, verdict: WindowVerdict,
                             conclusive: bool, expected: list[str]) -> None:
    result, _ = judge(requests, errors, stable)
    assert (result.verdict, result.conclusive) == (verdict, conclusive), result.reasons
    text = " | ".join(result.reasons)
    for fragment in expected:
        assert fragment in text, text
    assert decide([result.verdict], result, DEFAULTS) == ("abort" if conclusive else "continue")


def test_evidence_adds_up_over_small_windows_and_aborts_once_strong() -> None:
    evidence = ErrorEvidence()
    verdicts = []
    for _ in range(4):  # 4 errors of 12 requests per window: each window alone is inconclusive
        result, evidence = judge(12, 4, evidence=evidence)
        verdicts.append((result.verdict, result.conclusive))
    assert verdicts[0] == (N, False)
    assert verdicts[-1] == (U, True) and evidence.requests == 48 and evidence.errors == 16


def test_a_healthy_past_delays_a_later_fault_by_one_window_at_most() -> None:
    evidence = ErrorEvidence()
    for _ in range(50):  # 10,000 clean requests
        _, evidence = judge(200, 0, evidence=evidence)
    assert evidence.llr == pytest.approx(-math.log(DEFAULTS.error_evidence_ratio))
    first, evidence = judge(50, 10, evidence=evidence)
    second, _ = judge(50, 10, evidence=evidence)
    assert not first.conclusive and second.conclusive


def test_latency_still_needs_failure_limit_windows() -> None:
    result, _ = judge(100, 0, latencies=spread(100, 300))
    assert result.verdict is U and not result.conclusive
    assert decide([U], result, DEFAULTS) == "continue" and decide([U, U], result, DEFAULTS) == "abort"


def test_break_even_rate_between_the_bands() -> None:
    assert 0.05 < error_evidence.break_even_rate(DEFAULTS) < 0.10
    assert error_evidence.break_even_rate(DEFAULTS) == pytest.approx(0.0723, abs=1e-3)


def test_degenerate_bands_still_give_a_finite_test() -> None:
    cfg = AnalysisSettings(error_rate_degraded=0.0, error_rate_unhealthy=0.0)
    up, down = error_evidence.weights(cfg)
    assert up > 0 and down > 0


windows = st.lists(st.tuples(st.integers(0, 3000), st.floats(0, 1)), min_size=1, max_size=30)


@given(windows)
def test_never_unhealthy_on_errors_at_or_below_the_break_even_rate(seq: list[tuple[int, float]]) -> None:
    """Whatever the traffic, windows no worse than the break-even rate never abort on errors."""
    limit = error_evidence.break_even_rate(DEFAULTS)
    evidence = ErrorEvidence()
    for requests, fraction in seq:
        errors = int(requests * limit * fraction)
        result, evidence = judge(requests, errors, evidence=evidence, latencies=[])
        assert not result.conclusive and result.verdict is not U


@given(st.integers(0, 19), st.integers(0, 19))
def test_never_conclusive_below_min_requests(requests: int, errors: int) -> None:
    result, _ = judge(requests, min(errors, requests), latencies=[])
    assert not result.conclusive


@given(st.integers(50, 5000), st.floats(0.2, 1.0))
def test_a_clearly_sick_window_of_50_or_more_aborts_at_once(requests: int, rate: float) -> None:
    result, _ = judge(requests, round(requests * rate), latencies=[])
    assert result.conclusive and result.verdict is U


def test_a_sick_looking_canary_on_thin_traffic_keeps_being_judged_then_aborts() -> None:
    """3 errors in 20 a window (15 %), or 1 in 12 (8 %) between them: not conclusive alone, never
    paused for while the evidence leans unhealthy, aborted within a few windows."""
    evidence, history, actions = ErrorEvidence(), [], []
    for requests, errors in [(20, 3), (12, 1), (20, 3), (12, 1), (20, 3), (20, 3), (20, 3)]:
        result, evidence = judge(requests, errors, evidence=evidence)
        history.append(result.verdict)
        actions.append(decide(history, result, DEFAULTS, evidence))
        if actions[-1] != "continue":
            break
    assert actions[-1] == "abort" and "pause" not in actions and len(actions) <= 6


def test_a_degraded_canary_that_leans_healthy_still_pauses() -> None:
    """6 % windows: degraded, the evidence leans healthy, so degraded_limit in a row pauses."""
    evidence, history, actions = ErrorEvidence(), [], []
    for _ in range(3):
        result, evidence = judge(200, 12, stable=STABLE_HALF_PERCENT, evidence=evidence)
        history.append(result.verdict)
        actions.append(decide(history, result, DEFAULTS, evidence))
    assert actions == ["continue", "continue", "pause"] and evidence.llr <= 0
