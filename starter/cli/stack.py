"""`coderunner up | down | stack | worker`: the embedded stack from the command line."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from coderunner.config.home import home_dir
from coderunner.config.settings import StackNotRunning
from starter.cli.common import Home, fail, sub_app
from starter.sdk.errors import OperationError
from starter.stack import control as stack_mod

app = sub_app()


@app.command()
def up(
    home: Home = None,
    database_url: Annotated[str | None, typer.Option(help="app DB URL, e.g. postgresql+psycopg://…")] = None,
) -> None:
    """Start the embedded stack (Temporal dev server, codec server, sandbox host, worker)."""
    root = home_dir(home)
    try:
        started, stack = stack_mod.up(root, database_url)
    except OperationError as err:
        fail(err, 1)
    typer.echo(("started" if started else "already up — nothing changed") + f" (state in {root})")
    _print_urls(stack)


def _print_urls(stack: dict[str, Any]) -> None:
    typer.echo(f"  Temporal     {stack['temporal_address']}")
    typer.echo(f"  Web UI       {stack['ui_url']}")
    typer.echo(f"  sandbox host {stack['sandbox_url']}")
    typer.echo(f"  codec server {stack['codec_url']}")
    typer.echo(f"  metrics      {stack['metrics_url']}")


@app.command()
def down(
    home: Home = None,
    keep_apps: Annotated[bool, typer.Option(
        "--keep-apps", help="stop the control plane only: app instances and their routers keep "
        "serving, and the next `up` adopts them")] = False,
) -> None:
    """Stop exactly the processes `up` started. Deployments resume on the next `up`."""
    stopped = stack_mod.down(home_dir(home), keep_apps=keep_apps)
    typer.echo("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


@app.command("stack")
def stack_cmd(home: Home = None) -> None:
    """Show what runs where, and whether each piece answers."""
    root = home_dir(home)
    current = stack_mod.read_stack(root)
    if not current or not stack_mod.supervisor_alive(current):
        fail(StackNotRunning(), 1)
    _print_urls(current)
    for name, ok in stack_mod.health(root, current).items():
        pid = (current.get("processes") or {}).get(name.split()[0], {}).get("pid", "")
        typer.echo(f"  {name:<13} {'up' if ok else 'DOWN'} {pid}")


@app.command()
def worker(home: Home = None) -> None:
    """Run a worker in the foreground (the embedded stack already runs one)."""
    # the worker is its own program (worker.py); the CLI hands this process over to it
    args = [sys.executable, "-m", "worker", *(["--home", home] if home else [])]
    sys.stdout.flush()
    os.execv(sys.executable, args)
