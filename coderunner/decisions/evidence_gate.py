"""Issue 16's safety rule: a canary leaves a weight only after enough healthy evidence at it.

Why: with no traffic every window is inconclusive, and a step that simply times out moved the
canary on — a rollout with no traffic promoted itself to 100 %. Argo Rollouts pauses on an
inconclusive analysis, Flagger halts without metrics; so does this: a timed step that ends
without `healthy_windows_per_step` HEALTHY windows at its weight pauses for a person, with a
message that says what is missing and how to go on.
"""

from __future__ import annotations

from coderunner.models.rollout import AnalysisResult, AnalysisSettings, WeightTally


def tally(current: WeightTally, weight: int, result: AnalysisResult) -> WeightTally:
    """Add one window at `weight` (a new weight starts a new tally)."""
    base = current if current.weight == weight else WeightTally(weight=weight)
    field = result.verdict.value
    return base.model_copy(update={
        "windows": base.windows + 1,
        "requests": base.requests + result.canary.requests,
        field: getattr(base, field) + 1,
    })


def missing_evidence(
    current: WeightTally, weight: int, settings: AnalysisSettings, deployment: str
) -> str | None:
    """None when the canary may leave `weight`; else what is missing, and how to go on."""
    need = settings.healthy_windows_per_step
    t = current if current.weight == weight else WeightTally(weight=weight)
    if need <= 0 or t.healthy >= need:
        return None
    plural = "s" if need != 1 else ""
    go_on = f"or `coderunner promote {deployment}` to go on without analysis"
    windows = f"{t.windows} analysis window{'s' if t.windows != 1 else ''}"
    if t.requests == 0:
        return (f"no evidence at {weight}%: canary got 0 requests in {windows} (needs {need} healthy "
                f"window{plural}) — send traffic, {go_on}")
    if t.inconclusive == t.windows:
        return (f"too little evidence at {weight}%: canary got {t.requests} requests in {windows}, "
                f"fewer than the {settings.min_requests} a window needs (min_requests) — send more "
                f"traffic, {go_on}")
    return (f"not enough healthy evidence at {weight}%: {t.healthy} of {need} healthy window{plural} "
            f"({t.degraded} degraded, {t.unhealthy} unhealthy, {t.inconclusive} inconclusive of "
            f"{t.requests} requests) — check the canary, `resume` to keep analysing, {go_on}")

