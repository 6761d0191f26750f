"""`coderunner get NAME [--watch]`: one live view of a deployment and its rollout."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console, RenderableType
from rich.live import Live

from coderunner.models.rollout import FINISHED_PHASES
from starter.cli.common import Home, connect, run, sub_app
from starter.sdk.client import CodeRunner
from starter.views.get import render
from starter.views.step_clock import step_text

app = sub_app()


async def snapshot(cr: CodeRunner, name: str) -> RenderableType:
    """The deployment's describe and, while a rollout runs, its status: one consistent screen."""
    desc = await cr.describe(name)
    if desc.rollout is None or desc.rollout.phase in FINISHED_PHASES:
        return render(desc, None)
    view = await cr.rollouts.view(name)
    return render(desc, view.status, step_text(view, datetime.now(UTC)))


@app.command()
def get(
    name: str,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="redraw in place every second; Ctrl-C stops")]
    = False,
    home: Home = None,
) -> None:
    """Status, versions, rollout step and weights, analysis verdicts, and revisions -> instances with
    health, CPU and memory (like `kubectl argo rollouts get rollout`)."""
    console = Console(highlight=False)

    async def go() -> None:
        cr = await connect(home)
        if not watch:
            console.print(await snapshot(cr, name))
            return
        with Live(await snapshot(cr, name), console=console, auto_refresh=False, screen=False) as live:
            while True:
                await asyncio.sleep(1)
                live.update(await snapshot(cr, name), refresh=True)

    with contextlib.suppress(KeyboardInterrupt):
        run(go)
