"""`coderunner demo`, part four: a delivery pipeline from plan to production.

examples/pipeline_qa runs through PM, Dev and QA (parallel tasks, a task fixed by its retry, a poison
task in the dead-letter queue skipped by a person), integration, and the Ops stage: its workspace is
released as a canary rollout of the running `calc` service (v1: the project as it is in git), under
live traffic, and promoted.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import typer
import yaml

from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.models.pipeline import PipelineResult
from coderunner.models.pipeline_qa import DeadLetter, SkipMode
from starter.sdk.client import CodeRunner
from starter.sdk.errors import OperationError
from starter.sdk.pipelines import Pipelines
from starter.tools.demo_rollouts import DEMO_RPS, steady_load
from starter.views.tables import statuses

EXAMPLE = "examples/pipeline_qa"


async def pipeline_story(
    cr: CodeRunner,
    repo: Path,
    timings: DeploymentTimings,
    say: Callable[[str], None],
    copy_to: Path | None = None,
    deployment: str = "calc",
) -> PipelineResult:
    """`copy_to`: run a copy of the example there, its deployment renamed to `deployment` (tests);
    else the example in the repo (the sandboxed app must see its dir: never the state dir)."""
    example = repo / EXAMPLE
    if copy_to is not None:
        shutil.rmtree(copy_to, ignore_errors=True)
        shutil.copytree(example, copy_to)
        example = copy_to
        data = yaml.safe_load((example / "plan.yaml").read_text())
        data["deploy"]["name"] = deployment
        (example / "plan.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    plan = example / "plan.yaml"

    if any(row["name"] == deployment for row in await cr.list()):
        await cr.delete(deployment, reason="demo re-run", actor="demo")
    say(f"the {deployment} service v1: {EXAMPLE}/project as it is in git (answers 'not built')")
    spec = DeploymentSpec(name=deployment, command=["python", "app.py"], replicas=2,
                          working_dir=str(example / "project"))
    await cr.deploy(spec, timings, actor="demo")
    router = (await cr.wait_settled(deployment, timeout_s=60)).router_url or ""

    say(f"delivery pipeline {EXAMPLE}: PM → Dev/QA → integration → Ops canary of {deployment}")
    typer.echo(f"  coderunner pipeline run {EXAMPLE}/plan.yaml --watch")
    pipes = cr.pipelines
    async with steady_load(router, DEMO_RPS / 3) as seen:
        workflow_id = await pipes.run(plan)
        letters = await _dead_letters(pipes, workflow_id)
        first = letters[0]
        typer.echo(f"  dead letter: {first.task} after {first.attempts} attempts — a person decides:")
        typer.echo(f"  coderunner pipeline dlq skip {workflow_id} legacy --dependents skip "
                   "--reason 'legacy API is retired'")
        await pipes.skip(workflow_id, "legacy", reason="legacy API is retired", dependents=SkipMode.SKIP,
                         actor="demo")
        result = await pipes.wait(workflow_id)
    desc = await pipes.describe(workflow_id)
    for t in desc.tasks:
        typer.echo(f"    {t.id:<8} {t.status.value:<8} attempt {t.attempt}  {t.detail[:70]}")
    typer.echo(f"  integration {desc.integration}; {result.status.value} in {result.makespan_s:.0f}s "
               f"(critical path {result.critical_path_s:g}s estimated)")
    ops = result.ops
    if ops is not None:
        typer.echo(f"  Ops: {ops.deployment} {ops.from_version or '-'} → {ops.version}: {ops.phase.value}"
                   f" ({ops.workflow_id}); users saw {statuses(seen)}")
    final = await cr.describe(deployment)
    typer.echo(f"  {deployment} now runs {final.spec.version} from {final.spec.working_dir}")
    typer.echo(f"  try: coderunner pipeline status {workflow_id} · coderunner rollout status {deployment}")
    return result


async def _dead_letters(pipes: Pipelines, workflow_id: str) -> list[DeadLetter]:
    for _ in range(600):
        letters = await pipes.dead_letters(workflow_id)
        if letters:
            return list(letters)
        await asyncio.sleep(0.2)
    raise OperationError(f"demo: {workflow_id} has no dead letter within 120s")
