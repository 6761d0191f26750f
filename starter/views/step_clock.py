"""One step numbering everywhere, with the step's kind and its clock.

Steps are numbered by their place in the plan, as the workflow's events number them ("canary v2 at
10% (step 1/9)"): step 1 sets 10%, step 2 holds it. So a view never shows a bare "step 2/9": it says
what the step does and how long it has left ("step 2/9: pause 30s at 10%, 12s left").

The rollout's status query says when the running timed step ends (`step_ends_at`, the workflow's own
deadline, pauses included). Rollouts started before it was there fall back to the events: the start of
a timed pause is when the deployment recorded the weight (`canary_weight` event), shifted by the time
spent paused (`rollout_paused` … `rollout_resumed`). A step the evidence gate extended says so instead.
"""

from __future__ import annotations

from datetime import datetime

from coderunner.models.deployment import DeploymentEvent
from coderunner.models.rollout import (
    FINISHED_PHASES,
    AnalysisStep,
    PauseStep,
    RolloutPhase,
    Step,
    WindowVerdict,
)
from coderunner.models.rollout_view import RolloutView


def human(seconds: float) -> str:
    """`1m12s`, `45s`, `2h3m`."""
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s}s"


def kind(step: Step) -> str:
    if isinstance(step, PauseStep):
        return "pause until promoted" if step.duration_s is None else f"pause {human(step.duration_s)}"
    if isinstance(step, AnalysisStep):
        return f"analysis, {step.windows} healthy window{'s' if step.windows != 1 else ''}"
    return f"set weight {step.weight}%"


def plan_text(view: RolloutView) -> str:
    """`1:10% 2:pause 30s [3:25%] …`: the numbered plan, the current step in brackets."""
    s = view.status
    live = s.phase not in FINISHED_PHASES
    parts = []
    for n, step in enumerate(view.steps, start=1):
        label = f"{step.weight}%" if not isinstance(step, PauseStep | AnalysisStep) else kind(step)
        parts.append(f"[{n}:{label}]" if live and n == s.step else f"{n}:{label}")
    return " ".join(parts)


def _since(events: list[DeploymentEvent], kinds: set[str], after: datetime) -> list[DeploymentEvent]:
    return [e for e in events if e.kind in kinds and e.at >= after]


def step_started(view: RolloutView) -> datetime | None:
    """When the current step began, if the events tell (the weight set by the step just before it)."""
    n = view.status.step
    if n < 2 or n > len(view.steps) or isinstance(view.steps[n - 2], PauseStep | AnalysisStep):
        return None
    began = [e.at for e in view.events if e.kind == "rollout_started"]
    weights = [e.at for e in view.events if e.kind == "canary_weight" and (not began or e.at >= began[-1])]
    return weights[-1] if weights else None


def clock(view: RolloutView, now: datetime) -> str:
    """`12s left` / `extended: …` / `1/2 healthy windows` / `` for the current step."""
    s = view.status
    if s.phase in FINISHED_PHASES or not 1 <= s.step <= len(view.steps):
        return ""
    step = view.steps[s.step - 1]
    if s.phase == RolloutPhase.PAUSED:
        return "paused: the clock stops until resume"
    if isinstance(step, AnalysisStep):
        healthy = sum(1 for w in s.windows if w.step == s.step and w.verdict == WindowVerdict.HEALTHY)
        return f"{healthy}/{step.windows} healthy windows"
    if not isinstance(step, PauseStep) or step.duration_s is None:
        return ""
    start = step_started(view)
    if start is not None and _since(view.events, {"rollout_step_extended"}, start):
        return "extended: waiting for a healthy analysis window at this weight"
    if s.step_ends_at is not None:
        left = (s.step_ends_at - now).total_seconds()
        return f"{human(left)} left" if left > 0 else "ending: at the next analysis window"
    if start is None:
        return ""
    if _since(view.events, {"rollout_step_extended"}, start):
        return "extended: waiting for a healthy analysis window at this weight"
    held = 0.0
    paused_at: datetime | None = None
    for e in _since(view.events, {"rollout_paused", "rollout_resumed"}, start):
        if e.kind == "rollout_paused":
            paused_at = e.at
        elif paused_at is not None:
            held += (e.at - paused_at).total_seconds()
            paused_at = None
    left = step.duration_s - ((now - start).total_seconds() - held)
    return f"{human(left)} left" if left > 0 else "ending: at the next analysis window"


def step_text(view: RolloutView, now: datetime) -> str:
    """`step 2/9: pause 30s at 10%, 12s left`."""
    s = view.status
    if not view.steps or not 1 <= s.step <= len(view.steps):
        return f"step {s.step}/{s.steps}: {s.step_description}"
    step = view.steps[s.step - 1]
    at = "" if not isinstance(step, PauseStep | AnalysisStep) else f" at {s.canary_weight}%"
    tick = clock(view, now)
    return f"step {s.step}/{s.steps}: {kind(step)}{at}" + (f", {tick}" if tick else "")
