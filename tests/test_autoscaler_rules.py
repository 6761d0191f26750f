"""The rules around the HPA decision (pure): metric aggregation, override, budget caps, canary hold."""

from __future__ import annotations

import pytest

from coderunner.decisions.autoscale_rules import constrain, samples_from
from coderunner.decisions.hpa import decide
from coderunner.models.autoscale import AutoscalePolicy, MetricName, MetricSample, ScalingInput
from coderunner.models.autoscaler import Override
from coderunner.models.sandbox import BackendStats, InstanceStats

ALL = list(MetricName)


def policy(**extra: object) -> AutoscalePolicy:
    return AutoscalePolicy.model_validate({"name": "p", "min_replicas": 1, "max_replicas": 10,
                                           "metrics": [{"metric": "rps", "target": 10}], **extra})


def stats(iid: str, cpu: float, mem: float) -> InstanceStats:
    return InstanceStats(instance_id=iid, cpu_percent=cpu, memory_bytes=1, memory_percent=mem)


def test_samples_average_over_ready_instances_only() -> None:
    backends = [BackendStats(instance_id="a", requests=60, errors=6,
                             latency_ms_samples=[10.0] * 19 + [100.0]),
                BackendStats(instance_id="b", requests=40, errors=0, latency_ms_samples=[20.0] * 20)]
    got = {s.metric: s.value for s in samples_from(ALL, ["a", "b"], [stats("a", 50, 10), stats("b", 30, 20),
                                                                      stats("c", 99, 99)], backends, 5.0)}
    assert got[MetricName.CPU] == 40 and got[MetricName.MEMORY] == 15
    assert got[MetricName.RPS] == pytest.approx(100 / 5 / 2)
    assert got[MetricName.ERROR_RATE] == pytest.approx(0.06)
    assert got[MetricName.LATENCY_P95] is not None and 20 <= got[MetricName.LATENCY_P95] <= 100


def test_no_traffic_means_no_latency_or_error_data_but_zero_rps() -> None:
    got = {s.metric: s for s in samples_from(ALL, ["a"], [], [BackendStats(instance_id="a")], 1.0)}
    assert got[MetricName.RPS].value == 0
    assert got[MetricName.LATENCY_P95].value is None and got[MetricName.ERROR_RATE].value is None


def test_ready_instances_without_host_stats_are_counted_missing() -> None:
    """HPA's missing pods: the decision fills them in (0 % going up, 100 % going down)."""
    got = {s.metric: s for s in samples_from(ALL, ["a", "b", "c"], [stats("a", 50, 10)], [], 1.0)}
    assert (got[MetricName.CPU].value, got[MetricName.CPU].missing) == (50, 2)
    assert got[MetricName.MEMORY].missing == 2 and got[MetricName.RPS].missing == 0
    nothing = {s.metric: s for s in samples_from(ALL, ["a"], [], [], 1.0)}
    assert nothing[MetricName.CPU].value is None and nothing[MetricName.CPU].missing == 0


def test_unreadable_sources_mark_their_metrics_errored() -> None:
    got = {s.metric: s for s in samples_from(ALL, ["a"], None, None, 1.0, stats_error="host down",
                                             router_error="router down")}
    assert got[MetricName.CPU].error == "host down" and got[MetricName.RPS].error == "router down"


def _decision(p: AutoscalePolicy, current: int, rps: float, now: float = 100.0):  # type: ignore[no-untyped-def]
    return decide(p, ScalingInput(now_s=now, current_replicas=current, ready_replicas=current,
                                  metrics=[MetricSample(metric=MetricName.RPS, value=rps)]))


def test_override_wins_and_leaves_no_scale_event() -> None:
    p = policy()
    d = _decision(p, 2, 40)  # wants 8
    c = constrain(d, p, 100.0, override=Override(replicas=3, reason="launch", set_at_s=90))
    assert (c.replicas, c.limited_by) == (3, "override") and c.history.events == []
    assert c.history.recommendations  # the window still learns from the metrics


@pytest.mark.parametrize("action, current, rps, want", [
    ("cap-current", 2, 40, 2),  # growth refused
    ("cap-current", 4, 1, 1),  # shrinking is still allowed
    ("cap-min", 4, 40, 1),
])
def test_budget_exhausted_applies_the_policy_action(action: str, current: int, rps: float, want: int) -> None:
    p = policy(budget_action=action, scale_down={"stabilization_window_s": 0})
    c = constrain(_decision(p, current, rps), p, 100.0, budget_level=100)
    assert c.replicas == want
    assert [e.delta for e in c.history.events] == ([want - current] if want != current else [])


def test_below_100_percent_the_budget_does_not_limit() -> None:
    p = policy()
    d = _decision(p, 2, 40)
    assert constrain(d, p, 100.0, budget_level=90).replicas == d.desired_replicas == 6  # Pods 4/15s


def test_canary_holds_scale_down_but_not_scale_up() -> None:
    p = policy(scale_down={"stabilization_window_s": 0})
    down = constrain(_decision(p, 4, 1), p, 100.0, canary=True)
    assert (down.replicas, down.limited_by) == (4, "canary in progress") and down.history.events == []
    assert constrain(_decision(p, 2, 40), p, 100.0, canary=True).replicas == 6
