"""No accepted request lost or resurrected (issue 8, defects 1 and 2, the deployment's side).

Real dev server (continue-as-new suggested after CAN_AFTER events), real worker, real sandbox host.
The only thing bent is *when* a health sweep returns (tests/sweep_gate.py), so work can be queued
behind the deployment's lock at a chosen moment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentResult,
    DeploymentStatus,
    OperationRequest,
    ScaleRequest,
    workflow_id_for,
)
from coderunner.models.rollout import RolloutPhase
from coderunner.models.rollout_api import RolloutRequest
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.conftest import CAN_AFTER, FAST
from tests.rollout_helpers import fast_strategy
from tests.sweep_gate import SweepGate, gated_stack, purge, push_history_past
from tests.test_deployment_workflow import host_instances, spec
from workflows.deployment import DeploymentWorkflow
from workflows.rollout_host import rollout_id


@dataclass
class Gated:
    cr: CodeRunner
    gate: SweepGate
    desc: DeploymentDescription
    first_run: str | None


SLOW_START = "2"  # seconds each instance takes to listen: keeps a restart or a scale busy that long
MANUAL = fast_strategy("10,100", "300s", inconclusive_limit=10_000)
QUICK = FAST.model_copy(update={"sweep_interval_s": 0.3})


async def reaches(cr: CodeRunner, name: str, check: Any, timeout_s: float = 60) -> DeploymentDescription:
    """Poll `describe` until `check` holds; the deadline is only a timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check(desc := await cr.describe(name)):
        assert loop.time() < deadline, f"timed out; last: {desc.status} {desc.status_reason}"
        await asyncio.sleep(0.1)
    return desc


async def sent(client: Client, name: str, update: Any, arg: Any) -> Any:
    """Send an update; return once the workflow accepted it or refused it (the handle tells which)."""
    return await client.get_workflow_handle(workflow_id_for(name)).start_update(
        update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )


