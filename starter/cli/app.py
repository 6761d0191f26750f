"""`coderunner`: deploy apps into sandboxes and steer them, durably, on Temporal.

Start with `coderunner up` (embedded stack), then `coderunner demo` or `coderunner deploy spec.yaml`.
Exit codes: 0 success, 2 bad input (nothing changed), 1 operational failure.
"""

from __future__ import annotations

import os
import sys

from starter.cli import autoscale, deployments, pipeline, rollouts, stack, tools
from starter.cli.common import sub_app

app = sub_app(__doc__)
app.add_typer(stack.app)  # up, down, stack, worker
app.add_typer(deployments.app)  # deploy, list, describe, scale, restart, stop, start, delete, logs
app.add_typer(rollouts.app)  # rollout [status], promote, abort, pause, resume, undo
app.add_typer(autoscale.autoscale_app, name="autoscale")
app.add_typer(autoscale.cost_app)  # cost
app.add_typer(tools.app)  # loadgen, demo
app.add_typer(pipeline.app, name="pipeline")  # run, status, list, cancel, analyze, graph


def main() -> None:
    """Exit without interpreter teardown: the Temporal core's threads can abort it (sdk-python#300)."""
    code = 0
    try:
        app(prog_name="coderunner")
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
