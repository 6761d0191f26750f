"""The canary verdict: judge one analysis window, and decide what a run of verdicts means.

Pure functions of data (the analysis activity summarises router stats with
`decisions.window_summary`, the workflow calls these), so the same rules answer offline
simulations, the bench and unit tests, and replay is deterministic.

`judge_summary` (rollouts started with the `canary-sequential-judgement` patch), checked in order:
1. Errors, sequentially (`decisions.error_evidence`): the canary's error counts since it got
   traffic feed an SPRT/CUSUM of "unhealthy rate (error_rate_unhealthy, 10 %)" against "healthy
   limit (error_rate_degraded, 5 %)". Strong evidence (ratio >= error_evidence_ratio, on at least
   min_requests requests) -> UNHEALTHY and `conclusive`: the rollout aborts at once, after one
   window if the canary is clearly sick. Thin evidence never aborts: 2 errors in 20 requests
   add a small fraction of what is needed; a window at or below the break-even rate (7.2 %)
   adds none, so a canary in the degraded band (6 % against a stable 0.5 %) is never UNHEALTHY.
2. canary requests in this window < min_requests -> INCONCLUSIVE.
3. Observed error rate >= error_rate_degraded -> DEGRADED; p95 > p95_latency_ms_limit -> UNHEALTHY.
4. Baseline comparison (both groups >= min_requests): an error-rate increase over stable of more
   than max_error_rate_increase -> DEGRADED; canary latency significantly greater (one-sided
   Mann-Whitney p < alpha) AND a practical effect (median >= min_slowdown_ratio x stable's and
   >= min_slowdown_ms slower) -> UNHEALTHY when the p95 ratio also exceeds max_p95_ratio, else
   DEGRADED. A p95 ratio above the limit without a significant shift is not flagged.
5. Otherwise HEALTHY. The verdict is the worst finding; every finding is listed in `reasons`.
Latency UNHEALTHY (not conclusive) windows still need failure_limit in a row to abort.

`judge_window` is the legacy rule (fixed bands: > 10 % in one window is UNHEALTHY, an increase
over stable UNHEALTHY, failure_limit in a row aborts); rollouts that started before the patch
replay with it.
"""

from __future__ import annotations

import math
from typing import Literal

