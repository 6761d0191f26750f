"""Canary verdict rules, the verdict-history policy, and rollout strategy validation (table-driven)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from coderunner.decisions.canary import analysis_step_passed, judge_window, next_action, plan_weights
from coderunner.decisions.stats import aggregate, percentile
from coderunner.models.rollout import (
    AnalysisSettings,
    AnalysisStep,
    PauseStep,
    RolloutStrategy,
    SetWeightStep,
    WindowVerdict,
    parse_duration,
)
from coderunner.models.sandbox import BackendStats, InstanceGroup

H, D, U, N = (WindowVerdict(v) for v in ("healthy", "degraded", "unhealthy", "inconclusive"))
DEFAULTS = AnalysisSettings()


def backend(
    requests: int, errors: int = 0, latencies: list[float] | None = None, *, canary: bool = True
) -> BackendStats:
    group = InstanceGroup.CANARY if canary else InstanceGroup.STABLE
    samples = latencies if latencies is not None else [50.0 + i % 40 for i in range(requests)]
    return BackendStats(
        instance_id=f"{group}-1", group=group, requests=requests, errors=errors, latency_ms_samples=samples
    )


def spread(low: float, high: float, n: int = 100) -> list[float]:
    return [low + (high - low) * i / (n - 1) for i in range(n)]


STABLE_OK = [backend(100, 0, spread(80, 120), canary=False)]
STABLE_FLAKY = [backend(100, 4, spread(80, 120), canary=False)]

# (name, canary backends, stable backends, settings, verdict, substrings expected in the reasons)
# fmt: off
CASES = [
    ("too little traffic", [backend(10, 10)], STABLE_OK, DEFAULTS, N, ["10 of the 20"]),
    ("no canary backends", [], STABLE_OK, DEFAULTS, N, ["0 of the 20"]),
    ("error rate unhealthy", [backend(100, 20)], STABLE_OK, DEFAULTS, U,
     ["canary error rate 20.0% > unhealthy limit 10.0% (20 errors of 100 requests)"]),
    ("p95 over limit", [backend(100, 0, spread(100, 300))], [], DEFAULTS, U,
     ["canary p95 latency 290.0 ms > limit 200.0 ms"]),
    ("error rate degraded", [backend(100, 7)], STABLE_FLAKY, DEFAULTS, D, ["degraded band 5.0%-10.0%"]),
    ("degraded lower edge", [backend(100, 5)], STABLE_OK, DEFAULTS, D, ["5.0% is in the degraded band"]),
    ("degraded upper edge", [backend(100, 10)], [], DEFAULTS, D, ["10.0% is in the degraded"]),
    # with a clean stable, a canary inside the degraded band is already > 5 points worse: unhealthy
    ("degraded but stable clean", [backend(100, 7)], STABLE_OK, DEFAULTS, U, ["degraded band", "by 7.0%"]),
    ("healthy just under", [backend(1000, 49)], STABLE_OK, DEFAULTS, H, ["canary healthy: error rate 4.9%"]),
    ("no stable", [backend(100)], [], DEFAULTS, H, ["no stable backends"]),
    ("stable too quiet", [backend(100)], [backend(5, canary=False)], DEFAULTS, H,
     ["stable served 5 of the 20"]),
    ("error delta", [backend(100, 4)], STABLE_OK, AnalysisSettings(max_error_rate_increase=0.02),
     U, ["exceeds stable's 0.0% by 4.0% > allowed increase 2.0%"]),
    ("degraded and delta", [backend(100, 9)], [backend(100, 2, canary=False)], DEFAULTS, U,
     ["degraded band", "exceeds stable's 2.0% by 7.0%"]),
    ("much slower", [backend(100, 0, spread(160, 190))], [backend(100, 0, spread(40, 120), canary=False)],
     DEFAULTS, U, ["significantly higher", "ratio 1.62 > limit 1.50"]),
    ("a bit slower", [backend(100, 0, spread(105, 145))], STABLE_OK, DEFAULTS, D,
     ["median 125.0 ms vs 100.0 ms (+25.0 ms)", "<= limit 1.50"]),
    ("slower stable p95 zero", [backend(100, 0, spread(20, 40))],
     [backend(100, 0, [0.0] * 100, canary=False)], DEFAULTS, U, ["n/a (stable p95 is 0)"]),
    ("significant but tiny", [backend(1000, 0, spread(82, 122, 1000))],
     [backend(1000, 0, spread(80, 120, 1000), canary=False)], DEFAULTS, H, ["canary healthy"]),
    ("no canary samples", [backend(100, 0, [])], STABLE_OK, DEFAULTS, H,
     ["latency comparison skipped: 0 canary and 100 stable"]),
    ("identical", [backend(100, 1, spread(80, 120))], [backend(100, 1, spread(80, 120), canary=False)],
     DEFAULTS, H, ["canary healthy"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "canary", "stable", "cfg", "verdict", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_judge_window(
    name: str,
    canary: list[BackendStats],
    stable: list[BackendStats],
    cfg: AnalysisSettings,
    verdict: WindowVerdict,
    expected: list[str],
) -> None:
    result = judge_window(canary, stable, cfg)
    assert result.verdict is verdict, result.reasons
    for text in expected:
        assert any(text in reason for reason in result.reasons), (text, result.reasons)


def test_comparison_fields() -> None:
    tiny = judge_window(
        [backend(1000, 0, spread(82, 122, 1000))],
        [backend(1000, 0, spread(80, 120, 1000), canary=False)],
        DEFAULTS,
    )
    assert tiny.comparison is not None and tiny.comparison.p_value is not None
    assert tiny.comparison.p_value < DEFAULTS.mann_whitney_alpha  # significant, but below the min effect
    assert tiny.comparison.canary_slower is False
    assert tiny.comparison.median_delta_ms == pytest.approx(2.0)
    slow = judge_window([backend(100, 0, spread(105, 145))], STABLE_OK, DEFAULTS)
    assert slow.comparison is not None and slow.comparison.canary_slower
    assert slow.comparison.median_ratio == pytest.approx(1.25)
    assert slow.comparison.p95_ratio == pytest.approx(143 / 118, rel=1e-3)
    assert judge_window([backend(100)], [], DEFAULTS).comparison is None
    assert judge_window([backend(100)], [], DEFAULTS).stable is None


# (history, action) with failure_limit=2, inconclusive_limit=3, degraded_limit=3
# fmt: off
HISTORIES = [
    ([], "continue"), ([H], "continue"), ([U], "continue"), ([U, U], "abort"), ([H, U, U], "abort"),
    ([U, U, U], "abort"), ([D, D, U, U], "abort"), ([U, H, U], "continue"), ([N, N], "continue"),
    ([N, N, N], "pause"), ([H, N, N, N], "pause"), ([N, D, N], "continue"), ([N, U, N], "continue"),
    ([D, D], "continue"), ([D, D, D], "pause"), ([U, D, U], "pause"), ([H, D, D], "continue"),
    ([D, H, D], "continue"),
]
# fmt: on


@pytest.mark.parametrize(("history", "action"), HISTORIES)
def test_next_action(history: list[WindowVerdict], action: str) -> None:
    assert next_action(history, DEFAULTS) == action


def test_next_action_limits_are_settings() -> None:
    strict = AnalysisSettings(failure_limit=1, inconclusive_limit=1, degraded_limit=1)
    assert [next_action([v], strict) for v in (H, D, U, N)] == ["continue", "pause", "abort", "pause"]


def test_analysis_step_passed_counts_only_healthy() -> None:
    assert analysis_step_passed([H, H], 2)
    assert not analysis_step_passed([H, D, N], 2)
    assert analysis_step_passed([D, H, N, H], 2)


# --- strategy ------------------------------------------------------------------------------------


def test_default_strategy() -> None:
    strategy = RolloutStrategy()
    assert plan_weights(strategy) == [10, 25, 50, 75, 100]
    assert [s.duration_s for s in strategy.steps if isinstance(s, PauseStep)] == [30.0] * 4
    assert isinstance(strategy.steps[-1], SetWeightStep)
    longer = RolloutStrategy(step_duration_s=60)
    assert [s.duration_s for s in longer.steps if isinstance(s, PauseStep)] == [60.0] * 4


def test_shorthand() -> None:
    strategy = RolloutStrategy.from_shorthand("5, 50%,100", step_duration="2m", analysis_interval="500ms")
    pause = PauseStep(duration_s=120)
    weights = [SetWeightStep(weight=5), SetWeightStep(weight=50), SetWeightStep(weight=100)]
    assert strategy.steps == [weights[0], pause, weights[1], pause, weights[2]]
    assert strategy.analysis.interval_s == 0.5 and strategy.step_duration_s == 120
    assert RolloutStrategy.from_shorthand("100").steps == [SetWeightStep(weight=100)]


def test_steps_round_trip_through_discriminator() -> None:
    kinds = [{"kind": "set_weight", "weight": 20}, {"kind": "pause"}, {"kind": "analysis", "windows": 3}]
    raw = {"steps": [*kinds, {"kind": "set_weight", "weight": 100}]}
    strategy = RolloutStrategy.model_validate(raw)
    assert strategy.steps[1] == PauseStep(duration_s=None) and strategy.steps[2] == AnalysisStep(windows=3)
    assert RolloutStrategy.model_validate_json(strategy.model_dump_json()) == strategy


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            "10,25,75,50,100",
            "steps: weights must rise: 50 follows 75 at step 4 — order them ascending, e.g. 10,25,50,75,100",
        ),
        ("25,25,100", "weights must rise: 25 follows 25 at step 2"),
        ("0,50,100", "weight 0 at step 1 is out of range — use 1..100"),
        ("10,150", "weight 150 at step 2 is out of range"),
        ("10,50", "the last weight is 50, not 100 — end with 100"),
        ("10,abc,100", "'abc' at step 2 is not a whole percentage"),
        ("", "'' at step 1 is not a whole percentage"),
    ],
)
def test_shorthand_rejects_bad_steps(steps: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        RolloutStrategy.from_shorthand(steps)
    assert message in str(error.value)


# fmt: off
BAD_MODEL_STEPS = [
    ([{"kind": "set_weight", "weight": 50}, {"kind": "set_weight", "weight": 20}], "20 follows 50 at step 2"),
    ([{"kind": "pause", "duration_s": 5}], "no set_weight step"),
    ([{"kind": "set_weight", "weight": 0}], "weight 0 is out of range — use 1..100"),
    ([{"kind": "set_weight", "weight": 100}, {"kind": "pause", "duration_s": -1}], "use seconds >= 0"),
    ([{"kind": "analysis", "windows": 0}, {"kind": "set_weight", "weight": 100}], "windows"),
    ([{"kind": "jump", "weight": 100}], "kind"),
]
# fmt: on


@pytest.mark.parametrize(("steps", "message"), BAD_MODEL_STEPS)
def test_model_rejects_bad_steps(steps: list[dict], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        RolloutStrategy.model_validate({"steps": steps})
    assert message in str(error.value)


# fmt: off
DURATIONS = [("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), ("45", 45.0), ("1.5s", 1.5),
             (" 0 ", 0.0), (12, 12.0), (0.25, 0.25)]
# fmt: on


@pytest.mark.parametrize(("text", "seconds"), DURATIONS)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["3x", "-5s", "", "s", "1d", "1e3", "nan", True, -1.0, float("inf")])
def test_parse_duration_rejects(text: str | float) -> None:
    with pytest.raises(ValueError, match="step_duration"):
        parse_duration(text, "step_duration")


def test_shorthand_bad_durations_name_the_flag() -> None:
    with pytest.raises(ValueError, match=r"step_duration: '3 weeks' is not a duration — use e\.g\. 500ms"):
        RolloutStrategy.from_shorthand(step_duration="3 weeks")
    with pytest.raises(ValueError, match="analysis_interval: '0s' must be > 0"):
        RolloutStrategy.from_shorthand(analysis_interval="0s")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"interval_s": 0}, "interval_s"),
        ({"min_requests": 0}, "min_requests"),
        ({"error_rate_degraded": 0.2}, "error_rate_degraded 0.2 > error_rate_unhealthy 0.1"),
    ],
)
def test_analysis_settings_validation(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AnalysisSettings(**fields)


def test_stats_helpers() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5 and percentile([10.0], 99) == 10.0
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)  # numpy: 95.05
    group = aggregate([backend(10, 1, [1.0, 2.0]), backend(30, 3, [3.0, 4.0, 5.0])])
    assert (group.requests, group.errors, group.error_rate, group.latency_samples) == (40, 4, 0.1, 5)
    assert group.p50_ms == 3.0 and aggregate([]).p95_ms is None and aggregate([]).error_rate == 0.0
    assert aggregate([backend(30, 0, [float("nan"), float("inf"), 7.0])]).latency_samples == 1  # dropped
    with pytest.raises(ValueError):
        percentile([], 50)


# --- properties ----------------------------------------------------------------------------------

latency_lists = st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=60)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 19), st.integers(0, 19), latency_lists, st.booleans())
def test_never_healthy_below_min_requests(
    requests: int, errors: int, latencies: list[float], with_stable: bool
) -> None:
    result = judge_window(
        [backend(requests, min(errors, requests), latencies)], STABLE_OK if with_stable else [], DEFAULTS
    )
    assert result.verdict is WindowVerdict.INCONCLUSIVE


@settings(max_examples=150, deadline=None)
@given(st.integers(20, 5000), st.data())
def test_canary_like_stable_under_thresholds_is_healthy(requests: int, data: st.DataObject) -> None:
    errors = data.draw(st.integers(0, max(0, (requests * 5 - 1) // 100)))  # error rate < 5%
    latencies = data.draw(st.lists(st.floats(0, 190, allow_nan=False), min_size=1, max_size=200))
    result = judge_window(
        [backend(requests, errors, latencies)],
        [backend(requests, errors, list(latencies), canary=False)],
        DEFAULTS,
    )
    assert result.verdict is WindowVerdict.HEALTHY, result.reasons
    assert result.comparison is not None and not result.comparison.canary_slower


@given(st.lists(st.sampled_from([H, D, U, N]), max_size=12))
def test_abort_only_after_unhealthy(history: list[WindowVerdict]) -> None:
    action = next_action(history, DEFAULTS)
    if action == "abort":
        assert history[-1] is U and history[-2] is U
    if history and history[-1] is H:
        assert action == "continue"
