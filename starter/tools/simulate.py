"""`coderunner autoscale simulate`: replay a metric trace through the production decision path.

The trace gives the deployment's TOTAL load over time; per-instance metrics are that load divided
by the ready instances, so adding replicas lowers them as it would in production. Each sync runs
`decisions.hpa.decide` + `decisions.autoscale_rules.constrain` + `decisions.cost.accrue`, the same
functions the AutoscalerWorkflow calls, so a policy can be tuned offline against yesterday's load.
Each instance is priced like the workflow prices it (`decisions.pricing.instance_rate`), at the
resources given (default: what a spec that declares none gets, 1 CPU and 512 MiB).

Trace CSV columns: `t_s` and `rps` (total requests/s) are required; optional `cpu` (total CPU demand
in percent of one instance, e.g. 350 = three and a half busy instances), `memory` (percent per
instance), `latency_p95` (ms) and `error_rate` (0..1) are used as given.
"""

from __future__ import annotations

import csv
import io
import itertools

from pydantic import BaseModel

from coderunner.decisions.autoscale_rules import constrain
from coderunner.decisions.cost import accrue
from coderunner.decisions.hpa import decide
from coderunner.decisions.pricing import instance_rate, rate_text
from coderunner.models.autoscale import (
    AutoscalePolicy,
    MetricName,
    MetricSample,
    ScalingHistory,
    ScalingInput,
)
from coderunner.models.pricing import InstanceRate
from coderunner.models.sandbox import Resources

COLUMNS = ("t_s", "rps", "cpu", "memory", "latency_p95", "error_rate")


class TraceError(ValueError):
    pass


class TraceRow(BaseModel):
    t_s: float
    rps: float
    cpu: float | None = None
    memory: float | None = None
    latency_p95: float | None = None
    error_rate: float | None = None


class SimPoint(BaseModel):
    t_s: float
    rps: float
    replicas: int
    ready: int
    cost: float
    limited_by: str | None = None
    note: str = ""


class SimResult(BaseModel):
    policy: AutoscalePolicy
    points: list[SimPoint]
    total_cost: float
    instance_hours: float
    rate: InstanceRate  # one instance's price per hour, and what it is made of


def load_trace(text: str) -> list[TraceRow]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"t_s", "rps"} <= set(reader.fieldnames):
        raise TraceError(f"trace needs a header with t_s and rps (optional: {', '.join(COLUMNS[2:])})")
    unknown = set(reader.fieldnames) - set(COLUMNS)
    if unknown:
        raise TraceError(f"unknown trace column(s) {', '.join(sorted(unknown))}: "
                         f"known are {', '.join(COLUMNS)}")
    rows = []
    for n, raw in enumerate(reader, start=2):
        try:
            rows.append(TraceRow.model_validate({k: v for k, v in raw.items() if v not in (None, "")}))
        except ValueError as err:
            raise TraceError(f"trace line {n}: {err}") from None
    if len(rows) < 2:
        raise TraceError("trace needs at least two rows")
    if any(b.t_s <= a.t_s for a, b in itertools.pairwise(rows)):
        raise TraceError("trace t_s must increase row by row")
    return rows


def _at(rows: list[TraceRow], t: float) -> TraceRow:
    """The last row at or before t (a step function, as a scraped metric is)."""
    current = rows[0]
    for row in rows:
        if row.t_s > t:
            break
        current = row
    return current


def _samples(policy: AutoscalePolicy, row: TraceRow, ready: int) -> list[MetricSample]:
    per = {MetricName.RPS: row.rps / ready if ready else None,
           MetricName.CPU: row.cpu / ready if ready and row.cpu is not None else None,
           MetricName.MEMORY: row.memory, MetricName.LATENCY_P95: row.latency_p95,
           MetricName.ERROR_RATE: row.error_rate}
    return [MetricSample(metric=m.metric, value=per[m.metric]) for m in policy.metrics]


def simulate_trace(policy: AutoscalePolicy, rows: list[TraceRow], start_replicas: int | None = None,
                   boot_s: float = 5.0, resources: Resources | None = None) -> SimResult:
    rate = instance_rate(policy, resources or Resources())
    replicas = start_replicas if start_replicas is not None else policy.min_replicas
    ready_at = [rows[0].t_s] * replicas  # when each instance became (or becomes) ready
    history, spend, inst_s = ScalingHistory(), 0.0, 0.0
    points: list[SimPoint] = []
    t, dt, end = rows[0].t_s, float(policy.sync_interval_s), rows[-1].t_s
    while t <= end:
        row = _at(rows, t)
        ready = sum(1 for r in ready_at if r <= t)
        decision = decide(policy, ScalingInput(now_s=t, current_replicas=replicas, ready_replicas=ready,
                                               metrics=_samples(policy, row, ready), history=history))
        c = constrain(decision, policy, t)
        history = c.history
        note = ""
        if c.replicas != replicas:
            ratios = ", ".join(f"{p.metric.value} {p.ratio:.2f}" for p in decision.metric_proposals
                               if p.ratio is not None)
            note = f"{replicas}→{c.replicas} [{ratios}]"
            if c.replicas > replicas:
                ready_at += [t + boot_s] * (c.replicas - replicas)
            else:
                ready_at = sorted(ready_at)[: c.replicas]
            replicas = c.replicas
        spend = accrue(spend, replicas * dt, rate.per_hour)
        inst_s += replicas * dt
        points.append(SimPoint(t_s=t, rps=row.rps, replicas=replicas, ready=ready, cost=spend,
                               limited_by=c.limited_by, note=note))
        t += dt
    return SimResult(policy=policy, points=points, total_cost=spend, instance_hours=inst_s / 3600, rate=rate)


def render_timeline(result: SimResult) -> str:
    p = result.policy
    lines = [f"policy {p.name}: {p.min_replicas} to {p.max_replicas} replicas, sync {p.sync_interval_s}s, "
             f"down window {p.scale_down.stabilization_window_s}s, {len(result.points)} decisions",
             f"{'t':>8}  {'rps':>8}  replicas  change"]
    for pt in result.points:
        if pt.note or pt is result.points[0]:
            why = f" (limited by {pt.limited_by})" if pt.limited_by and pt.note else ""
            lines.append(f"{_clock(pt.t_s):>8}  {pt.rps:>8.0f}  {pt.replicas:>8}  {pt.note or 'start'}{why}")
    peak = max(pt.replicas for pt in result.points)
    lines.append(f"peak {peak} replicas, {result.instance_hours:.2f} instance-hours, "
                 f"cost {result.total_cost:.4f} at {rate_text(result.rate, 1)} per instance")
    return "\n".join(lines)


def _clock(t: float) -> str:
    t = int(t)
    return f"{t // 3600:d}:{t % 3600 // 60:02d}:{t % 60:02d}"
