"""`coderunner loadgen | demo`: real traffic through a router, and the guided demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from coderunner.config.home import home_dir
from starter.cli.common import Home, Output, connect, emit, fail, run, seconds, sub_app
from starter.sdk.errors import OperationError, UserError
from starter.tools.demo import run_demo
from starter.tools.loadgen import LoadReport, run_load

REPO = Path(__file__).resolve().parents[2]
app = sub_app()


@app.command()
def loadgen(
    name: str,
    rps: Annotated[float, typer.Option(help="requests per second (open loop)")] = 50.0,
    duration: Annotated[str, typer.Option(help="how long: 30s, 2m, 500ms")] = "10s",
    path: Annotated[str, typer.Option(help="request path")] = "/",
    output: Output = "table",
    home: Home = None,
) -> None:
    """Send real HTTP through NAME's router at a fixed rate; report status counts and latency."""
    span = seconds(duration, "--duration")
    if rps <= 0:
        fail(UserError("--rps must be > 0, e.g. --rps 50"), 2)

    async def go() -> None:
        desc = await (await connect(home)).describe(name)
        if not desc.router_url:
            raise OperationError(f"{name} has no router yet (status {desc.status.value})")
        emit(await run_load(desc.router_url, rps, span, path), output, LoadReport.summary)

    run(go)


@app.command()
def demo(home: Home = None) -> None:
    """Deploy the demo app x3, send traffic, scale 5 → 2, kill an instance and watch it replaced;
    then canary rollouts: a sick v2 rolled back by analysis, a healthy v3 promoted."""
    run(lambda: run_demo(home_dir(home), REPO))
