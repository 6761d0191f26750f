"""The plan's `deploy` section (the Ops stage) is validated with the rest of the plan, every error
naming its field; and the Ops stage's pure decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coderunner.decisions.pipeline_ops import (
    ops_reason,
    ops_status,
    ops_summary,
    releases_to_prune,
    rollout_verdict,
)
from coderunner.models.pipeline import PipelineStatus, check_plan
from coderunner.models.pipeline_ops import OpsPhase, OpsState
from coderunner.models.rollout import RolloutPhase
from tests.cli_helpers import coderunner
from tests.pipeline_helpers import task, write_plan


def plan_with(deploy: Any) -> dict[str, Any]:
    return {"name": "p", "project": ".", "tasks": [task("a", ["a.py"])], "deploy": deploy}


def test_a_valid_deploy_section_gives_the_canary_strategy() -> None:
    plan, errors = check_plan(
        plan_with({"name": "shop", "command": "python app.py", "canary": {"steps": "20,100", "interval": "1s",
                                                                           "step_duration": "2s"}})
    )
    assert plan is not None and plan.deploy is not None, errors
    strategy = plan.deploy.canary.strategy()
    assert strategy.analysis.interval_s == 1.0
    spec = plan.deploy.spec_for("r1", "/releases/p/r1")
    assert spec.command == ["python", "app.py"] and spec.working_dir == "/releases/p/r1"
    assert spec.env["VERSION"] == "r1" and spec.health_path == "/health"


@pytest.mark.parametrize(
    ("deploy", "field", "message"),
    [
        ({"name": "Shop", "command": ["x"]}, "deploy.name", "should match pattern"),
        ({"command": ["x"]}, "deploy.name", "Field required"),
        ({"name": "shop"}, "deploy.command", "Field required"),
        ({"name": "shop", "command": []}, "deploy.command", "non-empty command"),
        ({"name": "shop", "command": ["x"], "health": "/h"}, "deploy.health", "unknown key"),
        ({"name": "shop", "command": ["x"], "health_path": "h"}, "deploy.health_path", "should match"),
        ({"name": "shop", "command": ["x"], "env": {"PORT": "1"}}, "deploy", "set by the sandbox"),
        ({"name": "shop", "command": ["x"], "canary": {"steps": "10,x"}}, "deploy.canary", "steps: 'x'"),
        ({"name": "shop", "command": ["x"], "canary": {"interval": "soon"}}, "deploy.canary.interval",
         "not a duration"),
        ({"name": "shop", "command": ["x"], "canary": {"interval": "5s", "step_duration": "1s"}},
         "deploy.canary", "shorter than the 5s the analysis needs"),
        ("shop", "deploy", "valid dictionary"),
    ],
)
def test_a_bad_deploy_section_names_the_field(deploy: Any, field: str, message: str) -> None:
    plan, errors = check_plan(plan_with(deploy))
    assert plan is None
    assert [(e.task, e.field) for e in errors] == [("-", field)], errors
    assert message in errors[0].message, errors[0]


@pytest.mark.parametrize(
    ("phase", "verdict"),
    [
        (RolloutPhase.PROMOTED, OpsPhase.PROMOTED),
        (RolloutPhase.ABORTED, OpsPhase.ROLLED_BACK),
        (RolloutPhase.FAILED, OpsPhase.FAILED),
    ],
)
def test_rollout_verdict(phase: RolloutPhase, verdict: OpsPhase) -> None:
    assert rollout_verdict(phase) == verdict


@pytest.mark.parametrize(
    ("base", "phase", "status"),
    [
        (PipelineStatus.SUCCEEDED, None, PipelineStatus.SUCCEEDED),
        (PipelineStatus.SUCCEEDED, OpsPhase.RELEASING, PipelineStatus.RUNNING),
        (PipelineStatus.SUCCEEDED, OpsPhase.ROLLING_OUT, PipelineStatus.RUNNING),
        (PipelineStatus.SUCCEEDED, OpsPhase.DEPLOYING, PipelineStatus.RUNNING),
        (PipelineStatus.SUCCEEDED, OpsPhase.PROMOTED, PipelineStatus.SUCCEEDED),
        (PipelineStatus.SUCCEEDED, OpsPhase.DEPLOYED, PipelineStatus.SUCCEEDED),
        (PipelineStatus.SUCCEEDED, OpsPhase.ROLLED_BACK, PipelineStatus.FAILED),
        (PipelineStatus.SUCCEEDED, OpsPhase.FAILED, PipelineStatus.FAILED),
        (PipelineStatus.CANCELLED, OpsPhase.PROMOTED, PipelineStatus.CANCELLED),
        (PipelineStatus.FAILED, OpsPhase.PROMOTED, PipelineStatus.FAILED),
    ],
)
def test_ops_status(base: PipelineStatus, phase: OpsPhase | None, status: PipelineStatus) -> None:
    ops = None if phase is None else OpsState(deployment="shop", version="r1", phase=phase)
    assert ops_status(base, ops) == status


def test_ops_reason_only_when_the_release_is_not_live() -> None:
    ops = OpsState(deployment="shop", version="r1", phase=OpsPhase.ROLLED_BACK, outcome="error rate 60%")
    assert ops_reason(ops) == "Ops: the canary of shop r1 was rolled back: error rate 60%"
    assert ops_reason(ops.model_copy(update={"phase": OpsPhase.PROMOTED})) == ""


def test_the_cli_refuses_a_bad_deploy_or_agent_with_exit_2(tmp_path: Path) -> None:
    bad_deploy = write_plan(tmp_path / "d", "p", [task("a", ["a.py"])],
                            deploy={"name": "shop", "command": ["x"], "canary": {"steps": "10,x"}})
    done = coderunner("pipeline", "analyze", str(bad_deploy))
    assert done.returncode == 2, done
    assert "plan: deploy.canary: steps: 'x' at step 2 is not a whole percentage" in done.stderr
    bad_agent = write_plan(tmp_path / "a", "p", [{**task("a", ["a.py"]), "agent": {"kind": "nope"}}])
    done = coderunner("pipeline", "analyze", str(bad_agent))
    assert done.returncode == 2, done
    assert "task a: agent.kind: no agent 'nope' is installed (installed: command, openai-chat" in done.stderr


@pytest.mark.parametrize(
    ("released_at", "in_use", "keep", "pruned"),
    [
        ({}, set(), 5, []),
        ({"r1": 1, "r2": 2, "r3": 3}, set(), 5, []),  # fewer than keep: nothing goes
        ({f"r{i}": i for i in range(1, 8)}, set(), 5, ["r1", "r2"]),  # the two oldest of seven
        ({f"r{i}": i for i in range(1, 8)}, {"r1"}, 5, ["r2"]),  # r1 still runs: it stays
        ({f"r{i}": i for i in range(1, 8)}, {"r7"}, 1, ["r1", "r2", "r3", "r4", "r5", "r6"]),
        ({"b": 1, "a": 1, "c": 2}, set(), 1, ["a", "b"]),  # ties: ordered by name, never lost
    ],
)
def test_releases_to_prune_keeps_the_newest_and_those_in_use(
    released_at: dict[str, float], in_use: set[str], keep: int, pruned: list[str]
) -> None:
    assert releases_to_prune(released_at, in_use, keep) == pruned


def test_the_summary_says_the_verdict_once() -> None:
    promoted = OpsState(phase=OpsPhase.PROMOTED, deployment="web", version="v2", kind="rollout",
                        from_version="v1", outcome="promoted: web now runs v2")
    assert ops_summary(promoted) == "Ops: web v2 (canary rollout v1 → v2) promoted: web now runs v2"
    failed = OpsState(phase=OpsPhase.FAILED, deployment="web", version="v2", kind="new", outcome="no port")
    assert ops_summary(failed) == "Ops: web v2 (new deployment) failed: no port"
