"""Shared pieces of the rollout tests: a deployed v1, a fast strategy, background HTTP load."""

from __future__ import annotations

from typing import Any

from coderunner.models.deployment import DeploymentDescription
from coderunner.models.rollout import AnalysisSettings, RolloutStrategy
from coderunner.models.rollout_api import RolloutStatus
from coderunner.models.sandbox import BackendStats
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.test_deployment_workflow import deployed, spec

INTERVAL_S = 1.0


def fast_strategy(steps: str = "10,25,50,75,100", step_duration: str = "1s",
                  **analysis: Any) -> RolloutStrategy:
    knobs: dict[str, Any] = {"min_requests": 10, "failure_limit": 2, "inconclusive_limit": 4, **analysis}
    settings = AnalysisSettings(**knobs)
    return RolloutStrategy.from_shorthand(steps, step_duration, INTERVAL_S, settings)


async def deployed_v1(cr: CodeRunner, name: str, replicas: int = 2) -> DeploymentDescription:
    return await deployed(cr, spec(name, replicas))


async def until_status(cr: CodeRunner, name: str, check: Any, timeout_s: float = 60.0) -> RolloutStatus:
    return await cr.rollouts.wait(name, check, timeout_s)


async def router_stats(host: HostProcess, name: str, window_s: float) -> list[BackendStats]:
    async with host.client() as client:
        return (await client.get_router(name, window_s=window_s)).stats


async def router_weights(host: HostProcess, name: str) -> dict[str, int]:
    async with host.client() as client:
        return {b.instance_id: b.weight for b in (await client.get_router(name)).backends}


def event_kinds(desc: DeploymentDescription) -> list[str]:
    return [e.kind for e in desc.events]
