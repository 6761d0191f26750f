"""A health sweep the test holds open: the deployment keeps its lock while work queues behind it.

The real `check_instances` activity runs once the gate opens; only *when* it returns changes, so the
workflow under test is the real one. A worker on the test's own task queue carries the gate, so the
session worker's deployments are untouched. Also: pushing a deployment's history past the server's
continue-as-new suggestion with no-op signals, and removing what a (buggy) run left on the host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from activities.sandbox import SandboxActivities
from coderunner.hosts.provider import SandboxError
from coderunner.models.activity_io import CheckReport, CheckRequest
from coderunner.models.deployment import workflow_id_for
from coderunner.models.rollout_api import CommandKind, RolloutCommand
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.conftest import settings_for
from workflows.deployment import DeploymentWorkflow
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS


class SweepGate:
    def __init__(self, real: SandboxActivities) -> None:
        self.real = real
        self.opened = asyncio.Event()
        self.opened.set()
        self.entered = asyncio.Event()

    def close(self) -> None:
        """The next sweep stops inside its activity (holding the deployment's lock) until `open`."""
        self.entered.clear()
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    async def held(self, timeout_s: float = 30.0) -> None:
        """Return once a sweep is held at the gate."""
        await asyncio.wait_for(self.entered.wait(), timeout_s)

    @activity.defn(name="check_instances")
    async def check_instances(self, req: CheckRequest) -> CheckReport:
        if not self.opened.is_set():
            self.entered.set()
            await self.opened.wait()
        return await self.real.check_instances(req)


@asynccontextmanager
async def gated_stack(
    home: Path, env: WorkflowEnvironment, host: HostProcess, store: Store, queue: str
) -> AsyncIterator[tuple[CodeRunner, SweepGate]]:
    """A worker on `queue` whose health sweeps pass the gate; a CodeRunner that deploys onto it."""
    provider = host.client()
    gate = SweepGate(SandboxActivities(provider))
    acts = [a for a in activities(provider, store) if getattr(a, "__name__", "") != "check_instances"]
    try:
        async with Worker(
            env.client, task_queue=queue, workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
            activities=[*acts, gate.check_instances]
        ):
            yield CodeRunner(env.client, settings_for(home, env, host, queue)), gate
    finally:
        gate.open()
        await provider.aclose()


async def push_history_past(client: Client, name: str, events: int) -> int:
    """No-op signals (an event for a rollout that is not this deployment's) until the history holds
    more than `events` events, so the next workflow task carries the continue-as-new suggestion."""
    handle = client.get_workflow_handle(workflow_id_for(name))
    noop = RolloutCommand(seq=0, rollout_id="rollout/none/x", kind=CommandKind.EVENT, event_kind="noop")
    while (length := (await handle.describe()).history_length) <= events:
        await asyncio.gather(
            *(
                handle.signal(DeploymentWorkflow.rollout_command, noop)
                for _ in range(max(1, (events - length) // 4 + 1))
            )
        )
    return length


async def purge(host: HostProcess, name: str) -> None:
    """Destroy whatever the host still runs for `name` (what a buggy run would orphan)."""
    async with host.client() as client:
        for info in await client.list_instances(name):
            await client.destroy_instance(info.instance_id)
        try:
            await client.delete_router(name)
        except SandboxError:
            pass
