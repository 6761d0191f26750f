"""Plan validation: complete and up front — every error at once, naming the task and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from coderunner.models.pipeline import check_plan
from coderunner.pipeline.planfile import PlanInvalid, load_plan
from tests.pipeline_helpers import EXAMPLE_PLAN, task


def test_example_plan_is_valid() -> None:
    plan, project = load_plan(EXAMPLE_PLAN)
    assert plan.name == "shop" and project.name == "project" and project.is_dir()
    assert plan.task("pricing").estimate == 4.0
    assert plan.task("web-client").depends_on == ["web-types"]


def test_every_error_is_reported_at_once() -> None:
    raw = {
        "name": "Bad Name",
        "project": ".",
        "colour": "blue",
        "pool": {"min": 5, "max": 2},
        "tasks": [
            task("a", ["x.py", "shared.py"]),
            task("b", ["shared.py"], depends_on=["nope", "b"]),
            {**task("c", ["/etc/passwd", "../up.py"]), "estimate": "soon"},
            {"id": "d", "owns": ["d.py"], "agent": {"dev": []}, "estimate": 1, "depend_on": ["a"]},
            task("a", ["other.py"]),
        ],
    }
    plan, errors = check_plan(raw)
    assert plan is None
    got = {(e.task, e.field) for e in errors}
    assert got == {
        ("-", "name"),
        ("-", "colour"),
        ("-", "pool"),
        ("b", "owns"),  # shared.py is also owned by a
        ("b", "depends_on"),  # 'nope' unknown
        ("c", "owns"),
        ("c", "estimate"),
        ("d", "agent.dev"),
        ("d", "depend_on"),  # unknown key
        ("a", "id"),  # duplicate id
    } | {("b", "depends_on")}
    text = "\n".join(str(e) for e in errors)
    assert "task b: owns: shared.py is also owned by task a" in text
    assert "task d: depend_on: unknown key" in text
    assert "task b: depends_on: names the task itself" in text
    assert "'nope' is not a task of this plan" in text
    assert "task c: estimate: 'soon' is not a duration" in text


def test_missing_project_dir_and_bad_yaml(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "x", "project": "absent", "tasks": [task("a", ["a.py"])]}))
    with pytest.raises(PlanInvalid, match=r"project: .* is not a directory"):
        load_plan(plan)
    plan.write_text("tasks: [unclosed")
    with pytest.raises(PlanInvalid, match="not valid YAML"):
        load_plan(plan)
    with pytest.raises(PlanInvalid, match="file not found"):
        load_plan(tmp_path / "none.yaml")


def test_timeout_is_sized_to_the_command() -> None:
    plan, _ = check_plan(
        {
            "name": "x",
            "project": ".",
            "tasks": [
                task("a", ["a"], estimate="2m"),
                {**task("b", ["b"]), "agent": {"dev": "make b", "timeout": "30s"}},
            ],
        }
    )
    assert plan is not None
    assert plan.task("a").timeout_s() == 480.0  # 4x the estimate
    assert plan.task("b").timeout_s() == 30.0
    assert plan.task("b").agent.argv() == ["sh", "-c", "make b"]
