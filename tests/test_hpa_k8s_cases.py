"""Kubernetes' own replica-calculator cases (pkg/controller/podautoscaler/replica_calculator_test.go),
ported as a table: per-pod readiness and values in, the replica count HPA computes out.

CPU levels are k8s milli-CPU against a 1000m request, i.e. percent = level / 10; custom-metric cases
(`…CM`) use the raw per-pod values. `None` is a pod without metrics ("missing"). Cases about pod
phases, CPU initialization and container requests have no counterpart here (see `decisions.hpa`).
"""

from __future__ import annotations

import pytest

from coderunner.decisions.hpa import propose
from coderunner.models.autoscale import MetricName, MetricSample, MetricTarget

T, F = True, False
CPU, RPS = MetricName.CPU, MetricName.RPS

# fmt: off
CASES = [
    # (k8s test, metric, target, readiness per pod, value per pod, expected replicas)
    ("ScaleUp", CPU, 30, [T, T, T], [30, 50, 70], 5),
    ("ScaleUpUnreadyLessScale", CPU, 30, [F, T, T], [30, 50, 70], 4),
    ("ScaleUpUnreadyNoScale", CPU, 30, [T, F, F], [40, 50, 70], 3),
    ("ScaleUpIgnoresFailedPods", CPU, 30, [T, T], [50, 70], 4),
    ("ScaleDown", CPU, 50, [T, T, T, T, T], [10, 30, 50, 25, 25], 3),
    ("ScaleDownIncludeUnreadyPods", CPU, 50, [F, F, T, T, T], [10, 30, 50, 25, 25], 2),
    ("ScaleDownIgnoresFailedPods", CPU, 50, [T, T, T, T, T], [10, 30, 50, 25, 25], 3),
    ("Tolerance", CPU, 100, [T, T, T], [101, 103, 102], 3),
    ("MissingMetrics", CPU, 100, [T, T, T, T], [40, 9.5, None, None], 3),
    ("MissingMetricsNoChangeEq", CPU, 100, [T, T], [100, None], 2),
    ("MissingMetricsNoChangeGt", CPU, 100, [T, T], [190, None], 2),
    ("MissingMetricsNoChangeLt", CPU, 100, [T, T], [60, None], 2),
    ("MissingMetricsUnreadyChange", CPU, 50, [F, T, T], [10, 45, None], 3),
    ("MissingMetricsUnreadyScaleUp", CPU, 50, [F, T, T], [10, 200, None], 4),
    ("MissingMetricsUnreadyScaleDown", CPU, 50, [F, T, T, T], [10, 10, 10, None], 3),
    ("ScaleUpCM", RPS, 15000, [T, T, T], [20000, 10000, 30000], 4),
    ("ScaleDownCM", RPS, 20000, [T, T, T, T, T], [12000] * 5, 3),
    ("ToleranceCM", RPS, 20000, [T, T, T], [20000, 21000, 21000], 3),
    # the example: 5 pods, 3 ready, 30 % of a 50 % target
    ("issue 8: unready ignored on scale-down", CPU, 50, [F, F, T, T, T], [0, 0, 30, 30, 30], 2),
]
# fmt: on


def k8s_sample(metric: MetricName, ready: list[bool], values: list[float | None]) -> MetricSample:
    """What our activity reports for these pods: the average over ready pods with a value, and how
    many ready pods had none. Unready pods' values are dropped, as the replica calculator does."""
    seen = [v for r, v in zip(ready, values, strict=True) if r and v is not None]
    missing = sum(1 for r, v in zip(ready, values, strict=True) if r and v is None)
    return MetricSample(metric=metric, value=sum(seen) / len(seen) if seen else None, missing=missing)


@pytest.mark.parametrize(
    ("metric", "target", "ready", "values", "expected"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_replica_calculator_case(
    metric: MetricName, target: float, ready: list[bool], values: list[float | None], expected: int
) -> None:
    p = propose(
        MetricTarget(metric=metric, target=target),
        k8s_sample(metric, ready, values),
        current=len(ready),
        ready=sum(ready),
        tolerance=0.1,
    )
    assert p.proposed_replicas == expected, p.note


def test_empty_metrics_give_no_proposal() -> None:
    """TestReplicaCalcEmptyMetrics: no pod reported, HPA errors; we ignore the metric this round."""
    p = propose(
        MetricTarget(metric=CPU, target=50),
        k8s_sample(CPU, [T, T, T, T], [None] * 4),
        current=4,
        ready=4,
        tolerance=0.1,
    )
    assert p.proposed_replicas is None


def test_all_missing_values_count_as_no_data() -> None:
    """A value but no ready instance that reported it (inconsistent input) is no data either."""
    p = propose(
        MetricTarget(metric=CPU, target=50),
        MetricSample(metric=CPU, value=80, missing=2),
        current=2,
        ready=2,
        tolerance=0.1,
    )
    assert p.proposed_replicas is None
