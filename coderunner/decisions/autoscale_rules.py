"""What the autoscaler adds around `decisions.hpa.decide`: metric aggregation and the outer rules.

Pure, like `decide`, so the workflow, the simulator and unit tests share them:

- `samples_from` turns what the sandbox host and the router report about the STABLE group into one
  `MetricSample` per metric (averages per ready instance, as HPA's resource metrics are), with the
  count of ready instances the host reported nothing for.
- `constrain` applies, in this order, what a human or the budget says on top of the HPA decision:
  an active override wins outright; at 100 % of the budget the policy's action caps growth (or
  shrinks to min); during a canary rollout scale-downs are held so a rollback has its capacity.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from coderunner.decisions.hpa import drop_event
from coderunner.decisions.stats import percentile
from coderunner.models.autoscale import (
    AutoscalePolicy,
    MetricName,
    MetricSample,
    ScaleEvent,
    ScalingDecision,
    ScalingHistory,
)
from coderunner.models.autoscaler import Override
from coderunner.models.sandbox import BackendStats, InstanceStats


def samples_from(
    metrics: Sequence[MetricName],
    ready_ids: Sequence[str],
    stats: Sequence[InstanceStats] | None,
    backends: Sequence[BackendStats] | None,
    window_s: float,
    stats_error: str | None = None,
    router_error: str | None = None,
) -> list[MetricSample]:
    """One sample per wanted metric over the ready stable instances.

    `stats`/`backends` must already be limited to the stable group; `None` with an error string
    marks the metrics from that source as errored (which blocks a scale-down, never a scale-up).
    """
    ready = set(ready_ids)
    own = [s for s in stats or [] if s.instance_id in ready]
    requests = sum(b.requests for b in backends or [])
    errors = sum(b.errors for b in backends or [])
    latencies = [x for b in backends or [] for x in b.latency_ms_samples]
    out: list[MetricSample] = []
    for metric in metrics:
        host_metric = metric in (MetricName.CPU, MetricName.MEMORY)
        error = stats_error if host_metric else router_error
        if error:
            out.append(MetricSample(metric=metric, error=error))
            continue
        value: float | None = None
        if metric == MetricName.CPU and own:
            value = sum(s.cpu_percent for s in own) / len(own)
        elif metric == MetricName.MEMORY and own:
            value = sum(s.memory_percent for s in own) / len(own)
        elif metric == MetricName.RPS and ready:
            value = requests / window_s / len(ready)
        elif metric == MetricName.LATENCY_P95 and latencies:
            value = percentile(latencies, 95)
        elif metric == MetricName.ERROR_RATE and requests:
            value = errors / requests
        # ready instances the host had no stats for: HPA's "missing pods", filled in by the decision
        missing = len(ready) - len(own) if host_metric and value is not None else 0
        out.append(MetricSample(metric=metric, value=value, missing=missing))
    return out


class Constrained(BaseModel):
    replicas: int
    limited_by: str | None
    reason: str | None
    history: ScalingHistory


def constrain(
    decision: ScalingDecision,
    policy: AutoscalePolicy,
    now_s: float,
    *,
    override: Override | None = None,
    budget_level: int = 0,
    canary: bool = False,
) -> Constrained:
    """The replica count to actually ask for, and the history to carry (with the real scale event)."""
    current = decision.current_replicas
    target, limited_by, reason = decision.desired_replicas, decision.limited_by, None
    history = drop_event(decision.history, now_s) if target != current else decision.history
    if override is not None:
        who = f"{override.actor}" + (f": {override.reason}" if override.reason else "")
        return Constrained(replicas=override.replicas, limited_by="override",
                           reason=f"override by {who} pins {override.replicas}", history=history)
    if budget_level >= 100:
        cap = current if policy.budget_action == "cap-current" else policy.min_replicas
        if policy.budget_action == "cap-min" or target > cap:
            if target != cap:
                target, limited_by = cap, f"budget exhausted ({policy.budget_action})"
                reason = f"monthly budget reached: {policy.budget_action} holds {cap}"
    if canary and target < current:
        target, limited_by = current, "canary in progress"
        reason = f"a canary rollout is in progress: scale-down held at {current}"
    if target != current:
        history = history.model_copy(
            update={"events": [*history.events, ScaleEvent(at_s=now_s, delta=target - current)]}
        )
    return Constrained(replicas=target, limited_by=limited_by, reason=reason, history=history)
