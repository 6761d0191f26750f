"""`coderunner up | down | stack | worker`: the embedded stack from the command line."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from coderunner.config.home import home_dir
from coderunner.config.settings import StackNotRunning
from starter.cli.common import Home, Output, emit, fail, sub_app
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
    if started and stack.get("stopped_leftovers"):
        typer.echo(
            f"  stopped what a killed supervisor left running: {', '.join(stack['stopped_leftovers'])}"
        )
    _print_urls(stack)


def _print_urls(stack: dict[str, Any]) -> None:
    typer.echo(_stack_text({k: stack[k] for k in URLS}, []))


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
def stack_cmd(home: Home = None, output: Output = "table") -> None:
    """Show what runs where, and whether each piece answers (exit 1 if the stack is not running)."""
    root = home_dir(home)
    current = stack_mod.read_stack(root)
    if not current or not stack_mod.supervisor_alive(current):
        fail(StackNotRunning(), 1)
    pieces = [
        {
            "piece": name,
            "up": ok,
            "pid": (current.get("processes") or {}).get(name.split()[0], {}).get("pid"),
        }
        for name, ok in stack_mod.health(root, current).items()
    ]
    urls = {k: current[k] for k in URLS}
    emit({"urls": urls, "pieces": pieces}, output, lambda _: _stack_text(urls, pieces))


URLS = ("temporal_address", "ui_url", "sandbox_url", "codec_url", "metrics_url")


def _stack_text(urls: dict[str, Any], pieces: list[dict[str, Any]]) -> str:
    labels = ("Temporal", "Web UI", "sandbox host", "codec server", "metrics")
    lines = [f"  {label:<12} {urls[key]}" for label, key in zip(labels, URLS, strict=True)]
    lines += [f"  {p['piece']:<13} {'up' if p['up'] else 'DOWN'} {p['pid'] or ''}".rstrip() for p in pieces]
    return "\n".join(lines)


@app.command()
def worker(home: Home = None) -> None:
    """Run a worker in the foreground (the embedded stack already runs one)."""
    # the worker is its own program (worker.py); the CLI hands this process over to it
    args = [sys.executable, "-m", "worker", *(["--home", home] if home else [])]
    sys.stdout.flush()
    os.execv(sys.executable, args)
