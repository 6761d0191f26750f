"""The canary verdict: judge one analysis window, and decide what a run of verdicts means.

Pure functions of data (the rollout workflow gathers router stats through an activity and calls
these directly), so the same rules answer offline simulations and unit tests, and replay is
deterministic.

Verdict rules for one window, checked in this order:
1. canary requests < min_requests -> INCONCLUSIVE (never healthy on too little traffic; no other
   check runs, so a handful of early errors cannot abort a rollout on noise).
2. Absolute limits on the canary: error rate > error_rate_unhealthy -> UNHEALTHY; p95 latency >
   p95_latency_ms_limit -> UNHEALTHY; error rate in [error_rate_degraded, error_rate_unhealthy]
   -> DEGRADED.
3. Baseline comparison, only when the stable group served >= min_requests in the same window:
   canary error rate - stable error rate > max_error_rate_increase -> UNHEALTHY; canary latency
   significantly greater (one-sided Mann-Whitney p < alpha) AND a practical effect (median at
   least min_slowdown_ratio x stable's AND at least min_slowdown_ms slower) -> UNHEALTHY when the
   p95 ratio also exceeds max_p95_ratio, else DEGRADED (a real but modest shift: hold, do not
   abort). A p95 ratio above the limit without a significant shift is not flagged: one window's
   p95 is noisy, and the absolute p95 limit already bounds the tail.
4. Otherwise HEALTHY. The verdict is the worst finding; every finding is listed in `reasons`.
"""

from __future__ import annotations

from typing import Literal

from coderunner.decisions.mannwhitney import mann_whitney_u
from coderunner.decisions.stats import aggregate, pooled_latencies
from coderunner.models.rollout import (
    AnalysisResult,
    AnalysisSettings,
    Comparison,
    GroupStats,
    RolloutStrategy,
    SetWeightStep,
    WindowVerdict,
)
from coderunner.models.sandbox import BackendStats

Action = Literal["continue", "abort", "pause"]
_SEVERITY = {WindowVerdict.HEALTHY: 0, WindowVerdict.DEGRADED: 1, WindowVerdict.UNHEALTHY: 2}
Finding = tuple[WindowVerdict, str]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def _absolute_findings(canary: GroupStats, settings: AnalysisSettings) -> list[Finding]:
    findings: list[Finding] = []
    counts = f"({canary.errors} errors of {canary.requests} requests)"
    if canary.error_rate > settings.error_rate_unhealthy:
        findings.append(
            (
                WindowVerdict.UNHEALTHY,
                f"canary error rate {canary.error_rate:.1%} > unhealthy "
                f"limit {settings.error_rate_unhealthy:.1%} {counts}",
            )
        )
    elif canary.error_rate >= settings.error_rate_degraded:
        findings.append(
            (
                WindowVerdict.DEGRADED,
                f"canary error rate {canary.error_rate:.1%} is in the "
                f"degraded band {settings.error_rate_degraded:.1%}-"
                f"{settings.error_rate_unhealthy:.1%} {counts}",
            )
        )
    if canary.p95_ms is not None and canary.p95_ms > settings.p95_latency_ms_limit:
        findings.append(
            (
                WindowVerdict.UNHEALTHY,
                f"canary p95 latency {_ms(canary.p95_ms)} > limit "
                f"{_ms(settings.p95_latency_ms_limit)} ({canary.latency_samples} samples)",
            )
        )
    return findings


def _compare(
    canary: list[BackendStats],
    stable: list[BackendStats],
    c: GroupStats,
    s: GroupStats,
    settings: AnalysisSettings,
) -> tuple[Comparison, list[Finding], list[str]]:
    findings: list[Finding] = []
    notes: list[str] = []
    delta = c.error_rate - s.error_rate
    if delta > settings.max_error_rate_increase:
        findings.append(
            (
                WindowVerdict.UNHEALTHY,
                f"canary error rate {c.error_rate:.1%} exceeds stable's "
                f"{s.error_rate:.1%} by {delta:.1%} > allowed increase "
                f"{settings.max_error_rate_increase:.1%}",
            )
        )
    comparison = Comparison(error_rate_delta=delta)
    canary_samples, stable_samples = pooled_latencies(canary), pooled_latencies(stable)
    if not canary_samples or not stable_samples:
        notes.append(
            f"latency comparison skipped: {len(canary_samples)} canary and "
            f"{len(stable_samples)} stable latency samples"
        )
        return comparison, findings, notes
    assert c.p50_ms is not None and s.p50_ms is not None and c.p95_ms is not None and s.p95_ms is not None
    test = mann_whitney_u(canary_samples, stable_samples, alternative="greater")
    median_delta = c.p50_ms - s.p50_ms
    p95_ratio = c.p95_ms / s.p95_ms if s.p95_ms > 0 else None
    effect = median_delta >= settings.min_slowdown_ms and c.p50_ms >= settings.min_slowdown_ratio * s.p50_ms
    slower = test.p_value < settings.mann_whitney_alpha and effect
    comparison = comparison.model_copy(
        update={
            "p95_ratio": p95_ratio,
            "median_ratio": c.p50_ms / s.p50_ms if s.p50_ms > 0 else None,
            "median_delta_ms": median_delta,
            "mann_whitney_u": test.u,
            "p_value": test.p_value,
            "canary_slower": slower,
        }
    )
    if slower:
        tail_bad = p95_ratio is None or p95_ratio > settings.max_p95_ratio
        ratio_text = "n/a (stable p95 is 0)" if p95_ratio is None else f"{p95_ratio:.2f}"
        verdict = WindowVerdict.UNHEALTHY if tail_bad else WindowVerdict.DEGRADED
        tail = ">" if tail_bad else "<="
        findings.append(
            (
                verdict,
                f"canary latency significantly higher than stable (Mann-Whitney "
                f"p={test.p_value:.2g} < alpha {settings.mann_whitney_alpha:g}): median "
                f"{_ms(c.p50_ms)} vs {_ms(s.p50_ms)} (+{median_delta:.1f} ms), p95 "
                f"{_ms(c.p95_ms)} vs {_ms(s.p95_ms)}, ratio {ratio_text} {tail} limit "
                f"{settings.max_p95_ratio:.2f}",
            )
        )
    return comparison, findings, notes


