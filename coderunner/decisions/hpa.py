"""The autoscaler's decision: Kubernetes HPA v2's algorithm as one pure function.

`decide(policy, inp)` is called from the AutoscalerWorkflow and from `coderunner autoscale simulate`;
it must stay free of I/O, clocks and randomness (time arrives as `inp.now_s`). The steps and their
order are HPA's (pkg/controller/podautoscaler/horizontal.go and replica_calculator.go), so its
documentation explains ours; tests/test_hpa_k8s_cases.py runs the replica calculator's own test cases.

1. Bounds first: current above max_replicas -> max; below min_replicas -> min; 0 -> leave at 0
   (HPA treats a workload scaled to zero as "autoscaling disabled").
2. Per metric, as the replica calculator: ratio = value / target over the READY instances that
   reported the metric. Without unready instances on a scale-up and without missing values, within
   tolerance keeps the count, else ceil(ratio * reporting) — not-ready instances are ignored on a
   scale-down (5 instances, 3 ready, 30 % of a 50 % target -> 2). Otherwise the gaps are filled in
   and the ratio recomputed: a ready instance with no value counts as 0 % on a scale-up and as 100 %
   (of the target for non-percent metrics) on a scale-down; on a scale-up unready instances count
   as 0 %. If the new ratio is within tolerance or points the other way, keep; else
   ceil(new_ratio * instances counted), never against the direction.
3. The largest proposal wins. A metric with an error blocks a scale-down (we cannot tell it is safe)
   but not a scale-up; a metric with no value (or no ready instance reporting it: HPA's "did not
   receive metrics") is ignored; with no usable metric, keep.
4. Stabilization: the result is bounded below by the MIN recommendation within the scale-up window
   and above by the MAX recommendation within the scale-down window. The raw proposal is recorded.
5. Behaviour policies: each policy allows a change relative to the replica count at the start of its
   period (current minus the scale events already made in that period); select_policy Max takes
   the most permissive, Min the least, Disabled forbids the direction. Then clamp to [min, max].

Deviations from HPA, on purpose:
- integer arithmetic for Percent policies and an epsilon of 1e-9 on the tolerance edge and on
  ceil(), so 55% vs 50% is "within 10%" and 0.7 * 10 proposes 7, not 8;
- readiness applies to every metric, not only CPU: an instance failing its health check gets no
  traffic, so its rps or latency says nothing (HPA ignores readiness for non-CPU metrics);
- no CPU initialization period: an instance is unready exactly while its health check fails
  (HPA also treats a pod's first minutes of CPU as unready);
- an unready instance never reports (we read stats of ready instances only), so it counts as
  unready, where HPA would count an unready pod without metrics as missing;
- we receive one average per metric plus the count of ready instances missing it, not per-pod
  values; with equal requests per instance (ours) the sums HPA forms are the same;
- `unready_as_target` keeps the earlier rule (unready counted as 0 %/100 % of target in both
  directions, ratio over all current instances) for autoscalers started before parity.
"""

from __future__ import annotations

import functools
import math

from coderunner.models.autoscale import (
    AutoscalePolicy,
    MetricName,
    MetricProposal,
    MetricSample,
    MetricTarget,
    ScaleDirection,
    ScaleEvent,
    ScalingDecision,
    ScalingHistory,
    ScalingInput,
    ScalingRules,
    TimedRecommendation,
)

EPSILON = 1e-9


def prune_history(history: ScalingHistory, policy: AutoscalePolicy, now_s: float) -> ScalingHistory:
    """Keep only what the policy's windows and periods can still use at `now_s`."""
    return history.pruned(now_s, policy.recommendation_horizon_s, policy.event_horizon_s)


def drop_event(history: ScalingHistory, at_s: float) -> ScalingHistory:
    """Forget the scale event recorded at `at_s`: for a workflow whose scale request was refused."""
    events = [e for e in history.events if e.at_s != at_s]
    return history.model_copy(update={"events": events})


def _ceil(x: float) -> int:
    return math.ceil(x - EPSILON)


def _within(ratio: float, tolerance: float) -> bool:
    return abs(ratio - 1.0) <= tolerance + EPSILON


