"""Shared pieces of the rollout tests: a deployed v1, a fast strategy, background HTTP load."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from models.deployment import DeploymentDescription, DeploymentStatus
from models.rollout import AnalysisSettings, RolloutStrategy
from models.rollout_api import RolloutStatus
from models.sandbox import BackendStats
from starter.sdk import CodeRunner
from tests.sandbox_fixtures import REPO, HostProcess
from tests.test_deployment_workflow import deployed, spec

INTERVAL_S = 1.0
RPS = 150.0


def fast_strategy(steps: str = "10,25,50,75,100", step_duration: str = "1s",
                  **analysis: Any) -> RolloutStrategy:
    knobs: dict[str, Any] = {"min_requests": 10, "failure_limit": 2, "inconclusive_limit": 4, **analysis}
    settings = AnalysisSettings(**knobs)
    return RolloutStrategy.from_shorthand(steps, step_duration, INTERVAL_S, settings)


async def deployed_v1(cr: CodeRunner, name: str, replicas: int = 2) -> DeploymentDescription:
    return await deployed(cr, spec(name, replicas))


@contextlib.asynccontextmanager
async def load(url: str, rps: float = RPS) -> AsyncIterator[collections.Counter[str]]:
    """Open-loop GETs at `rps` (tests/load_process.py) until the block ends; then counts by status."""
    counts: collections.Counter[str] = collections.Counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.load_process", url, str(rps),
                                                cwd=REPO, stdout=asyncio.subprocess.PIPE)
    try:
        yield counts
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await proc.communicate()
        counts.update(json.loads(out or b"{}"))


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


async def settled(cr: CodeRunner, name: str, timeout_s: float = 30.0) -> DeploymentDescription:
    """Wait until the deployment has cleared its rollout and runs again."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        desc = await cr.describe(name)
        if desc.rollout is None and desc.status == DeploymentStatus.RUNNING:
            return desc
        assert asyncio.get_running_loop().time() < deadline, (desc.status, desc.rollout)
        await asyncio.sleep(0.1)
