"""A rollout as people read it: the status page, a one-line progress view, and a follower."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer

from coderunner.models.rollout import FINISHED_PHASES, RolloutPhase
from coderunner.models.rollout_api import RolloutStatus
from coderunner.models.rollout_history import RolloutRevision
from coderunner.models.rollout_view import RolloutView
from starter.sdk.rollouts import Rollouts
from starter.views import tables as render
from starter.views.step_clock import plan_text, step_text


def status_text(view: RolloutView, windows: int = 8, now: datetime | None = None) -> str:
    """The status page; steps numbered by their place in the plan, as the events number them."""
    s = view.status
    now = now or datetime.now(UTC)
    plan = plan_text(view) or " → ".join(f"[{w}]" if w == s.canary_weight and s.phase not in FINISHED_PHASES
                                         else str(w) for w in s.weights)
    lines = [
        f"rollout     {s.workflow_id}   {s.from_version} → {s.version}",
        *render.wrapped(f"phase       {s.phase.value}" + (f" — {s.paused_reason}" if s.paused_reason else ""),
                        indent=12),
        step_text(view, now).replace("step ", "step        ", 1),
        f"weights     canary {s.canary_weight}% / stable {100 - s.canary_weight}%",
        *render.wrapped(f"plan        {plan}", indent=12),
        f"canary      {', '.join(s.canary_instances) or '-'}",
    ]
    if s.outcome:
        lines.append(f"outcome     {s.outcome}")
    rows = []
    for w in s.windows[-windows:]:
        c, st, cmp = w.result.canary, w.result.stable, w.result.comparison
        rows.append(
            {
                "#": w.number,
                "age": render.age(w.at, datetime.now(UTC)),
                "weight": f"{w.weight}%",
                "verdict": w.verdict.value,
                "canary": f"{c.errors}/{c.requests} err, p95 {ms(c.p95_ms)}",
                "stable": f"{st.errors}/{st.requests} err, p95 {ms(st.p95_ms)}" if st else "-",
                "mann-whitney p": f"{cmp.p_value:.2g}" if cmp and cmp.p_value is not None else "-",
            }
        )
    lines += [
        "",
        f"analysis windows ({s.windows_total} so far):",
        render.table(rows, ["#", "age", "weight", "verdict", "canary", "stable", "mann-whitney p"]),
    ]
    if s.windows:
        last = s.windows[-1]
        lines.append(f"last verdict: {last.verdict.value} — {'; '.join(last.result.reasons)}")
    return "\n".join(lines)


def status_exit_code(s: RolloutStatus) -> int:
    """As `kubectl argo rollouts status`: 0 promoted or still progressing, 1 aborted or failed,
    3 paused waiting for a person (resume, promote or abort)."""
    if s.phase in (RolloutPhase.ABORTED, RolloutPhase.ABORTING, RolloutPhase.FAILED):
        return 1
    if s.phase == RolloutPhase.PAUSED:
        return 3
    return 0


def history_rows(revisions: list[RolloutRevision]) -> list[dict[str, object]]:
    return [
        {
            "revision": r.revision,
            "version": r.version,
            "from": r.from_version,
            "age": render.age(r.started, datetime.now(UTC)),
            "who": r.actor + (f" ({r.reason})" if r.reason else ""),
            "outcome": r.phase + (f": {r.outcome}" if r.outcome and r.outcome != r.phase else ""),
        }
        for r in revisions
    ]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def line(s: RolloutStatus, step: str | None = None) -> str:
    """One line per change: `step 2/9: pause 30s at 10%, 12s left — canary 10% progressing — window …`."""
    last = s.windows[-1] if s.windows else None
    verdict = (
        (
            f" — window {last.number}: {last.verdict.value} (canary {last.result.canary.errors}/"
            f"{last.result.canary.requests} errors, p95 {ms(last.result.canary.p95_ms)})"
        )
        if last
        else ""
    )
    where = step or f"step {s.step}/{s.steps}: {s.step_description}"
    return f"{where} — canary {s.canary_weight}% {s.phase.value}{verdict}"


async def watch(rollouts: Rollouts, name: str, live: bool) -> RolloutStatus:
    """Follow a rollout until it ends: a line per change (with the step's clock at that moment), or
    (`live`) a redrawn full view whose clock counts down."""
    seen = None
    while True:
        view = await rollouts.view(name)
        s = view.status
        step = step_text(view, datetime.now(UTC))
        key = (s.phase, s.step, s.canary_weight, s.windows_total)  # not the clock: no line a second
        if live:
            typer.echo("\x1b[2J\x1b[H" + status_text(view))
        elif key != seen:
            typer.echo(line(s, step))
        seen = key
        if s.phase in FINISHED_PHASES:
            if not live:
                typer.echo(s.outcome or s.phase.value)
            return s
        await asyncio.sleep(0.5 if not live else 1.0)