def propose(
    target: MetricTarget,
    sample: MetricSample | None,
    current: int,
    ready: int,
    tolerance: float,
    unready_as_target: bool = False,
) -> MetricProposal:
    """Step 2 for one metric: the replica count that would bring it back to its target."""
    proposal = functools.partial(MetricProposal, metric=target.metric, target=target.target)
    name = target.metric.value
    if sample is not None and sample.error is not None:
        note = f"{name}: could not be read ({sample.error}); scale-down is blocked"
        return proposal(current_value=None, ratio=None, proposed_replicas=None, note=note)
    reporting = ready - min(sample.missing, ready) if sample is not None else 0
    if sample is None or sample.value is None or (reporting == 0 and not unready_as_target):
        note = f"{name}: no data this round; ignored"
        return proposal(current_value=None, ratio=None, proposed_replicas=None, note=note)
    value = sample.value
    ratio = value / target.target
    head = f"{name} {value:g} vs target {target.target:g} (ratio {ratio:.2f})"
    if unready_as_target:
        adjusted, counted = _unready_as_target(ratio, current, ready), current
    else:
        adjusted, counted = _filled_in(target, value, ratio, current, ready, reporting)
    if (adjusted, counted) != (ratio, reporting):
        head += (
            f", {current - ready} of {current} not ready, {ready - reporting} without a value: "
            f"ratio {adjusted:.2f} over {counted}"
        )
    proposed = current
    if _within(adjusted, tolerance):
        note = f"{head}: within tolerance {tolerance:g}, keep {current}"
    elif (ratio > 1.0) != (adjusted > 1.0):
        note = f"{head}: unready instances flip the direction, keep {current}"
    else:
        proposed = _ceil(adjusted * counted)
        if (adjusted > 1.0 and proposed < current) or (adjusted < 1.0 and proposed > current):
            proposed = current
        note = f"{head}: proposes {proposed}"
    return proposal(
        current_value=value,
        ratio=ratio,
        adjusted_ratio=adjusted,
        proposed_replicas=proposed,
        note=note,
    )


PERCENT_METRICS = (MetricName.CPU, MetricName.MEMORY)


def _filled_in(
    target: MetricTarget, value: float, ratio: float, current: int, ready: int, reporting: int
) -> tuple[float, int]:
    """HPA's replica calculator: (usage ratio, instances it is over) after filling in the gaps."""
    unready, missing = current - ready, ready - reporting
    scale_up_with_unready = unready > 0 and ratio > 1.0
    if not scale_up_with_unready and missing == 0:
        return ratio, reporting  # unready instances are simply ignored
    total, counted = value * reporting, reporting
    if ratio != 1.0:  # missing values: 0 going up, 100 % (at least the target) going down
        counted += missing
        if ratio < 1.0:
            full = max(100.0, target.target) if target.metric in PERCENT_METRICS else target.target
            total += full * missing
    if scale_up_with_unready:
        counted += unready
    return total / counted / target.target, counted


def _unready_as_target(ratio: float, current: int, ready: int) -> float:
    """The earlier rule, kept for autoscalers started before HPA parity (see the module docstring)."""
    if ready >= current or ratio == 1.0:
        return ratio
    if ratio > 1.0:
        return ratio * ready / current
    return (ratio * ready + (current - ready)) / current


def _period_start(current: int, events: list[ScaleEvent], period_s: int, now_s: float) -> int:
    """Replicas at the start of the period: current minus what was added, plus what was removed."""
    return current - sum(e.delta for e in events if e.at_s > now_s - period_s)


