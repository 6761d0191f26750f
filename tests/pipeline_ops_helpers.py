"""A plan whose result is an app: the demo app in the project, one task that builds, a `deploy`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from coderunner.models.deployment import DeploymentDescription
from coderunner.models.pipeline_ops import OpsPhase
from starter.sdk import CodeRunner
from starter.sdk.pipelines import Pipelines
from starter.tools.harness import DEMO_APP
from tests.polling import until

FAST_CANARY = {"steps": "50,100", "step_duration": "3s", "interval": "1s", "min_requests": 10}


def app_plan(root: Path, name: str, deployment: str, **deploy: Any) -> Path:
    """A project holding the demo app (app.py); task `build` writes build.txt and QA checks it."""
    project = root / "project"
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEMO_APP, project / "app.py")
    (project / "build.txt").write_text("initial\n")
    plan = {
        "name": name,
        "project": "project",
        "pool": {"min": 1, "max": 2},
        "tasks": [
            {
                "id": "build",
                "owns": ["build.txt"],
                "agent": {
                    "dev": ["sh", "-c", "echo built > build.txt"],
                    "qa": ["grep", "-q", "built", "build.txt"],
                },
                "estimate": 1,
            }
        ],
        "deploy": {
            "name": deployment,
            "command": ["python", "app.py"],
            "canary": FAST_CANARY,
            **deploy,
        },
    }
    path = root / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return path


def pipelines(cr: CodeRunner, root: Path) -> Pipelines:
    return Pipelines(cr.client, cr.settings.model_copy(update={"home": root / "home"}))


def router_url(desc: DeploymentDescription) -> str:
    assert desc.router_url, desc
    return desc.router_url


async def cancel_while_deploying(pipes: Pipelines, workflow_id: str, reason: str) -> None:
    """Cancel the run once its Ops stage is starting a new deployment (not yet running)."""
    await until(
        lambda: pipes.describe(workflow_id),
        lambda d: d.ops is not None and d.ops.phase == OpsPhase.DEPLOYING,
        "the new deployment starting",
        120,
    )
    await pipes.cancel(workflow_id, reason)
