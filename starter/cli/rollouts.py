"""`coderunner rollout …`, `promote`, `abort`, `pause`, `resume`, `undo`: canary rollouts from the CLI.

`rollout` is one command whose first argument is either a deployment name or the word `status`,
so both spec'd forms work: `coderunner rollout demo --version v2 …` and `coderunner rollout status
demo [--watch]` (a deployment literally named "status": `coderunner rollout status status`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from coderunner.models.rollout import RolloutPhase, RolloutStrategy, parse_duration
from starter.cli.common import Home, Reason, fail, op, run, sub_app
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError, UserError
from starter.sdk.specfile import parse_env_pairs
from starter.views.rollouts import line, status_text, watch

app = sub_app()


@app.command()
def rollout(
    target: Annotated[str, typer.Argument(help="deployment NAME, or `status` followed by NAME")],
    name: Annotated[str | None, typer.Argument(help="with `status`: the deployment")] = None,
    version: Annotated[str | None, typer.Option(help="the version to roll out, e.g. v2")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE env override, repeatable")
    ] = None,
    steps: Annotated[
        str, typer.Option(help="canary weights in %, rising, ending at 100")
    ] = "10,25,50,75,100",
    step_duration: Annotated[str, typer.Option(
        help="pause after each weight: 30s, 2m; at least --analysis-interval (a weight needs a healthy "
             "window before the canary moves on, else the rollout pauses and says what is missing)")] = "30s",
    analysis_interval: Annotated[str, typer.Option(help="length of one analysis window")] = "10s",
    scale_down_delay: Annotated[str, typer.Option(help="old version kept after promotion")] = "30s",
    watch_: Annotated[bool, typer.Option("--watch", "-w", help="follow it until it ends")] = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Canary rollout: `rollout NAME --version V [--set K=V …] [--steps …] [--watch]`;
    `rollout status NAME [--watch]` shows step, weights and analysis verdicts."""
    if target == "status" and name is not None:
        run(lambda: op(home, lambda cr: _status(cr, name, watch_)))
        return
    if name is not None:
        fail(
            UserError(
                f"unexpected argument {name!r}: use `rollout NAME --version V` or `rollout status NAME`"
            ),
            2,
        )
    if not version:
        fail(UserError(f"--version is required: `coderunner rollout {target} --version v2`"), 2)
    try:
        strategy = RolloutStrategy.from_shorthand(steps, step_duration, analysis_interval)
        env = parse_env_pairs(set_ or [])
        delay = parse_duration(scale_down_delay, "--scale-down-delay")
    except (UserError, ValueError) as err:
        fail(UserError(str(err)), 2)

    async def go(cr: CodeRunner) -> None:
        started = await cr.rollouts.start(
            target, version, env=env, strategy=strategy, scale_down_delay_s=delay, reason=reason
        )
        typer.echo(
            f"{target}: rolling out {started.from_version} → {started.version}, weights "
            f"{started.weights} (workflow {started.workflow_id})"
        )
        if watch_:
            final = await watch(cr.rollouts, target, live=False)
            if final.phase != RolloutPhase.PROMOTED:
                raise OperationError(f"rollout of {version} did not complete: {final.phase.value}")

    run(lambda: op(home, go))


async def _status(cr: CodeRunner, name: str, live: bool) -> None:
    if live:
        await watch(cr.rollouts, name, live=True)
    else:
        typer.echo(status_text(await cr.rollouts.status(name)))


@app.command()
def promote(
    name: str,
    full: Annotated[bool, typer.Option("--full", help="skip every remaining step")] = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Move the rollout of NAME one step on (or, with --full, straight to 100 % and promotion)."""
    s = run(lambda: op(home, lambda cr: cr.rollouts.promote(name, full=full, reason=reason)))
    typer.echo(f"{name}: promote{' --full' if full else ''} accepted — {line(s)}")


@app.command()
def abort(
    name: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="why (required)")] = "",
    home: Home = None,
) -> None:
    """Abort the rollout of NAME: 100 % back to stable at once, canary destroyed."""
    s = run(lambda: op(home, lambda cr: cr.rollouts.abort(name, reason=reason)))
    typer.echo(f"{name}: aborted — canary {s.canary_weight}%, traffic back on {s.from_version}")


@app.command()
def pause(name: str, reason: Reason = "", home: Home = None) -> None:
    """Hold the rollout of NAME at its current weight until resume, promote or abort (refused, exit 2,
    while it is promoting or aborting)."""
    run(lambda: op(home, lambda cr: cr.rollouts.pause(name, reason=reason)))
    typer.echo(f"{name}: pause requested")


@app.command()
def resume(name: str, reason: Reason = "", home: Home = None) -> None:
    """Resume a paused rollout of NAME (refused, exit 2, when it is not paused)."""
    run(lambda: op(home, lambda cr: cr.rollouts.resume(name, reason=reason)))
    typer.echo(f"{name}: resume requested")


@app.command()
def undo(name: str, reason: Reason = "", home: Home = None) -> None:
    """Go back to the version before the last promotion, at once (no canary steps)."""
    result = run(lambda: op(home, lambda cr: cr.rollouts.undo(name, reason=reason)))
    typer.echo(f"{name}: {result.message}; status {result.status.value}")