def judge_window(
    canary: list[BackendStats], stable: list[BackendStats], settings: AnalysisSettings
) -> AnalysisResult:
    """Judge one analysis window of router stats (canary and stable backends) — see module doc."""
    c = aggregate(canary)
    s = aggregate(stable) if stable else None
    if c.requests < settings.min_requests:
        return AnalysisResult(
            verdict=WindowVerdict.INCONCLUSIVE,
            reasons=[
                f"canary served {c.requests} of the {settings.min_requests} requests a window "
                f"needs (min_requests) — too little traffic to judge"
            ],
            canary=c,
            stable=s,
        )
    findings = _absolute_findings(c, settings)
    notes: list[str] = []
    comparison: Comparison | None = None
    if s is None:
        notes.append("baseline comparison skipped: no stable backends in this window")
    elif s.requests < settings.min_requests:
        notes.append(
            f"baseline comparison skipped: stable served {s.requests} of the "
            f"{settings.min_requests} requests a window needs (min_requests)"
        )
    else:
        comparison, compared, more_notes = _compare(canary, stable, c, s, settings)
        findings += compared
        notes += more_notes
    verdict = max((v for v, _ in findings), key=_SEVERITY.__getitem__, default=WindowVerdict.HEALTHY)
    reasons = [text for _, text in findings]
    if verdict is WindowVerdict.HEALTHY:
        reasons.append(
            f"canary healthy: error rate {c.error_rate:.1%} < {settings.error_rate_degraded:.1%}"
            f" ({c.errors} errors of {c.requests} requests), p95 {_ms(c.p95_ms)} <= "
            f"{_ms(settings.p95_latency_ms_limit)}"
        )
    return AnalysisResult(verdict=verdict, reasons=reasons + notes, canary=c, stable=s, comparison=comparison)


def _tail_all(history: list[WindowVerdict], count: int, allowed: set[WindowVerdict]) -> bool:
    return len(history) >= count and all(v in allowed for v in history[-count:])


def next_action(history: list[WindowVerdict], settings: AnalysisSettings) -> Action:
    """What the rollout does after its latest window, from the consecutive verdicts so far.

    - "abort": the last failure_limit verdicts are all UNHEALTHY.
    - "pause" (for a human): the last inconclusive_limit are all INCONCLUSIVE, or the last
      degraded_limit are all DEGRADED/UNHEALTHY without reaching the abort rule (e.g. D,U,D) —
      a canary that is persistently worse but not failing must not run forever unattended.
    - "continue" otherwise. DEGRADED breaks an unhealthy or inconclusive streak (it is neither),
      and it does not count as healthy for promotion (see `analysis_step_passed`).
    Abort wins over pause. After a human resumes, start a fresh history, or it pauses again.
    """
    if _tail_all(history, settings.failure_limit, {WindowVerdict.UNHEALTHY}):
        return "abort"
    if _tail_all(history, settings.inconclusive_limit, {WindowVerdict.INCONCLUSIVE}):
        return "pause"
    if _tail_all(history, settings.degraded_limit, {WindowVerdict.DEGRADED, WindowVerdict.UNHEALTHY}):
        return "pause"
    return "continue"


def analysis_step_passed(step_history: list[WindowVerdict], windows: int) -> bool:
    """Whether an AnalysisStep(windows=N) may move on: N HEALTHY windows seen during the step.

    Only HEALTHY counts: DEGRADED and INCONCLUSIVE windows neither pass nor fail the step, so the
    workflow keeps running windows (bounded by `next_action`'s pause and abort rules).
    """
    return sum(1 for v in step_history if v is WindowVerdict.HEALTHY) >= windows


def plan_weights(strategy: RolloutStrategy) -> list[int]:
    """The canary weights the strategy sets, in order (e.g. [10, 25, 50, 75, 100])."""
    return [step.weight for step in strategy.steps if isinstance(step, SetWeightStep)]
