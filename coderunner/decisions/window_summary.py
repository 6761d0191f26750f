"""One analysis window as statistics: group counts, percentiles and the Mann-Whitney comparison.

Called inside the analysis activity (raw latency samples stay there, out of workflow history) and
by the legacy in-workflow judgement that old running rollouts replay. Pure and deterministic.
"""

from __future__ import annotations

from coderunner.decisions.mannwhitney import mann_whitney_u
from coderunner.decisions.stats import aggregate, pooled_latencies
from coderunner.models.rollout import AnalysisSettings, Comparison, GroupStats, WindowSummary
from coderunner.models.sandbox import BackendStats


def compare_latency(
    canary: list[BackendStats], stable: list[BackendStats], c: GroupStats, s: GroupStats,
    settings: AnalysisSettings,
) -> tuple[Comparison, list[str]]:
    """Canary vs stable in one window: error-rate delta and the one-sided Mann-Whitney test.

    `canary_slower` needs significance (p < alpha) AND a practical effect (median at least
    min_slowdown_ratio x stable's and min_slowdown_ms slower). Returns notes on skipped parts.
    """
    comparison = Comparison(error_rate_delta=c.error_rate - s.error_rate)
    canary_samples, stable_samples = pooled_latencies(canary), pooled_latencies(stable)
    if not canary_samples or not stable_samples:
        return comparison, [f"latency comparison skipped: {len(canary_samples)} canary and "
                            f"{len(stable_samples)} stable latency samples"]
    assert c.p50_ms is not None and s.p50_ms is not None and c.p95_ms is not None and s.p95_ms is not None
    test = mann_whitney_u(canary_samples, stable_samples, alternative="greater")
    median_delta = c.p50_ms - s.p50_ms
    effect = median_delta >= settings.min_slowdown_ms and c.p50_ms >= settings.min_slowdown_ratio * s.p50_ms
    return comparison.model_copy(update={
        "p95_ratio": c.p95_ms / s.p95_ms if s.p95_ms > 0 else None,
        "median_ratio": c.p50_ms / s.p50_ms if s.p50_ms > 0 else None,
        "median_delta_ms": median_delta,
        "mann_whitney_u": test.u,
        "p_value": test.p_value,
        "canary_slower": test.p_value < settings.mann_whitney_alpha and effect,
    }), []


def summarise_window(
    canary: list[BackendStats], stable: list[BackendStats], settings: AnalysisSettings
) -> WindowSummary:
    """Counts and percentiles per group; the comparison only when both groups are big enough."""
    c = aggregate(canary)
    s = aggregate(stable) if stable else None
    if s is None:
        return WindowSummary(canary=c, notes=["baseline comparison skipped: no stable backends in this "
                                              "window"])
    if c.requests < settings.min_requests or s.requests < settings.min_requests:
        who = "canary" if c.requests < settings.min_requests else "stable"
        served = c.requests if who == "canary" else s.requests
        return WindowSummary(canary=c, stable=s, notes=[
            f"baseline comparison skipped: {who} served {served} of the {settings.min_requests} "
            f"requests a window needs (min_requests)"])
    comparison, notes = compare_latency(canary, stable, c, s, settings)
    return WindowSummary(canary=c, stable=s, comparison=comparison, notes=notes)
