"""Plans built in code for the pipeline tests."""

from __future__ import annotations

from typing import Any

from coderunner.models.pipeline import PlanSpec, check_plan

EXAMPLE_PLAN = "examples/pipeline/plan.yaml"


def task(tid: str, owns: list[str], estimate: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "owns": owns, "agent": {"dev": ["true"]}, "estimate": estimate, **extra}


def plan_of(*tasks: dict[str, Any], name: str = "p") -> PlanSpec:
    plan, errors = check_plan({"name": name, "project": ".", "tasks": list(tasks)})
    assert plan is not None, errors
    return plan
