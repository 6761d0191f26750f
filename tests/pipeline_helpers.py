"""Plans built in code for the pipeline tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from coderunner.models.pipeline import PlanSpec, check_plan

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
