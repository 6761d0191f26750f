"""`coderunner rollout …`, `promote`, `abort`, `pause`, `resume`, `undo`: canary rollouts from the CLI.

`rollout` is one command whose first argument is either a deployment name or the word `status`,
so both spec'd forms work: `coderunner rollout demo --version v2 …` and `coderunner rollout status
demo [--watch]` (a deployment literally named "status": `coderunner rollout status status`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from models.rollout import FINISHED_PHASES, RolloutPhase, RolloutStrategy
from models.rollout_api import RolloutStatus
from starter import render
from starter.errors import OperationError, UserError
from starter.specfile import parse_env_pairs

Home = Annotated[str | None, typer.Option("--home", envvar="CODERUNNER_HOME",
                                           help="state dir of the embedded stack [default: ./.coderunner]")]
Reason = Annotated[str, typer.Option("--reason", "-r", help="why: kept in the audit log and on the workflow")]


def status_text(s: RolloutStatus, windows: int = 8) -> str:
    plan = " → ".join(f"[{w}]" if w == s.canary_weight and s.phase not in FINISHED_PHASES else str(w)
                      for w in s.weights)
    lines = [
        f"rollout     {s.workflow_id}   {s.from_version} → {s.version}",
        f"phase       {s.phase.value}" + (f" — {s.paused_reason}" if s.paused_reason else ""),
        f"step        {s.step}/{s.steps}: {s.step_description}",
        f"weights     canary {s.canary_weight}% / stable {100 - s.canary_weight}%   plan {plan}",
        f"canary      {', '.join(s.canary_instances) or '-'}",
    ]
    if s.outcome:
        lines.append(f"outcome     {s.outcome}")
    rows = []
    for w in s.windows[-windows:]:
        c, st, cmp = w.result.canary, w.result.stable, w.result.comparison
        rows.append({
            "#": w.number, "at": f"{w.at:%H:%M:%S}", "weight": f"{w.weight}%", "verdict": w.verdict.value,
            "canary": f"{c.errors}/{c.requests} err, p95 {_ms(c.p95_ms)}",
            "stable": f"{st.errors}/{st.requests} err, p95 {_ms(st.p95_ms)}" if st else "-",
            "mann-whitney p": f"{cmp.p_value:.2g}" if cmp and cmp.p_value is not None else "-",
        })
    lines += ["", f"analysis windows ({s.windows_total} so far):",
              render.table(rows, ["#", "at", "weight", "verdict", "canary", "stable", "mann-whitney p"])]
    if s.windows:
        last = s.windows[-1]
        lines.append(f"last verdict: {last.verdict.value} — {'; '.join(last.result.reasons)}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"


def _line(s: RolloutStatus) -> str:
    last = s.windows[-1] if s.windows else None
    verdict = (f" — window {last.number}: {last.verdict.value} (canary {last.result.canary.errors}/"
               f"{last.result.canary.requests} errors, p95 {_ms(last.result.canary.p95_ms)})") if last else ""
    return f"step {s.step}/{s.steps} canary {s.canary_weight:>3}% {s.phase.value}{verdict}"


async def watch(cr, name: str, live: bool) -> RolloutStatus:  # type: ignore[no-untyped-def]
    """Follow a rollout until it ends: a line per change, or (`live`) a redrawn full view."""
    seen = None
    while True:
        s = await cr.rollouts.status(name)
        key = (s.phase, s.step, s.canary_weight, s.windows_total)
        if live:
            typer.echo("\x1b[2J\x1b[H" + status_text(s))
        elif key != seen:
            typer.echo(_line(s))
        seen = key
        if s.phase in FINISHED_PHASES:
            if not live:
                typer.echo(s.outcome or s.phase.value)
            return s
        await asyncio.sleep(0.5 if not live else 1.0)


def register(app: typer.Typer) -> None:
    from starter.cli import _op, fail, run

    @app.command(context_settings={"help_option_names": ["-h", "--help"]})
    def rollout(
        target: Annotated[str, typer.Argument(help="deployment NAME, or `status` followed by NAME")],
        name: Annotated[str | None, typer.Argument(help="with `status`: the deployment")] = None,
        version: Annotated[str | None, typer.Option(help="the version to roll out, e.g. v2")] = None,
        set_: Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE env override, repeatable")
                        ] = None,
        steps: Annotated[str, typer.Option(help="canary weights in %, rising, ending at 100")
                         ] = "10,25,50,75,100",
        step_duration: Annotated[str, typer.Option(help="pause after each weight: 30s, 2m")] = "30s",
        analysis_interval: Annotated[str, typer.Option(help="length of one analysis window")] = "10s",
        scale_down_delay: Annotated[str, typer.Option(help="old version kept after promotion")] = "30s",
        watch_: Annotated[bool, typer.Option("--watch", "-w", help="follow it until it ends")] = False,
        reason: Reason = "", home: Home = None,
    ) -> None:
        """Canary rollout: `rollout NAME --version V [--set K=V …] [--steps …] [--watch]`;
        `rollout status NAME [--watch]` shows step, weights and analysis verdicts."""
        if target == "status" and name is not None:
            run(lambda: _op(home, lambda cr: _status(cr, name, watch_)))
            return
        if name is not None:
            fail(UserError(f"unexpected argument {name!r}: use `rollout NAME --version V` or "
                           "`rollout status NAME`"), 2)
        if not version:
            fail(UserError(f"--version is required: `coderunner rollout {target} --version v2`"), 2)
        try:
            from models.rollout import parse_duration

            strategy = RolloutStrategy.from_shorthand(steps, step_duration, analysis_interval)
            env = parse_env_pairs(set_ or [])
            delay = parse_duration(scale_down_delay, "--scale-down-delay")
        except (UserError, ValueError) as err:
            fail(UserError(str(err)), 2)

        async def go(cr) -> None:  # type: ignore[no-untyped-def]
            started = await cr.rollouts.start(target, version, env=env, strategy=strategy,
                                              scale_down_delay_s=delay, reason=reason)
            typer.echo(f"{target}: rolling out {started.from_version} → {started.version}, weights "
                       f"{started.weights} (workflow {started.workflow_id})")
            if watch_:
                final = await watch(cr, target, live=False)
                if final.phase != RolloutPhase.PROMOTED:
                    raise OperationError(f"rollout of {version} did not complete: {final.phase.value}")

        run(lambda: _op(home, go))

    async def _status(cr, name: str, live: bool) -> None:  # type: ignore[no-untyped-def]
        if live:
            await watch(cr, name, live=True)
        else:
            typer.echo(status_text(await cr.rollouts.status(name)))

    @app.command()
    def promote(name: str,
                full: Annotated[bool, typer.Option("--full", help="skip every remaining step")] = False,
                reason: Reason = "", home: Home = None) -> None:
        """Move the rollout of NAME one step on (or, with --full, straight to 100 % and promotion)."""
        s = run(lambda: _op(home, lambda cr: cr.rollouts.promote(name, full=full, reason=reason)))
        typer.echo(f"{name}: promote{' --full' if full else ''} accepted — {_line(s)}")

    @app.command()
    def abort(name: str, reason: Annotated[str, typer.Option("--reason", "-r", help="why (required)")] = "",
              home: Home = None) -> None:
        """Abort the rollout of NAME: 100 % back to stable at once, canary destroyed."""
        s = run(lambda: _op(home, lambda cr: cr.rollouts.abort(name, reason=reason)))
        typer.echo(f"{name}: aborted — canary {s.canary_weight}%, traffic back on {s.from_version}")

    @app.command()
    def pause(name: str, reason: Reason = "", home: Home = None) -> None:
        """Hold the rollout of NAME at its current weight (signal) until resume, promote or abort."""
        run(lambda: _op(home, lambda cr: cr.rollouts.pause(name, reason=reason)))
        typer.echo(f"{name}: pause requested")

    @app.command()
    def resume(name: str, reason: Reason = "", home: Home = None) -> None:
        """Resume a paused rollout of NAME (signal)."""
        run(lambda: _op(home, lambda cr: cr.rollouts.resume(name, reason=reason)))
        typer.echo(f"{name}: resume requested")

    @app.command()
    def undo(name: str, reason: Reason = "", home: Home = None) -> None:
        """Go back to the version before the last promotion, at once (no canary steps)."""
        result = run(lambda: _op(home, lambda cr: cr.rollouts.undo(name, reason=reason)))
        typer.echo(f"{name}: {result.message}; status {result.status.value}")
