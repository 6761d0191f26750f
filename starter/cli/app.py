"""`coderunner`: deploy apps into sandboxes and steer them, durably, on Temporal.

Start with `coderunner up` (embedded stack), then `coderunner demo` or `coderunner deploy spec.yaml`.
Exit codes: 0 success, 2 bad input (nothing changed), 1 operational failure.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Annotated

import typer

from starter.cli import autoscale, config, deploy, deployments, get, pipeline, rollouts, stack, tools
from starter.cli.common import sub_app

app = sub_app(__doc__)
app.info.no_args_is_help = False  # plain `coderunner` prints help and exits 0 (the callback below)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"coderunner {version('coderunner')}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


app.add_typer(stack.app)  # up, down, stack, worker
app.add_typer(deploy.app)  # deploy (and apply a changed spec)
app.add_typer(deployments.app)  # list, describe, scale, restart, stop, start, delete, logs
app.add_typer(get.app)  # get NAME [--watch]: the deployment and its rollout on one screen
app.add_typer(rollouts.group, name="rollout")  # start, status, history, promote, abort, pause, resume, undo
app.add_typer(rollouts.app)  # the short forms: promote, abort, pause, resume, undo
app.add_typer(autoscale.autoscale_app, name="autoscale")
app.add_typer(autoscale.cost_app)  # cost
app.add_typer(tools.app)  # loadgen, demo
app.add_typer(config.app, name="config")  # set, get, list, unset, history, diff, rollback, export, import, …
app.add_typer(pipeline.app, name="pipeline")  # run, status, list, cancel, analyze, graph


def main() -> None:
    """Exit without interpreter teardown: the Temporal core's threads can abort it (sdk-python#300)."""
    code = 0
    try:
        app(args=rollouts.expand_short_form(sys.argv[1:]), prog_name="coderunner")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
