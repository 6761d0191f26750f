"""`coderunner pipeline …`: delivery pipelines — analyse a plan, draw its graph, run it and watch it.

A plan (YAML) names a project directory and its tasks (id, owns, agent.dev, estimate, depends_on,
env). `analyze` and `graph` run nothing; `run` starts the PipelineWorkflow `pipeline/<name>/<run>`.
A plan with any error (all are listed) or a dependency cycle exits 2 and starts nothing. A plan with
`deploy` ends with the Ops stage: its result released as a canary rollout (or a new deployment).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from coderunner.agents.registry import check_agents
from coderunner.decisions.pipeline_ops import ops_summary
from coderunner.models.pipeline import PipelineDescription, PlanAnalysis, PlanSpec
from coderunner.pipeline.planfile import PlanInvalid
from coderunner.pipeline.runner import bwrap_path
from starter.cli import pipeline_dlq
from starter.cli.common import AsJson, Home, Reason, connect, fail, run, sub_app
from starter.sdk.errors import OperationError, UserError
from starter.sdk.pipelines import Pipelines, load_and_analyze
from starter.views import pipelines as views
from starter.views.tables import table

app = sub_app(__doc__)
app.add_typer(pipeline_dlq.app, name="dlq")  # list, show, retry, skip
app.command("abort")(pipeline_dlq.abort_command)
Opt = typer.Option
Plan = Annotated[Path, typer.Argument(help="the plan YAML, e.g. examples/pipeline/plan.yaml")]
Run = Annotated[
    str, typer.Argument(help="a run: pipeline/<name>/<run>, <name>/<run>, or <name> (its latest)")
]
FORMATS = ("dot", "svg", "png")
GRAPHVIZ_FIX = "graphviz's `dot` is not installed — install it with `apt-get install graphviz`"


def _offline(plan_path: Path) -> tuple[PlanSpec, Path, PlanAnalysis]:
    """The plan validated (its agents too: installed here, options valid) and analysed; else exit 2."""
    try:
        prepared = load_and_analyze(plan_path)
    except UserError as err:
        fail(err, 2)
    problems = check_agents(prepared[0])
    if problems:
        fail(UserError(str(PlanInvalid(str(plan_path), problems))), 2)
    return prepared


async def _pipes(home: str | None) -> Pipelines:
    cr = await connect(home)
    return Pipelines(cr.client, cr.settings)


@app.command()
def analyze(plan: Plan, as_json: AsJson = False) -> None:
    """Batches, critical path and priorities of a plan, from its project's imports; nothing runs."""
    spec, _project, analysis = _offline(plan)
    typer.echo(
        analysis.model_dump_json(indent=2)
        if as_json
        else views.analysis_text(spec, analysis, bwrap_path() is not None)
    )


@app.command()
def graph(
    plan: Plan,
    fmt: Annotated[str, Opt("--output", "-o", "--format", help="dot, svg or png")] = "dot",
    output: Annotated[
        Path | None, Opt("--file", "-f", help="file to write [default: stdout for dot, NAME.FORMAT else]")
    ] = None,
) -> None:
    """The task graph with the critical path in red (Graphviz); svg/png need `dot` installed.

    `-o` is the format, as in every other command; `--file` names the file:
    `coderunner pipeline graph plan.yaml -o svg --file plan.svg`."""
    if fmt not in FORMATS:
        hint = f"; to write a file use --file {fmt}" if "." in fmt or "/" in fmt else ""
        fail(UserError(f"-o/--output: {fmt!r} is not a format — use one of {', '.join(FORMATS)}{hint}"), 2)
    if output is not None and str(output) in FORMATS:
        fail(UserError(f"--file/-f: {str(output)!r} is a format, not a file — the format is -o {output}, "
                       "the file --file PATH"), 2)
    spec, _project, analysis = _offline(plan)
    text = views.dot_text(spec, analysis)
    if fmt == "dot":
        if output:
            output.write_text(text)
        else:
            typer.echo(text, nl=False)
        return
    dot = shutil.which("dot")
    if dot is None:
        fail(OperationError(GRAPHVIZ_FIX), 1)
    target = output or Path(f"{spec.name}.{fmt}")
    done = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(target)], input=text.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        fail(OperationError(f"dot failed: {done.stderr.decode(errors='replace').strip()}"), 1)
    typer.echo(f"wrote {target}")


