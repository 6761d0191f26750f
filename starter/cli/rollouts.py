"""`coderunner rollout start|status|history|promote|abort|pause|resume|undo`: canary rollouts.

`rollout` is a command group, like `kubectl argo rollouts`. The short forms people already type keep
working: `coderunner rollout NAME --version V` means `rollout start NAME --version V`, and `promote`,
`abort`, `pause`, `resume`, `undo` also stand at the top level.

`rollout status` exit codes (as `kubectl argo rollouts status`): 0 promoted or progressing,
1 aborted or failed, 3 paused waiting for a person, 2 bad input.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from coderunner.models.rollout import RolloutPhase, RolloutStrategy
from starter.cli.common import Home, Output, Reason, emit, fail, op, run, seconds, sub_app
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError, UserError
from starter.sdk.specfile import parse_env_pairs
from starter.views.rollouts import history_rows, line, status_exit_code, status_text, watch
from starter.views.tables import table

SUBCOMMANDS = ("start", "status", "history", "promote", "abort", "pause", "resume", "undo")


def expand_short_form(argv: list[str]) -> list[str]:
    """`rollout NAME --version V` is `rollout start NAME --version V`: after `rollout`, a word that is
    neither a subcommand nor an option is a deployment name."""
    if len(argv) > 1 and argv[0] == "rollout" and argv[1] not in SUBCOMMANDS and not argv[1].startswith("-"):
        return ["rollout", "start", *argv[1:]]
    return argv


app = sub_app()  # the top-level short forms: promote, abort, pause, resume, undo
group = typer.Typer(
    help="Canary rollouts with automatic rollback: start | status | history | promote | abort | pause | "
    "resume | undo. `coderunner rollout NAME --version V` is short for `rollout start NAME --version V`.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@group.command()
def start(
    name: Annotated[str, typer.Argument(help="the deployment")],
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
    analysis_interval: Annotated[str, typer.Option(help="length of one analysis window: 10s")] = "10s",
    scale_down_delay: Annotated[str, typer.Option(help="old version kept after promotion: 30s")] = "30s",
    watch_: Annotated[bool, typer.Option("--watch", "-w", help="follow it until it ends")] = False,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Start a canary rollout of NAME to --version; `--watch` follows it and exits 0 only on promotion."""
    if not version:
        fail(UserError(f"--version is required: `coderunner rollout start {name} --version v2`"), 2)
    try:
        pause_s = seconds(step_duration, "--step-duration", positive=False)
        interval_s = seconds(analysis_interval, "--analysis-interval")
        delay = seconds(scale_down_delay, "--scale-down-delay", positive=False)
        strategy = RolloutStrategy.from_shorthand(steps, pause_s, interval_s)
        env = parse_env_pairs(set_ or [], "--set")
    except (UserError, ValueError) as err:
        fail(UserError(str(err)), 2)

    async def go(cr: CodeRunner) -> None:
        started = await cr.rollouts.start(
            name, version, env=env, strategy=strategy, scale_down_delay_s=delay, reason=reason
        )
        weights = " → ".join(f"{w}%" for w in started.weights)
        typer.echo(
            f"{name}: rolling out {started.from_version} → {started.version}, weights {weights} "
            f"(workflow {started.workflow_id})"
        )
        if watch_:
            final = await watch(cr.rollouts, name, live=sys.stdout.isatty())  # redraw on a terminal
            if final.phase != RolloutPhase.PROMOTED:
                raise OperationError(f"rollout of {version} did not complete: {final.phase.value}")

    run(lambda: op(home, go))


@group.command()
def status(
    name: Annotated[str, typer.Argument(help="the deployment")],
    watch_: Annotated[bool, typer.Option("--watch", "-w", help="redraw until the rollout ends")] = False,
    output: Output = "table",
    home: Home = None,
) -> None:
    """Step, weights and analysis verdicts of NAME's rollout. Exit 0 promoted or progressing,
    1 aborted or failed, 3 paused waiting for a person."""

    async def go(cr: CodeRunner) -> int:
        if watch_:
            final = await watch(cr.rollouts, name, live=True)
            return status_exit_code(final)
        view = await cr.rollouts.view(name)
        emit(view.status, output, lambda _: status_text(view))
        return status_exit_code(view.status)

    code = run(lambda: op(home, go))
    raise typer.Exit(code)


@group.command()
def history(
    name: Annotated[str, typer.Argument(help="the deployment")],
    output: Output = "table",
    home: Home = None,
) -> None:
    """Every rollout of NAME, oldest first: revision, version, when, who, outcome."""
    revisions = run(lambda: op(home, lambda cr: cr.rollouts.history(name)))
    rows = history_rows(revisions)
    if output in ("json", "yaml"):
        emit([r.model_dump(mode="json") for r in revisions], output, lambda _: "")
        return
    typer.echo(table(rows, ["revision", "version", "from", "age", "who", "outcome"]))


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
def undo(
    name: str,
    to_revision: Annotated[int | None, typer.Option(
        "--to-revision", min=1, help="a revision of `rollout history`: the version it rolled out")] = None,
    reason: Reason = "",
    home: Home = None,
) -> None:
    """Go back to the version before the last promotion, at once (no canary steps); with
    --to-revision N, to what revision N rolled out: at once if that is the previous version, else as
    a canary rollout of that version and its env."""
    if to_revision is None:
        result = run(lambda: op(home, lambda cr: cr.rollouts.undo(name, reason=reason)))
        typer.echo(f"{name}: {result.message}; status {result.status.value}")
        return
    revision = to_revision
    outcome = run(lambda: op(home, lambda cr: cr.rollouts.undo_to(name, revision, reason=reason)))
    how = "at once" if outcome.immediate else f"`coderunner rollout status {name} -w` follows it"
    typer.echo(f"{name}: undo to revision {revision} ({outcome.version}): {outcome.message} — {how}")


for verb in (promote, abort, pause, resume, undo):  # the same verbs inside the group
    group.command(verb.__name__)(verb)
