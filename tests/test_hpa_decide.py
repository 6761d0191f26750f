"""The HPA decision, checked against the Kubernetes HPA documentation's worked cases and rules."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderunner.decisions.hpa import decide, drop_event
from coderunner.models.autoscale import (
    AutoscalePolicy,
    MetricName,
    MetricSample,
    ScaleEvent,
    ScalingDecision,
    ScalingHistory,
    ScalingInput,
    ScalingRules,
    TimedRecommendation,
)

NOW = 10_000.0


def policy(metrics: dict[str, float] | None = None, **kw: Any) -> AutoscalePolicy:
    data: dict[str, Any] = {"name": "t", "min_replicas": 1, "max_replicas": 50}
    data["metrics"] = [{"metric": m, "target": t} for m, t in (metrics or {"cpu": 50}).items()]
    return AutoscalePolicy.model_validate({**data, **kw})


NO_DOWN_WINDOW = {"scale_down": {"stabilization_window_s": 0}}


def observe(
    current: int,
    ready: int | None = None,
    history: ScalingHistory | None = None,
    now: float = NOW,
    errors: dict[str, str] | None = None,
    **values: float | None,
) -> ScalingInput:
    samples = [MetricSample(metric=m, value=v) for m, v in values.items()]
    samples += [MetricSample(metric=m, error=e) for m, e in (errors or {}).items()]
    return ScalingInput(
        now_s=now,
        current_replicas=current,
        ready_replicas=current if ready is None else ready,
        metrics=samples,
        history=history or ScalingHistory(),
    )


def recs(*pairs: tuple[float, int]) -> ScalingHistory:
    return ScalingHistory(recommendations=[TimedRecommendation(at_s=NOW - a, replicas=r) for a, r in pairs])


def events(*pairs: tuple[float, int]) -> ScalingHistory:
    return ScalingHistory(events=[ScaleEvent(at_s=NOW - a, delta=d) for a, d in pairs])


# --- the table: (policy, observation, desired, limited_by) ----------------------------------------

DOWN_RULES = [{"type": "Pods", "value": 3, "period_s": 60}, {"type": "Percent", "value": 50, "period_s": 60}]


def down(select: str) -> AutoscalePolicy:
    return policy(scale_down={"stabilization_window_s": 0, "select_policy": select, "policies": DOWN_RULES})


P, NDW = policy(), policy(**NO_DOWN_WINDOW)
CM, CMN, RPS = (
    policy({"cpu": 50, "memory": 50}),
    policy({"cpu": 50, "memory": 50}, **NO_DOWN_WINDOW),
    policy({"rps": 100}),
)
UP_MIN, UP_OFF = policy(scale_up={"select_policy": "Min"}), policy(scale_up={"select_policy": "Disabled"})
UP_1, UP60 = (
    policy(scale_up={"policies": [{"type": "Pods", "value": 1, "period_s": 60}]}),
    policy(scale_up={"stabilization_window_s": 60}),
)
TOL, NR, STAB, PCT100, PODS4 = (
    "tolerance",
    "not-ready instances",
    "stabilization window",
    "policy Percent 100/15s",
    "policy Pods 4/15s",
)
PCT50, PODS3, ERR = "policy Percent 50/60s", "policy Pods 3/60s", "metric error blocks scale-down"

# fmt: off
CASES = [
    # the Kubernetes documentation's worked cases
    ("doc: 3 at 90% of 50% -> 6", P, observe(3, cpu=90), 6, None),
    ("doc: 54% of 50% is within 10%", P, observe(3, cpu=54), 3, TOL),
    ("tolerance edge up (55%)", P, observe(3, cpu=55), 3, TOL),
    ("tolerance edge down (45%)", NDW, observe(20, cpu=45), 20, TOL),
    ("just outside tolerance up", P, observe(3, cpu=56), 4, None),
    ("just outside tolerance down", NDW, observe(20, cpu=44), 18, None),
    ("doc: 1 at 200m of 100m -> 2", RPS, observe(1, rps=200), 2, None),
    ("doc: 2 at 50m of 100m -> 1", RPS, observe(2, history=recs((301, 2)), rps=50), 1, None),
    ("multi-metric: the max wins", CM, observe(3, cpu=60, memory=80), 5, None),
    # missing metrics, errors, not-ready instances
    ("missing metric ignored", CM, observe(3, cpu=None, memory=80), 5, None),
    ("no usable metric", CM, observe(3, cpu=None, errors={"memory": "x"}), 3, "no usable metric"),
    ("error blocks scale-down", CMN, observe(6, memory=10, errors={"cpu": "x"}), 6, ERR),
    ("error allows scale-up", CM, observe(3, memory=100, errors={"cpu": "x"}), 6, None),
    ("unready = 0% going up: 2*3/5", P, observe(5, ready=3, cpu=100), 6, None),
    ("unready flip the direction", P, observe(5, ready=2, cpu=60), 5, NR),
    ("unready ignored going down (k8s)", NDW, observe(4, ready=2, cpu=20), 1, None),
    ("unready ignored: 5, 3 ready, 30%", NDW, observe(5, ready=3, cpu=30), 2, None),
    ("unready ignored: 0.8 * 10", NDW, observe(20, ready=10, cpu=40), 8, None),
    ("no ready instance, high", NDW, observe(4, ready=0, cpu=200), 4, "no usable metric"),
    ("no ready instance, low", NDW, observe(4, ready=0, cpu=5), 4, "no usable metric"),
    ("ready above current", P, observe(3, ready=5, cpu=90), 6, None),
    # behaviour policies (ratio 3 up, 0.2 down)
    ("up Max: +100% beats +4", P, observe(10, cpu=150), 20, PCT100),
    ("up Min: +4", UP_MIN, observe(10, cpu=150), 14, PODS4),
    ("up Max: +4 beats +100%", P, observe(2, cpu=150), 6, None),
    ("up Min: +100%", UP_MIN, observe(2, cpu=150), 4, PCT100),
    ("up Disabled", UP_OFF, observe(10, cpu=150), 10, "scale-up disabled"),
    ("up period started at 3", P, observe(6, history=events((10, 3)), cpu=100), 7, PODS4),
    ("up period over", P, observe(6, history=events((20, 3)), cpu=100), 12, None),
    ("up allowance used up", UP_1, observe(4, history=events((10, 1)), cpu=100), 4, "policy Pods 1/60s"),
    ("down Max: -50% beats -3", down("Max"), observe(10, cpu=10), 5, PCT50),
    ("down Min: -3", down("Min"), observe(10, cpu=10), 7, PODS3),
    ("down Max, period from 12", down("Max"), observe(10, history=events((30, -2)), cpu=10), 6, PCT50),
    ("down Min, period from 12", down("Min"), observe(10, history=events((30, -2)), cpu=10), 9, PODS3),
    ("down event aged out", down("Max"), observe(10, history=events((61, -2)), cpu=10), 5, PCT50),
    ("down Disabled", down("Disabled"), observe(10, cpu=10), 10, "scale-down disabled"),
    # stabilization windows
    ("inside the down window", P, observe(6, history=recs((299, 6)), cpu=25), 6, STAB),
    ("the down window just passed", P, observe(6, history=recs((300, 6)), cpu=25), 3, None),
    ("fresh autoscaler: seeded window", P, observe(6, cpu=25), 6, STAB),
    ("down window max", P, observe(8, history=recs((200, 5), (100, 7), (10, 4)), cpu=25), 7, STAB),
    ("up window min", UP60, observe(3, history=recs((30, 5), (10, 8)), cpu=100), 5, STAB),
    ("up window holds", UP60, observe(3, history=recs((30, 3)), cpu=100), 3, STAB),
    ("up window passed", UP60, observe(3, history=recs((61, 3)), cpu=100), 6, None),
    # bounds
    ("clamp to max", policy(max_replicas=8), observe(6, cpu=500), 8, "max_replicas"),
    ("clamp to min", policy(min_replicas=2, **NO_DOWN_WINDOW), observe(3, cpu=1), 2, "min_replicas"),
    ("above max: straight to it", policy(max_replicas=8), observe(12, cpu=50), 8, "max_replicas"),
    ("below min: straight to it", policy(min_replicas=2), observe(1, cpu=50), 2, "min_replicas"),
    ("scaled to zero stays paused", P, observe(0, cpu=500), 0, "scaled to zero"),
]
# fmt: on


@pytest.mark.parametrize(("p", "inp", "want", "limited_by"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_table(p: AutoscalePolicy, inp: ScalingInput, want: int, limited_by: str | None) -> None:
    d = decide(p, inp)
    assert (d.desired_replicas, d.limited_by) == (want, limited_by)
    assert d.direction == (
        "up" if want > inp.current_replicas else "down" if want < inp.current_replicas else "none"
    )
    assert d.reasons and d.current_replicas == inp.current_replicas


def test_decision_explains_itself_and_records_history() -> None:
    d = decide(policy(), observe(3, cpu=90))
    assert d.metric_proposals[0].proposed_replicas == 6
    assert d.history.events[-1] == ScaleEvent(at_s=NOW, delta=3)
    assert d.history.recommendations[-1] == TimedRecommendation(at_s=NOW, replicas=6)
    assert any("cpu 90 vs target 50" in r for r in d.reasons)
    assert d.reasons[-1] == "scale up from 3 to 6"
    assert drop_event(d.history, NOW).events == []  # for a workflow whose scale request was refused
    d = decide(CMN, observe(6, memory=10, errors={"cpu": "scrape failed"}))
    assert any("scrape failed" in r for r in d.reasons)
    assert decide(policy(), observe(4, ready=2, cpu=20)).metric_proposals[0].adjusted_ratio == pytest.approx(
        0.4  # unready instances are ignored on the way down
    )
    legacy = observe(4, ready=2, cpu=20).model_copy(update={"unready_as_target": True})
    assert decide(policy(), legacy).metric_proposals[0].adjusted_ratio == pytest.approx(0.7)


def test_doc_two_replicas_go_to_one_once_a_fresh_autoscaler_has_watched_the_window() -> None:
    p = policy({"rps": 100})
    history, seen = ScalingHistory(), {}
    for t in range(0, 316, 15):
        d = decide(p, observe(2, history=history, now=float(t), rps=50))
        history, seen[t] = d.history, d.desired_replicas
    before = [r for t, r in seen.items() if t < 300]
    assert before == [2] * 20  # every sync of the first 300 s (0, 15, …, 285) holds 2
    assert seen[300] == 1


def test_history_stays_bounded() -> None:
    p, history = policy(), ScalingHistory()
    for i in range(200):
        history = decide(p, observe(4, history=history, now=NOW + 15 * i, cpu=50 if i % 2 else 45)).history
    assert len(history.recommendations) <= 3
    assert history.recommendations[-1].at_s == NOW + 15 * 199


# --- properties -----------------------------------------------------------------------------------

_policy_st = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["Pods", "Percent"]),
        "value": st.integers(1, 200),
        "period_s": st.integers(1, 120),
    }
)
_rules_st = st.fixed_dictionaries(
    {
        "stabilization_window_s": st.integers(0, 600),
        "select_policy": st.sampled_from(["Max", "Min", "Disabled"]),
        "policies": st.lists(_policy_st, min_size=1, max_size=3),
    }
)


def _sample(name: MetricName) -> st.SearchStrategy[MetricSample]:
    return st.one_of(
        st.builds(MetricSample, metric=st.just(name), value=st.floats(0, 5000)),
        st.just(MetricSample(metric=name, error="boom")),
        st.just(MetricSample(metric=name)),
    )


@st.composite
def scenarios(
    draw: st.DrawFn, in_range: bool = True
) -> tuple[AutoscalePolicy, ScalingInput, ScalingDecision]:
    lo = draw(st.integers(1, 20))
    hi = draw(st.integers(lo, 50))
    names = draw(st.lists(st.sampled_from(list(MetricName)), min_size=1, max_size=3, unique=True))
    p = policy(
        {n.value: draw(st.floats(0.5, 1000)) for n in names},
        min_replicas=lo,
        max_replicas=hi,
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
        scale_up=draw(_rules_st),
        scale_down=draw(_rules_st),
    )
    current = draw(st.integers(lo, hi) if in_range else st.integers(1, 60))
    at = st.floats(NOW - 700, NOW)
    history = ScalingHistory(
        recommendations=draw(st.lists(st.builds(TimedRecommendation, at_s=at, replicas=st.integers(0, 60)))),
        events=draw(st.lists(st.builds(ScaleEvent, at_s=at, delta=st.integers(-10, 10)), max_size=4)),
    )
    inp = ScalingInput(
        now_s=NOW,
        current_replicas=current,
        ready_replicas=draw(st.integers(0, current)),
        metrics=[draw(_sample(n)) for n in names],
        history=history,
    )
    return p, inp, decide(p, inp)


@settings(max_examples=400)
@given(scenarios(in_range=False))
def test_desired_always_within_bounds(case: tuple[AutoscalePolicy, ScalingInput, ScalingDecision]) -> None:
    p, _, d = case
    assert p.min_replicas <= d.desired_replicas <= p.max_replicas


@settings(max_examples=400)
@given(scenarios())
def test_no_scale_down_below_a_recommendation_in_the_down_window(
    case: tuple[AutoscalePolicy, ScalingInput, ScalingDecision],
) -> None:
    p, inp, d = case
    cutoff = NOW - p.scale_down.stabilization_window_s
    held = [r.replicas for r in inp.history.recommendations if r.at_s > cutoff]
    if not inp.history.recommendations and p.scale_down.stabilization_window_s > 0:
        held.append(inp.current_replicas)  # a fresh autoscaler watches a full window first
    if held:
        assert d.desired_replicas >= min(max(held), inp.current_replicas)


def _allowed(rules: ScalingRules, up: bool, current: int, history: ScalingHistory) -> int:
    """Independent oracle: the selected policy's limit, with exact fractions."""
    if rules.select_policy == "Disabled":
        return current
    limits = []
    for pol in rules.policies:
        start = current - sum(e.delta for e in history.events if e.at_s > NOW - pol.period_s)
        step = pol.value if pol.type == "Pods" else math.ceil(Fraction(start * pol.value, 100))
        limits.append(start + step if up else start - step)
    return max(limits) if (rules.select_policy == "Max") == up else min(limits)


@settings(max_examples=400)
@given(scenarios())
def test_one_step_never_exceeds_the_selected_policy(
    case: tuple[AutoscalePolicy, ScalingInput, ScalingDecision],
) -> None:
    p, inp, d = case
    current = inp.current_replicas
    if d.direction == "up":
        assert d.desired_replicas <= max(current, _allowed(p.scale_up, True, current, inp.history))
    if d.direction == "down":
        assert d.desired_replicas >= min(current, _allowed(p.scale_down, False, current, inp.history))
    assert (
        d.recommended_replicas is None
        or (d.desired_replicas - current) * (d.recommended_replicas - current) >= 0
    )  # never moves against the metrics