def policy_limit(
    rules: ScalingRules, up: bool, current: int, events: list[ScaleEvent], now_s: float
) -> tuple[int, str]:
    """The furthest the behaviour policies let this step go, and the label of the policy that set it.

    Up: Pods -> start + value, Percent -> ceil(start * (100 + value) / 100). Down: Pods -> start - value,
    Percent -> floor(start * (100 - value) / 100). Max = most permissive, Min = least permissive; on a
    tie the policy listed first is named.
    """
    if rules.select_policy == "Disabled":
        return current, f"scale-{'up' if up else 'down'} disabled"
    options: list[tuple[int, str]] = []
    for pol in rules.policies:
        start = _period_start(current, events, pol.period_s, now_s)
        if pol.type == "Pods":
            proposed = start + pol.value if up else start - pol.value
        elif up:
            proposed = -((-start * (100 + pol.value)) // 100)
        else:
            proposed = (start * (100 - pol.value)) // 100
        options.append((proposed, pol.label))
    highest = (rules.select_policy == "Max") == up
    pick = max if highest else min
    return pick(options, key=lambda option: option[0])


def _held_by(proposals: list[MetricProposal], current: int, tolerance: float) -> str | None:
    """Name the rule that kept a metric at `current` when its ratio alone would have moved it."""
    held: str | None = None
    for p in proposals:
        if p.adjusted_ratio is None or p.ratio is None or _ceil(p.adjusted_ratio * current) == current:
            continue
        if p.proposed_replicas == current:
            held = "tolerance" if _within(p.adjusted_ratio, tolerance) else "not-ready instances"
    return held


def _bounds_only(
    policy: AutoscalePolicy, inp: ScalingInput, history: ScalingHistory
) -> ScalingDecision | None:
    """Step 1: HPA's out-of-range cases, decided before any metric is read."""
    current = inp.current_replicas
    if current == 0:
        desired, limited, why = 0, "scaled to zero", "current replicas is 0: autoscaling is paused"
    elif current > policy.max_replicas:
        desired, limited = policy.max_replicas, "max_replicas"
        why = f"{current} replicas is above max_replicas {policy.max_replicas}: scale down to it"
    elif current < policy.min_replicas:
        desired, limited = policy.min_replicas, "min_replicas"
        why = f"{current} replicas is below min_replicas {policy.min_replicas}: scale up to it"
    else:
        return None
    return _finish(inp, history, desired, None, [], limited, [why])


def _finish(
    inp: ScalingInput,
    history: ScalingHistory,
    desired: int,
    recommended: int | None,
    proposals: list[MetricProposal],
    limited_by: str | None,
    reasons: list[str],
) -> ScalingDecision:
    current = inp.current_replicas
    direction = ScaleDirection.of(current, desired)
    if desired != current:
        history = history.model_copy(
            update={"events": [*history.events, ScaleEvent(at_s=inp.now_s, delta=desired - current)]}
        )
        reasons.append(f"scale {direction.value} from {current} to {desired}")
    else:
        reasons.append(f"keep {current} replicas")
    return ScalingDecision(
        desired_replicas=desired,
        current_replicas=current,
        direction=direction,
        recommended_replicas=recommended,
        metric_proposals=proposals,
        limited_by=limited_by,
        reasons=reasons,
        history=history,
    )


def decide(policy: AutoscalePolicy, inp: ScalingInput) -> ScalingDecision:
    """One HPA sync: the replica count to ask the DeploymentWorkflow for, with the reasons why.

    The returned `history` already holds this round's recommendation and, if the count changes, the
    scale event; pass it back in the next `ScalingInput` (and through `continue_as_new`). A history
    with no recommendations means a fresh autoscaler, which holds off scale-downs for one window.
    """
    now, current = inp.now_s, inp.current_replicas
    history = prune_history(inp.history, policy, now)
    out_of_range = _bounds_only(policy, inp, history)
    if out_of_range is not None:
        return out_of_range
    reasons: list[str] = []
    ready = min(inp.ready_replicas, current)
    if inp.ready_replicas > current:
        reasons.append(f"ready_replicas {inp.ready_replicas} exceeds current {current}; using {current}")
    samples = {s.metric: s for s in inp.metrics}
    proposals = [
        propose(t, samples.get(t.metric), current, ready, policy.tolerance, inp.unready_as_target)
        for t in policy.metrics
    ]
    reasons += [p.note for p in proposals]
    usable = [p.proposed_replicas for p in proposals if p.proposed_replicas is not None]
    if not usable:
        reasons.append("no usable metric this round")
        return _finish(inp, history, current, None, proposals, "no usable metric", reasons)

    recommended = max(usable)
    # a held metric only limited the result if nothing else moved the count
    limited_by = _held_by(proposals, current, policy.tolerance) if recommended == current else None
    errored = [t.metric.value for t in policy.metrics if (s := samples.get(t.metric)) and s.error is not None]
    if errored and recommended < current:
        reasons.append(f"{', '.join(errored)} errored: not scaling down from {current} to {recommended}")
        recommended, limited_by = current, "metric error blocks scale-down"

    # Step 4: stabilization. A fresh autoscaler (no recommendation ever passed in) seeds the down
    # window with the current count, as HPA does, so it watches a full window before scaling down.
    window = list(history.recommendations)
    if not inp.history.recommendations and policy.scale_down.stabilization_window_s > 0:
        window.append(TimedRecommendation(at_s=now, replicas=current))
    up_cut = now - policy.scale_up.stabilization_window_s
    down_cut = now - policy.scale_down.stabilization_window_s
    up_floor = min([r.replicas for r in window if r.at_s > up_cut] + [recommended])
    down_ceiling = max([r.replicas for r in window if r.at_s > down_cut] + [recommended])
    stabilized = min(max(current, up_floor), down_ceiling)
    if stabilized != recommended:
        limited_by = "stabilization window"
        which = "scale-down" if stabilized > recommended else "scale-up"
        seconds = (policy.scale_down if which == "scale-down" else policy.scale_up).stabilization_window_s
        reasons.append(
            f"{which} stabilization window ({seconds}s): recommendations in it hold "
            f"{stabilized} instead of {recommended}"
        )
    history = ScalingHistory(
        recommendations=[*window, TimedRecommendation(at_s=now, replicas=recommended)], events=history.events
    )
    history = prune_history(history, policy, now)

    # Step 5: behaviour policies and bounds, in the direction of the change only (as HPA).
    desired = stabilized
    if stabilized > current:
        limit, label = policy_limit(policy.scale_up, True, current, history.events, now)
        limit = max(limit, current)  # earlier events may have used the whole allowance: stay put
        if limit >= policy.max_replicas:
            limit, label = policy.max_replicas, "max_replicas"
        if stabilized > limit:
            desired, limited_by = limit, label
            reasons.append(f"{label} caps this step at {limit} (wanted {stabilized})")
    elif stabilized < current:
        limit, label = policy_limit(policy.scale_down, False, current, history.events, now)
        limit = min(limit, current)
        if limit <= policy.min_replicas:
            limit, label = policy.min_replicas, "min_replicas"
        if stabilized < limit:
            desired, limited_by = limit, label
            reasons.append(f"{label} floors this step at {limit} (wanted {stabilized})")
    return _finish(inp, history, desired, recommended, proposals, limited_by, reasons)