@app.command("run")
def run_(
    plan: Plan,
    watch: Annotated[
        bool, Opt("--watch", "-w", help="follow it to its end: redrawn on a terminal, else a line per change")
    ] = False,
    run_id: Annotated[str | None, Opt("--run", help="the run id [default: a timestamp]")] = None,
    home: Home = None,
) -> None:
    """Validate and analyse the plan, then start the pipeline; exit 2 (nothing started) on a bad plan."""
    prepared = _offline(plan)

    async def go() -> None:
        pipes = await _pipes(home)
        workflow_id = await pipes.run(plan, run_id, prepared)
        typer.echo(f"started {workflow_id}")
        if watch:
            await _watch(pipes, workflow_id)

    run(go)


async def _watch(pipes: Pipelines, workflow_id: str) -> None:
    """On a terminal the whole status view redrawn every second (its clock counts up); otherwise
    (a pipe, a log) one progress line each time something but the clock changes."""
    live = sys.stdout.isatty()
    last = ""
    async for desc in pipes.watch(workflow_id):
        if live:
            typer.echo("\x1b[2J\x1b[H" + _status_text(desc))
            continue
        state = views.progress_state(desc)
        if state != last:
            typer.echo(views.progress_line(desc))
            last = state
    result = await pipes.wait(workflow_id)
    typer.echo(
        f"{result.status.value}: {result.done} done ({result.cached} cached), failed {result.failed or '-'},"
        f" blocked {result.blocked or '-'}; {result.makespan_s:.1f}s against a critical path of"
        f" {result.critical_path_s:g}s estimated; workspace {result.workspace}"
        + (f"\n{ops_summary(result.ops)}" if result.ops else "")
        + (f"\n{result.reason}" if result.reason else "")
    )
    if result.status.value != "succeeded":
        raise typer.Exit(1)


@app.command()
def status(
    run_ref: Run,
    watch: Annotated[
        bool, Opt("--watch", "-w", help="follow it to its end: redrawn on a terminal, else a line per change")
    ] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """A run's stages, every task's state, pool, breaker, cache reuse, time against the critical path
    and people's decisions with who and why (query `describe`)."""

    async def go() -> None:
        pipes = await _pipes(home)
        if watch:
            await _watch(pipes, await pipes.resolve(run_ref))
            return
        desc = await pipes.describe(run_ref)
        typer.echo(desc.model_dump_json(indent=2) if as_json else _status_text(desc))

    run(go)


@app.command("list")
def list_(
    name: Annotated[str | None, Opt("--name", help="only this pipeline's runs")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Pipeline runs, newest first, with status and stage (from search attributes)."""

    async def go() -> None:
        rows = await (await _pipes(home)).list(name)
        typer.echo(
            json.dumps(rows, indent=2)
            if as_json
            else table(rows, ["workflow_id", "status", "stage", "started"])
        )

    run(go)


@app.command()
def cancel(run_ref: Run, reason: Reason, home: Home = None) -> None:
    """Stop dispatching and cancel the running steps of a run."""

    async def go() -> None:
        workflow_id = await (await _pipes(home)).cancel(run_ref, reason)
        typer.echo(f"cancel requested for {workflow_id}")

    run(go)


def _status_text(desc: PipelineDescription) -> str:
    """The status view, ending with the Ops stage's line once it has started."""
    text = views.status_text(desc)
    return text if desc.ops is None else f"{text}\n{ops_summary(desc.ops)}"