async def refused(handle: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.result()
    return str(caught.value.cause)


async def gone(host: HostProcess, cr: CodeRunner, name: str, router_url: str | None) -> None:
    """Deleted means: no instance on the host, no router, the workflow completed as deleted."""
    assert await host_instances(host, name) == []
    result = await cr.client.get_workflow_handle(workflow_id_for(name), result_type=DeploymentResult).result()
    assert result.status == DeploymentStatus.DELETED
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(router_url or "", timeout=2)


async def test_delete_refuses_work_queued_behind_a_restart(
    cr: CodeRunner, client: Client, sandbox_host: HostProcess, name: str
) -> None:
    await cr.deploy(spec(name, 1, STARTUP_DELAY_S=SLOW_START), FAST)
    desc = await reaches(cr, name, lambda d: d.status == DeploymentStatus.RUNNING)
    try:
        restart = await sent(client, name, DeploymentWorkflow.restart, OperationRequest(reason="busy"))
        await reaches(cr, name, lambda d: len(d.instances) == 2)  # the surge instance is starting
        scale = await sent(client, name, DeploymentWorkflow.scale, ScaleRequest(replicas=3))
        delete = await sent(client, name, DeploymentWorkflow.delete, OperationRequest(reason="gone"))
        again = await sent(client, name, DeploymentWorkflow.restart, OperationRequest())
        rollout = await sent(
            client, name, DeploymentWorkflow.rollout, RolloutRequest(version="v2", strategy=MANUAL)
        )
        assert (await delete.result()).status == DeploymentStatus.DELETED
        # the delete cancelled the surge instance's start: the restart stops (it waited for it before)
        assert "restart stopped: deployment" in await refused(restart)
        assert "was deleted while this request waited" in await refused(scale)  # queued before delete
        for late in (again, rollout):  # sent after it: refused on arrival today (queued before the fix)
            assert "deleted" in await refused(late)
        await gone(sandbox_host, cr, name, desc.router_url)
        with pytest.raises(Exception, match="not found"):
            await client.get_workflow_handle(rollout_id(name, "v2")).describe()
    finally:
        await purge(sandbox_host, name)


async def test_delete_does_not_wait_for_instances_still_starting(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    """Instances that take 60 s to listen (health deadline 120 s): the delete cancels their health
    wait instead of queueing behind it, and nothing is left (it waited the 60 s before the fix)."""
    await cr.deploy(spec(name, 2, STARTUP_DELAY_S="60"), FAST.model_copy(update={"health_deadline_s": 120}))
    try:
        await reaches(cr, name, lambda d: len(d.instances) == 2 and all(i.pid for i in d.instances))
        loop = asyncio.get_running_loop()
        asked = loop.time()
        assert (await cr.delete(name, reason="changed my mind")).status == DeploymentStatus.DELETED
        assert loop.time() - asked < 30, "the delete waited for the instances to start"
        assert await host_instances(sandbox_host, name) == []
        handle = cr.client.get_workflow_handle(workflow_id_for(name), result_type=DeploymentResult)
        assert (await handle.result()).status == DeploymentStatus.DELETED
        kinds = [e.kind for e in (await cr.describe(name)).events]
        assert "deployed" not in kinds and kinds[-1] == "deleted", kinds
    finally:
        await purge(sandbox_host, name)


@pytest_asyncio.fixture
async def gated(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> AsyncIterator[Gated]:
    """A running 1-instance deployment (slow-starting instances, 0.3 s sweeps) on a worker whose
    health sweeps pass a gate; whatever the test leaves on the host is removed."""
    async with gated_stack(home, temporal_env, sandbox_host, store, f"gate-{name}") as (cr, gate):
        await cr.deploy(spec(name, 1, STARTUP_DELAY_S=SLOW_START), QUICK)
        desc = await reaches(cr, name, lambda d: d.status == DeploymentStatus.RUNNING)
        try:
            yield Gated(cr, gate, desc, (await cr.handle(name).describe()).run_id)
        finally:
            await purge(sandbox_host, name)


async def test_delete_refuses_work_queued_behind_a_sweep(
    gated: Gated, sandbox_host: HostProcess, name: str
) -> None:
    cr, gate = gated.cr, gated.gate
    gate.close()
    await gate.held()
    scale = await sent(cr.client, name, DeploymentWorkflow.scale, ScaleRequest(replicas=2))
    delete = await sent(cr.client, name, DeploymentWorkflow.delete, OperationRequest(reason="gone"))
    late = await sent(cr.client, name, DeploymentWorkflow.scale, ScaleRequest(replicas=3))
    gate.open()
    assert (await delete.result()).status == DeploymentStatus.DELETED
    assert "was deleted while this request waited" in await refused(scale)
    assert "deleted" in await refused(late)
    await gone(sandbox_host, cr, name, gated.desc.router_url)


async def test_stop_sent_while_continue_as_new_waits_is_applied(
    gated: Gated, sandbox_host: HostProcess, name: str
) -> None:
    """The sweep that sees the continue-as-new suggestion waits for a running scale; a stop sent
    during that wait must still stop the deployment (it was dropped with the old run)."""
    cr = gated.cr
    scale = await _scale_in_continue_as_new_wait(cr, gated.gate, name)
    await cr.stop(name, reason="night")
    await scale.result()
    await reaches(cr, name, lambda d: d.status == DeploymentStatus.STOPPED and not d.instances)
    assert await host_instances(sandbox_host, name) == []
    await _until_run_changes(cr, name, gated.first_run)
    desc = await cr.describe(name)
    assert desc.status == DeploymentStatus.STOPPED, "the stop did not survive continue-as-new"
    assert await cr.delete(name)


async def test_rollout_accepted_while_continue_as_new_waits_survives_it(gated: Gated, name: str) -> None:
    """A rollout started in the last moments of a run outlives the run: the new run re-links it, the
    rollout is promoted, and the deployment accepts the next rollout command (undo)."""
    cr = gated.cr
    scale = await _scale_in_continue_as_new_wait(cr, gated.gate, name)
    started = await cr.rollouts.start(
        name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.2
    )
    await scale.result()
    await _until_run_changes(cr, name, gated.first_run)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10, timeout_s=60)
    await cr.rollouts.promote(name, full=True, reason="ship")
    assert (await cr.rollouts.wait(name, timeout_s=60)).phase == RolloutPhase.PROMOTED
    desc = await reaches(cr, name, lambda d: d.rollout is None)
    assert desc.spec.version == "v2" and desc.last_rollout is not None
    assert desc.last_rollout.workflow_id == started.workflow_id
    assert desc.last_rollout.phase == RolloutPhase.PROMOTED
    assert "v2 to v1" in (await cr.rollouts.undo(name, reason="back")).message
    await cr.delete(name)


async def _scale_in_continue_as_new_wait(cr: CodeRunner, gate: SweepGate, name: str) -> Any:
    """Hold a sweep, push the history past the suggestion, queue a slow scale behind the sweep and let
    the sweep finish: the run now waits for the scale before it continues as new."""
    gate.close()
    await gate.held()
    await push_history_past(cr.client, name, CAN_AFTER)
    scale = await sent(cr.client, name, DeploymentWorkflow.scale, ScaleRequest(replicas=2))
    gate.open()
    await reaches(cr, name, lambda d: len(d.instances) == 2)  # the scale runs (its instance starts)
    return scale


async def _until_run_changes(cr: CodeRunner, name: str, run_id: str | None, timeout_s: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (described := await cr.handle(name).describe()).run_id == run_id:
        assert described.status == WorkflowExecutionStatus.RUNNING, described.status
        assert loop.time() < deadline, "the deployment never continued as new"
        await asyncio.sleep(0.2)


async def test_undo_queued_behind_a_sweep_refused_by_delete(
    gated: Gated, sandbox_host: HostProcess, name: str
) -> None:
    """After a promoted rollout, an `undo` waiting behind a sweep when `delete` arrives is refused: the
    old version does not come back after the delete."""
    cr, gate = gated.cr, gated.gate
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.2)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10, timeout_s=60)
    await cr.rollouts.promote(name, full=True, reason="ship")
    assert (await cr.rollouts.wait(name, timeout_s=60)).phase == RolloutPhase.PROMOTED
    await reaches(cr, name, lambda d: d.rollout is None and d.previous_version == "v1")
    gate.close()
    await gate.held()
    undo = await sent(cr.client, name, DeploymentWorkflow.undo, OperationRequest(reason="back"))
    delete = await sent(cr.client, name, DeploymentWorkflow.delete, OperationRequest(reason="gone"))
    rollout = await sent(cr.client, name, DeploymentWorkflow.rollout, RolloutRequest(version="v3"))
    gate.open()
    assert (await delete.result()).status == DeploymentStatus.DELETED
    assert "was deleted while this request waited" in await refused(undo)
    assert "deleted" in await refused(rollout)
    await gone(sandbox_host, cr, name, gated.desc.router_url)
