"""Plans built in code for the pipeline tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from temporalio.testing import ActivityEnvironment

from activities.pipeline import PipelineActivities
from coderunner.models.pipeline import DevStepRequest, PipelineRequest, PlanSpec, PrepareRequest, check_plan
from coderunner.pipeline.workspace import run_dir

EXAMPLE_PLAN = "examples/pipeline/plan.yaml"


def task(tid: str, owns: list[str], estimate: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "owns": owns, "agent": {"dev": ["true"]}, "estimate": estimate, **extra}


def plan_of(*tasks: dict[str, Any], name: str = "p") -> PlanSpec:
    plan, errors = check_plan({"name": name, "project": ".", "tasks": list(tasks)})
    assert plan is not None, errors
    return plan


def write_plan(root: Path, name: str, tasks: list[dict[str, Any]], **plan: Any) -> Path:
    """A plan over a fresh project dir under `root` (each owned file created, so it exists)."""
    project = root / "project"
    project.mkdir(parents=True, exist_ok=True)
    for spec in tasks:
        for owned in spec["owns"]:
            (project / owned).write_text("initial\n")
    path = root / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": name, "project": "project", "tasks": tasks, **plan}))
    return path


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def journal_of(runs_dir: Path, workflow_id: str) -> list[dict[str, Any]]:
    """The run's journal: one entry per dev/QA step start and finish, in order."""
    _, name, run = workflow_id.split("/")
    path = runs_dir / name / run / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def steps(entries: list[dict[str, Any]], event: str) -> list[tuple[str, int]]:
    return [(e["task"], e["attempt"]) for e in entries if e["event"] == event]


class WorkerDied(Exception):
    """Raised in place of a step's later phase: the worker 'dies' there."""


def crash(*_args: object) -> None:
    raise WorkerDied


class OneStep(NamedTuple):
    acts: PipelineActivities
    step: DevStepRequest
    root: Path  # the run's directory: workspace/, steps/, journal.jsonl


async def one_step(tmp_path: Path, name: str, script: str) -> OneStep:
    """A prepared one-task run whose dev step runs `sh -c script` over out.txt ('0\\n'), attempt 1."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "out.txt").write_text("0\n")
    plan = plan_of({**task("t", ["out.txt"]), "agent": {"dev": ["sh", "-c", script]}}, name=name)
    runs = tmp_path / "runs"
    acts = PipelineActivities()
    request = PipelineRequest(plan=plan, project_dir=str(project), run="r1", runs_dir=str(runs))
    await ActivityEnvironment().run(acts.prepare, PrepareRequest(request=request))
    step = DevStepRequest(pipeline=name, run="r1", runs_dir=str(runs), project_dir=str(project),
                          task=plan.tasks[0], attempt=1)
    return OneStep(acts, step, run_dir(runs, name, "r1"))
