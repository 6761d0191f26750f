"""`coderunner pipeline dlq …`: a run's dead letters (tasks that failed every attempt, or its
integration stage) and a person's decision on each: retry (optionally with a changed command or
env) or skip (dependents proceed, or are skipped too). Every decision is recorded with who and why.
An unknown dead letter, a blank reason or a finished run exits 2 and changes nothing.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from coderunner.models.pipeline_qa import DeadLetter, DecisionResult, SkipMode
from starter.cli.common import AsJson, Home, Reason, connect, fail, run, sub_app
from starter.sdk.errors import UserError
from starter.sdk.pipelines import Pipelines
from starter.views.tables import table

app = sub_app(__doc__)
Opt = typer.Option
Run = Annotated[
    str, typer.Argument(help="a run: pipeline/<name>/<run>, <name>/<run>, or <name> (its latest)")
]
Task = Annotated[str, typer.Argument(help="the dead letter: a task id, or @integration")]
By = Annotated[str, Opt("--by", help="who decides [default: your user name]")]


async def _pipes(home: str | None) -> Pipelines:
    cr = await connect(home)
    return Pipelines(cr.client, cr.settings)


def _who(by: str | None) -> str:
    return by or getpass.getuser()


def _done(result: DecisionResult) -> None:
    typer.echo(f"{result.message}; {result.dead_letters} dead letter(s) left")


@app.command("list")
def list_(run_ref: Run, as_json: AsJson = False, home: Home = None) -> None:
    """The run's dead letters, oldest first."""

    async def go() -> None:
        letters = await (await _pipes(home)).dead_letters(run_ref)
        if as_json:
            typer.echo(json.dumps([d.model_dump(mode="json") for d in letters], indent=2))
            return
        rows = [
            {"task": d.task, "attempts": d.attempts, "last failure": _first_line(d.detail)} for d in letters
        ]
        typer.echo(table(rows, ["task", "attempts", "last failure"]) if rows else "no dead letters")

    run(go)


@app.command()
def show(run_ref: Run, task: Task, as_json: AsJson = False, home: Home = None) -> None:
    """One dead letter with its last failure's output."""

    async def go() -> None:
        letter = await (await _pipes(home)).dead_letter(run_ref, task)
        typer.echo(letter.model_dump_json(indent=2) if as_json else _letter_text(letter))

    run(go)


@app.command()
def retry(
    run_ref: Run,
    task: Task,
    reason: Reason,
    dev: Annotated[str | None, Opt("--dev", help="a changed dev command (run by sh -c)")] = None,
    env: Annotated[list[str] | None, Opt("--env", "-e", help="KEY=VALUE for the task (repeatable)")] = None,
    by: By = "",
    home: Home = None,
) -> None:
    """A fresh round of attempts for a dead letter, optionally with a changed command or env."""
    extra = _env(env or [])

    async def go() -> None:
        _done(await (await _pipes(home)).retry(run_ref, task, reason, actor=_who(by), dev=dev, env=extra))

    run(go)


@app.command()
def skip(
    run_ref: Run,
    task: Task,
    reason: Reason,
    dependents: Annotated[
        str, Opt("--dependents", help="proceed: they run as if it were done; skip: they are skipped too")
    ] = "proceed",
    by: By = "",
    home: Home = None,
) -> None:
    """Give up on a dead letter; its dependents proceed or are skipped."""
    if dependents not in {m.value for m in SkipMode}:
        fail(UserError(f"--dependents: {dependents!r} is not one of proceed, skip"), 2)

    async def go() -> None:
        pipes = await _pipes(home)
        _done(await pipes.skip(run_ref, task, reason, SkipMode(dependents), actor=_who(by)))

    run(go)


def abort_command(run_ref: Run, reason: Reason, by: By = "", home: Home = None) -> None:
    """Stop a run for good: nothing new starts, running steps are cancelled (audited)."""

    async def go() -> None:
        _done(await (await _pipes(home)).abort(run_ref, reason, actor=_who(by)))

    run(go)


def _env(pairs: list[str]) -> dict[str, str]:
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0]]
    if bad:
        fail(UserError(f"--env: give KEY=VALUE (got {len(bad)} without '=')"), 2)  # values never echoed
    return dict(p.split("=", 1) for p in pairs)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:100]


def _letter_text(d: DeadLetter) -> str:
    return f"dead letter {d.task}: {d.attempts} failed attempt(s)\n\nlast failure:\n{d.detail}"
