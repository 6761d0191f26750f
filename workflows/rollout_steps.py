"""Plain-text pieces of a rollout's story: a step in words, and the evidence of analysis windows.

Pure (workflows call them); kept out of the workflow so its class reads as control flow.
"""

from __future__ import annotations

from coderunner.models.rollout import AnalysisStep, PauseStep, SetWeightStep
from coderunner.models.rollout_api import WindowRecord


def describe_step(step: SetWeightStep | PauseStep | AnalysisStep | None) -> str:
    if step is None:
        return "done"
    if isinstance(step, SetWeightStep):
        return f"set canary weight {step.weight}%"
    if isinstance(step, PauseStep):
        return "pause until promoted" if step.duration_s is None else f"pause {step.duration_s:g}s"
    return f"analysis: {step.windows} healthy window{'s' if step.windows != 1 else ''}"


def evidence(windows: list[WindowRecord]) -> str:
    """`window 3 at 10%: unhealthy (canary 21 errors of 98 = 21.4%, p95 12.0 ms; stable …) — reasons`."""
    parts = []
    for w in windows:
        c, s = w.result.canary, w.result.stable
        stable = (f"; stable {s.errors}/{s.requests} errors = {s.error_rate:.1%}, p95 {_ms(s.p95_ms)}"
                  if s is not None else "")
        parts.append(f"window {w.number} at {w.weight}%: {w.verdict.value} (canary {c.errors}/{c.requests} "
                     f"errors = {c.error_rate:.1%}, p95 {_ms(c.p95_ms)}{stable}) — "
                     + "; ".join(w.result.reasons))
    return " | ".join(parts)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"
