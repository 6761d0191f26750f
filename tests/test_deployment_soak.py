"""A paused rollout lives through several continue-as-new cycles of its deployment (issue 8, defect 3).

The deployment sweeps every 0.2 s and the dev server suggests continue-as-new after CAN_AFTER events,
so a run lasts seconds: the rollout (parked at 10 % by a person's pause) must survive each new run
with nothing lost — phase, weight, canary instances, the router's split, the deployment's link and
events — and then finish correctly either way. Every finished run's history stays bounded.
"""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus

from coderunner.models.deployment import DeploymentDescription, DeploymentStatus, workflow_id_for
from coderunner.models.rollout import RolloutPhase
from coderunner.models.rollout_api import RolloutStatus
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess, settled
from tests.conftest import CAN_AFTER, FAST
from tests.rollout_helpers import event_kinds, fast_strategy, router_weights
from tests.test_deployment_workflow import host_instances, spec

SOAK = FAST.model_copy(update={"sweep_interval_s": 0.2})
MANUAL = fast_strategy("10,50,100", "300s", inconclusive_limit=10_000)
BOUND = 2 * CAN_AFTER  # a run's history: the suggestion point plus at most one sweep and its wait


async def paused_through_continue_as_new(
    cr: CodeRunner, host: HostProcess, name: str, cycles: int
) -> tuple[RolloutStatus, DeploymentDescription]:
    """Deploy v1, roll out v2 to 10 %, pause; wait for `cycles` new runs; check nothing changed."""
    await cr.deploy(spec(name, 2), SOAK)
    await settled(cr, name)
    await cr.rollouts.start(
        name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.2, abort_cleanup_s=0.2
    )
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10 and s.phase == RolloutPhase.PROGRESSING)
    await cr.rollouts.pause(name, reason="soak: waiting for a human")
    before = await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
    desc_before = await until_link_paused(cr, name)
    weights = await router_weights(host, name)

    runs = await new_runs(cr, name, cycles)

    after = await cr.rollouts.status(name)
    assert after.phase == RolloutPhase.PAUSED and after.paused_reason == before.paused_reason
    assert (after.step, after.canary_weight, after.canary_instances) == (
        before.step,
        10,
        before.canary_instances,
    )
    desc = await cr.describe(name)
    assert desc.rollout == desc_before.rollout, "the deployment lost its rollout link"
    assert [(i.instance_id, i.healthy) for i in desc.instances] == [
        (i.instance_id, i.healthy) for i in desc_before.instances
    ]
    assert desc.replacements == 0 and desc.status == desc_before.status
    assert event_kinds(desc) == event_kinds(desc_before), "events lost across continue-as-new"
    assert await router_weights(host, name) == weights, "the traffic split changed"
    for run_id in runs[:-1]:
        length = (
            await cr.client.get_workflow_handle(workflow_id_for(name), run_id=run_id).describe()
        ).history_length
        assert length <= BOUND, f"run {run_id} grew to {length} events"
    return before, desc


async def until_link_paused(cr: CodeRunner, name: str, timeout_s: float = 30) -> DeploymentDescription:
    """The deployment mirrors the rollout's phase from its next command (the pause event)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (desc := await cr.describe(name)).rollout is None or desc.rollout.phase != RolloutPhase.PAUSED:
        assert loop.time() < deadline, f"deployment never saw the pause: {desc.rollout}"
        await asyncio.sleep(0.1)
    return desc


async def new_runs(cr: CodeRunner, name: str, cycles: int, timeout_s: float = 180) -> list[str]:
    """Poll the deployment's current run until it continued as new `cycles` times; the run ids seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    runs: list[str] = []
    while len(runs) <= cycles:
        run_id = (await cr.handle(name).describe()).run_id or ""
        if not runs or runs[-1] != run_id:
            runs.append(run_id)
        assert loop.time() < deadline, f"only {len(runs) - 1} continue-as-new in {timeout_s:g}s"
        await asyncio.sleep(0.1)
    return runs


async def test_paused_rollout_survives_continue_as_new_then_resumes_and_promotes(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    before, _ = await paused_through_continue_as_new(cr, sandbox_host, name, cycles=3)
    await cr.rollouts.resume(name, reason="looks fine")
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PROGRESSING)
    await cr.rollouts.promote(name, full=True, reason="ship")
    assert (await cr.rollouts.wait(name, timeout_s=60)).phase == RolloutPhase.PROMOTED
    desc = await settled(cr, name)
    while desc.rollout is not None:  # the end reaches the deployment through the re-linked watch
        await asyncio.sleep(0.1)
        desc = await cr.describe(name)
    assert desc.spec.version == "v2" and desc.status == DeploymentStatus.RUNNING
    assert desc.last_rollout and desc.last_rollout.workflow_id == before.workflow_id
    assert desc.last_rollout.phase == RolloutPhase.PROMOTED
    await wait_host(sandbox_host, name, lambda ids: len(ids) == 2 and all("-v2-" in i for i in ids))
    await cr.delete(name)


async def test_paused_rollout_survives_continue_as_new_then_aborts(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    before, _ = await paused_through_continue_as_new(cr, sandbox_host, name, cycles=2)
    await cr.rollouts.abort(name, reason="soak over")
    assert (await cr.rollouts.wait(name, timeout_s=60)).phase == RolloutPhase.ABORTED
    desc = await cr.describe(name)
    while desc.rollout is not None:
        await asyncio.sleep(0.1)
        desc = await cr.describe(name)
    assert desc.spec.version == "v1" and desc.last_rollout is not None
    assert desc.last_rollout.phase == RolloutPhase.ABORTED
    assert desc.last_rollout.workflow_id == before.workflow_id
    await wait_host(sandbox_host, name, lambda ids: len(ids) == 2 and all("-v1-" in i for i in ids))
    assert set(await router_weights(sandbox_host, name)) == {i.instance_id for i in desc.instances}
    third = await cr.rollouts.start(name, "v3", env={"VERSION": "v3"}, strategy=MANUAL)  # accepted again
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    await cr.delete(name)  # cancels the running rollout with the deployment
    assert await host_instances(sandbox_host, name) == []
    handle = cr.client.get_workflow_handle(third.workflow_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (status := (await handle.describe()).status) == WorkflowExecutionStatus.RUNNING:
        assert loop.time() < deadline, "the rollout outlived its deleted deployment"
        await asyncio.sleep(0.1)
    assert status == WorkflowExecutionStatus.CANCELED


async def wait_host(host: HostProcess, name: str, check, timeout_s: float = 30) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check(ids := await host_instances(host, name)):
        assert loop.time() < deadline, f"host runs {ids}"
        await asyncio.sleep(0.1)
