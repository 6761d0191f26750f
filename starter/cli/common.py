"""What every `coderunner` command shares: option types, the exit-code mapping and the connection.

Exit codes: 0 success, 2 bad input (the message names the field and the fix; nothing changed),
1 operational failure.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import yaml
from pydantic import BaseModel

from coderunner.config.settings import StackNotRunning
from coderunner.hosts.provider import SandboxError
from coderunner.models.rollout import parse_duration
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError, UserError

T = TypeVar("T")
Home = Annotated[
    str | None,
    typer.Option(
        "--home", envvar="CODERUNNER_HOME", help="state dir of the embedded stack [default: ./.coderunner]"
    ),
]
Reason = Annotated[str, typer.Option("--reason", "-r", help="why: kept in the audit log and on the workflow")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON instead of a table (same as -o json)")]
FORMATS = ("table", "wide", "json", "yaml")


def _check_format(value: str) -> str:
    if value not in FORMATS:
        raise typer.BadParameter(f"{value!r} is not a format — use one of {', '.join(FORMATS)}")
    return value


Output = Annotated[
    str,
    typer.Option("--output", "-o", callback=_check_format, help="table (default), wide, json or yaml"),
]
HELP = {"help_option_names": ["-h", "--help"]}


def sub_app(help_text: str | None = None) -> typer.Typer:
    """A command group with the settings every group shares (no rich markup, `-h` as well as `--help`)."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings=HELP,
    )


def emit(value: Any, output: str, render: Callable[[Any], str], as_json: bool = False) -> None:
    """Print a read command's answer: machine formats from the model, else the human view."""
    fmt = "json" if as_json else output
    if fmt in ("json", "yaml"):
        data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
        if isinstance(data, list):
            data = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in data]
        text = json.dumps(data, indent=2) if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
        typer.echo(text.rstrip())
        return
    typer.echo(render(value))


async def show(
    fetch: Callable[[], Awaitable[Any]],
    render: Callable[[Any], str],
    output: str,
    as_json: bool = False,
    watch: bool = False,
    every_s: float = 1.0,
) -> None:
    """A read command: print once, or with `watch` redraw in place (clear screen, home) until Ctrl-C."""
    while True:
        value = await fetch()
        if watch:
            typer.echo("\x1b[2J\x1b[H", nl=False)
        emit(value, output, render, as_json)
        if not watch:
            return
        await asyncio.sleep(every_s)


def fail(err: Exception, code: int) -> NoReturn:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code)


def run(fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine, mapping failures to the documented exit codes and one-line messages."""
    try:
        return asyncio.run(fn())
    except (UserError, OperationError) as err:
        fail(err, err.exit_code)
    except (StackNotRunning, SandboxError) as err:
        fail(err, 1)


async def connect(home: str | None) -> CodeRunner:
    return await CodeRunner.connect(home)


async def op(home: str | None, fn: Callable[[CodeRunner], Awaitable[T]]) -> T:
    """Connect, then run one SDK call: `run(lambda: op(home, lambda cr: cr.restart(name)))`."""
    return await fn(await connect(home))


def seconds(text: str, flag: str, positive: bool = True) -> float:
    """A duration flag (`30s`, `2m`, `1h`, `500ms`) in seconds, or exit 2 naming the flag as typed."""
    try:
        value = parse_duration(text, flag)
    except ValueError as err:
        fail(UserError(str(err)), 2)
    if positive and value <= 0:
        fail(UserError(f"{flag} must be more than 0, e.g. {flag} 10s"), 2)
    return value


def parse_ttl(text: str | None) -> float | None:
    if text is None:
        return None
    value = seconds(text, "--for")
    if value <= 0:
        fail(UserError("--for must be > 0, e.g. --for 30m"), 2)
    return value