from coderunner.decisions import error_evidence
from coderunner.decisions.window_summary import summarise_window
from coderunner.models.rollout import (
    AnalysisResult,
    AnalysisSettings,
    Comparison,
    ErrorEvidence,
    GroupStats,
    RolloutStrategy,
    SetWeightStep,
    WindowSummary,
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


def _latency_findings(comparison: Comparison, c: GroupStats, s: GroupStats,
                      settings: AnalysisSettings) -> list[Finding]:
    if not comparison.canary_slower:
        return []
    assert comparison.p_value is not None and comparison.median_delta_ms is not None
    p95_ratio = comparison.p95_ratio
    tail_bad = p95_ratio is None or p95_ratio > settings.max_p95_ratio
    ratio_text = "n/a (stable p95 is 0)" if p95_ratio is None else f"{p95_ratio:.2f}"
    return [(
        WindowVerdict.UNHEALTHY if tail_bad else WindowVerdict.DEGRADED,
        f"canary latency significantly higher than stable (Mann-Whitney "
        f"p={comparison.p_value:.2g} < alpha {settings.mann_whitney_alpha:g}): median "
        f"{_ms(c.p50_ms)} vs {_ms(s.p50_ms)} (+{comparison.median_delta_ms:.1f} ms), p95 "
        f"{_ms(c.p95_ms)} vs {_ms(s.p95_ms)}, ratio {ratio_text} {'>' if tail_bad else '<='} limit "
        f"{settings.max_p95_ratio:.2f}",
    )]


def _delta_finding(comparison: Comparison, c: GroupStats, s: GroupStats, settings: AnalysisSettings,
                   verdict: WindowVerdict) -> list[Finding]:
    delta = comparison.error_rate_delta
    if delta <= settings.max_error_rate_increase:
        return []
    return [(verdict, f"canary error rate {c.error_rate:.1%} exceeds stable's {s.error_rate:.1%} by "
                      f"{delta:.1%} > allowed increase {settings.max_error_rate_increase:.1%}")]


def _result(findings: list[Finding], summary: WindowSummary, settings: AnalysisSettings,
            conclusive: bool = False) -> AnalysisResult:
    c = summary.canary
    verdict = max((v for v, _ in findings), key=_SEVERITY.__getitem__, default=WindowVerdict.HEALTHY)
    reasons = [text for _, text in findings]
    if verdict is WindowVerdict.HEALTHY:
        reasons.append(
            f"canary healthy: error rate {c.error_rate:.1%} < {settings.error_rate_degraded:.1%}"
            f" ({c.errors} errors of {c.requests} requests), p95 {_ms(c.p95_ms)} <= "
            f"{_ms(settings.p95_latency_ms_limit)}"
        )
    return AnalysisResult(verdict=verdict, reasons=reasons + summary.notes, canary=c, stable=summary.stable,
                          comparison=summary.comparison, conclusive=conclusive)


def _too_little(summary: WindowSummary, settings: AnalysisSettings) -> AnalysisResult:
    return AnalysisResult(
        verdict=WindowVerdict.INCONCLUSIVE,
        reasons=[f"canary served {summary.canary.requests} of the {settings.min_requests} requests a "
                 f"window needs (min_requests) — too little traffic to judge"],
        canary=summary.canary, stable=summary.stable,
    )


def judge_window(
    canary: list[BackendStats], stable: list[BackendStats], settings: AnalysisSettings
) -> AnalysisResult:
    """The legacy judgement of one window (rollouts started before `canary-sequential-judgement`
    replay it): the fixed error-rate bands and an UNHEALTHY error-rate increase over stable."""
    summary = summarise_window(canary, stable, settings)
    if summary.canary.requests < settings.min_requests:
        return _too_little(summary, settings)
    findings = _absolute_findings(summary.canary, settings)
    if summary.comparison is not None and summary.stable is not None:
        findings += _delta_finding(summary.comparison, summary.canary, summary.stable, settings,
                                   WindowVerdict.UNHEALTHY)
        findings += _latency_findings(summary.comparison, summary.canary, summary.stable, settings)
    return _result(findings, summary, settings)


def judge_summary(
    summary: WindowSummary, settings: AnalysisSettings, evidence: ErrorEvidence
) -> tuple[AnalysisResult, ErrorEvidence]:
    """Judge one window's statistics with the sequential error test (see module doc).

    Returns the verdict and the error evidence carried to the next window. The evidence is
    updated by every window, small ones included, so a trickle of traffic still adds up.
    """
    c = summary.canary
    evidence = error_evidence.update(evidence, c.errors, c.requests, settings)
    if error_evidence.conclusive(evidence, settings):
        findings: list[Finding] = [(WindowVerdict.UNHEALTHY, (
            f"canary error rate {c.error_rate:.1%} in this window ({c.errors} of {c.requests}); "
            f"sequential test: {evidence.errors} errors of {evidence.requests} requests since the canary "
            f"got traffic are {_times(evidence.llr)} likelier at the unhealthy rate "
            f"{settings.error_rate_unhealthy:.1%} than at the healthy limit "
            f"{settings.error_rate_degraded:.1%}"))]
        return _result(findings + _latency_and_delta(summary, settings), summary, settings, True), evidence
    if c.requests < settings.min_requests:
        return _too_little(summary, settings), evidence
    findings = []
    if c.error_rate >= settings.error_rate_degraded:
        findings.append((WindowVerdict.DEGRADED, (
            f"canary error rate {c.error_rate:.1%} ({c.errors} errors of {c.requests} requests) is at or "
            f"above the healthy limit {settings.error_rate_degraded:.1%}, without strong evidence of more "
            f"than {settings.error_rate_unhealthy:.1%} yet")))
    if c.p95_ms is not None and c.p95_ms > settings.p95_latency_ms_limit:
        findings.append((WindowVerdict.UNHEALTHY, (
            f"canary p95 latency {_ms(c.p95_ms)} > limit {_ms(settings.p95_latency_ms_limit)} "
            f"({c.latency_samples} samples)")))
    return _result(findings + _latency_and_delta(summary, settings), summary, settings), evidence


def _times(llr: float) -> str:
    return f"{math.exp(llr):.3g}x" if llr < 700 else "more than 1e300x"


def _latency_and_delta(summary: WindowSummary, settings: AnalysisSettings) -> list[Finding]:
    """Baseline findings: latency as before; an error-rate increase over stable only DEGRADES (the
    documented unhealthy limit is the absolute rate, judged by the sequential test)."""
    if summary.comparison is None or summary.stable is None:
        return []
    c, s = summary.canary, summary.stable
    return (_delta_finding(summary.comparison, c, s, settings, WindowVerdict.DEGRADED)
            + _latency_findings(summary.comparison, summary.canary, summary.stable, settings))


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


def decide(history: list[WindowVerdict], latest: AnalysisResult, settings: AnalysisSettings,
           evidence: ErrorEvidence | None = None) -> Action:
    """`next_action`, except that a conclusive window (strong error evidence) aborts at once, and no
    pause happens while the error evidence leans unhealthy (`evidence.llr > 0`): the sequential test
    is still accumulating and will abort or clear, whereas a pause would stop the very windows that
    decide it (with little traffic a sick canary otherwise waits for a human instead of rolling
    back). A canary in the degraded band below the break-even rate leans healthy and still pauses.
    """
    if latest.conclusive:
        return "abort"
    action = next_action(history, settings)
    leaning_unhealthy = evidence is not None and evidence.llr > 0
    return "continue" if action == "pause" and leaning_unhealthy else action


def analysis_step_passed(step_history: list[WindowVerdict], windows: int) -> bool:
    """Whether an AnalysisStep(windows=N) may move on: N HEALTHY windows seen during the step.

    Only HEALTHY counts: DEGRADED and INCONCLUSIVE windows neither pass nor fail the step, so the
    workflow keeps running windows (bounded by `next_action`'s pause and abort rules).
    """
    return sum(1 for v in step_history if v is WindowVerdict.HEALTHY) >= windows


def plan_weights(strategy: RolloutStrategy) -> list[int]:
    """The canary weights the strategy sets, in order (e.g. [10, 25, 50, 75, 100])."""
    return [step.weight for step in strategy.steps if isinstance(step, SetWeightStep)]
