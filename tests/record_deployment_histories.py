"""Record DeploymentWorkflow histories for the replay test: `python -m tests.record_deployment_histories`.

One file per path through the workflow (tests/histories/deployment_*.json): every operation, a
continue-as-new (the run that continued and the run that carried on), and rollouts from the
deployment's side (promoted then undone, aborted by a person) — recorded with the code as it was
before issue 8, they prove its changes replay (`workflow.patched`) — and the paths issue 8 added
(a rollout across continue-as-new, a request refused behind a delete). Re-record only when a change is
*meant* to be incompatible. Recorded without the payload codec so the files replay anywhere.

`python -m tests.record_deployment_histories ops rollout_aborted` records only the named ones.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage

from coderunner.models.deployment import (
    DeploymentSpec,
    DeploymentTimings,
    OperationRequest,
    ScaleRequest,
    workflow_id_for,
)
from coderunner.models.rollout import FINISHED_PHASES, RolloutPhase
from starter.sdk import CodeRunner
from starter.tools.harness import DEMO_APP
from tests.recording import recording_stack
from tests.rollout_helpers import fast_strategy
from workflows.deployment import DeploymentWorkflow

HISTORIES = Path(__file__).parent / "histories"
CALM = DeploymentTimings(sweep_interval_s=2.0, health_deadline_s=20, drain_s=0.1, stop_grace_s=2)
HURRIED = CALM.model_copy(update={"sweep_interval_s": 0.05})  # reaches CAN_AFTER within seconds
# long steps, analysis never pauses: only the recorder moves the rollout
MANUAL = fast_strategy("50,100", "300s", inconclusive_limit=10_000)

# `..._waits.json` was recorded with the code before `deployment-delete-interrupts` (the delete waited
# for the instance to start); this name, with the code after it (the delete cancels the wait)
DELETE_WHILE_PROVISIONING = "deployment_delete_while_provisioning_interrupts"

Scenario = Callable[[CodeRunner, str], Awaitable[dict[str, str | None]]]


def demo_spec(name: str) -> DeploymentSpec:
    return DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=2, env={"VERSION": "v1"})


async def deployed(cr: CodeRunner, name: str, timings: DeploymentTimings = CALM) -> None:
    await cr.deploy(demo_spec(name), timings)
    await cr.wait_settled(name)


async def ops(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """deploy → scale → restart → stop → start → delete."""
    await deployed(cr, name)
    await cr.scale(name, 3, reason="record")
    await cr.restart(name, reason="record")
    await cr.stop(name, reason="record")
    await until(lambda: cr.describe(name), lambda d: d.status.value == "stopped")
    await cr.start(name, reason="record")
    await cr.wait_settled(name)
    await until(lambda: cr.describe(name), lambda d: d.status.value == "running")
    await cr.delete(name, reason="record")
    return {"deployment_ops": None}


async def continue_as_new(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """Sweeps until the server suggests continue-as-new; then a scale and a delete in the new run."""
    await deployed(cr, name, HURRIED)
    first = (await cr.handle(name).describe()).run_id
    await until(lambda: cr.handle(name).describe(), lambda d: d.run_id != first, timeout_s=120)
    await cr.wait_settled(name)
    await cr.scale(name, 1, reason="record")
    second = (await cr.handle(name).describe()).run_id
    await cr.delete(name, reason="record")
    return {"deployment_continue_as_new": first, "deployment_continued_run": second}


async def rollout_promoted_undone(cr: CodeRunner, name: str) -> dict[str, str | None]:
    await deployed(cr, name)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.5)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 50 and s.phase == RolloutPhase.PROGRESSING)
    await cr.rollouts.promote(name, full=True, reason="record")
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.PROMOTED, status
    await until(lambda: cr.describe(name), lambda d: d.rollout is None)
    await cr.rollouts.undo(name, reason="record")
    await cr.delete(name, reason="record")
    return {"deployment_rollout_promoted_undone": None}


async def rollout_aborted(cr: CodeRunner, name: str) -> dict[str, str | None]:
    await deployed(cr, name)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, abort_cleanup_s=0.2)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 50)
    await cr.rollouts.abort(name, reason="record")
    status = await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES)
    assert status.phase == RolloutPhase.ABORTED, status
    await until(lambda: cr.describe(name), lambda d: d.rollout is None)
    await cr.delete(name, reason="record")
    return {"deployment_rollout_aborted": None}


async def rollout_aborted_child_task_timeout(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """`rollout_aborted` again, recorded after `rollout-child-task-timeout` (the child's 3 s task timeout)."""
    await rollout_aborted(cr, name)
    return {"deployment_rollout_aborted_child_task_timeout": None}


async def rollout_across_continue_as_new(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """(issue 8 code) A paused rollout outlives its deployment's run; the last run sees it promoted."""
    await deployed(cr, name, HURRIED)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.2)
    first = (await cr.handle(name).describe()).run_id
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 50)
    await cr.rollouts.pause(name, reason="record")
    await until(lambda: cr.handle(name).describe(), lambda d: d.run_id != first, timeout_s=120)
    await cr.rollouts.resume(name, reason="record")
    await cr.rollouts.promote(name, full=True, reason="record")
    await until(lambda: cr.describe(name), lambda d: d.rollout is None and d.spec.version == "v2")
    last = (await cr.handle(name).describe()).run_id
    await cr.delete(name, reason="record")
    return {"deployment_rollout_continued_first_run": first, "deployment_rollout_continued_last_run": last}


async def delete_refuses_queued(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """(issue 8 code) A scale queued behind a restart, then a delete: the scale is refused at its turn."""
    await cr.deploy(demo_spec(name).model_copy(update={"env": {"STARTUP_DELAY_S": "1"}}), CALM)
    await cr.wait_settled(name)
    handle = cr.handle(name)
    restart = await handle.start_update(
        DeploymentWorkflow.restart, OperationRequest(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await until(lambda: cr.describe(name), lambda d: len(d.instances) == 3)
    scale = await handle.start_update(
        DeploymentWorkflow.scale, ScaleRequest(replicas=3), wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    delete = await handle.start_update(
        DeploymentWorkflow.delete, OperationRequest(), wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    await restart.result()
    await delete.result()
    try:
        await scale.result()
    except WorkflowUpdateFailedError:
        pass
    else:
        raise AssertionError("the scale queued behind delete ran")
    return {"deployment_delete_refuses_queued": None}


async def delete_while_provisioning(cr: CodeRunner, name: str) -> dict[str, str | None]:
    """A delete while the first instance still starts (slow to listen, health deadline far off)."""
    slow = demo_spec(name).model_copy(update={"replicas": 1, "env": {"STARTUP_DELAY_S": "15"}})
    await cr.deploy(slow, CALM.model_copy(update={"health_deadline_s": 60}))
    await until(lambda: cr.describe(name), lambda d: bool(d.instances) and d.instances[0].pid is not None)
    await cr.delete(name, reason="record")
    return {DELETE_WHILE_PROVISIONING: None}


SCENARIOS: dict[str, Scenario] = {
    "ops": ops,
    "continue_as_new": continue_as_new,
    "rollout_promoted_undone": rollout_promoted_undone,
    "rollout_aborted": rollout_aborted,
    "rollout_across_continue_as_new": rollout_across_continue_as_new,
    "delete_refuses_queued": delete_refuses_queued,
    "delete_while_provisioning": delete_while_provisioning,
    "rollout_aborted_child_task_timeout": rollout_aborted_child_task_timeout,
}


async def until(
    read: Callable[[], Awaitable[object]], check: Callable[..., bool], timeout_s: float = 60
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check(await read()):
        if loop.time() > deadline:
            raise TimeoutError("recording scenario did not reach its state in time")
        await asyncio.sleep(0.2)


async def save(client: Client, name: str, files: dict[str, str | None]) -> None:
    """Each file is one run of `deployment/<name>` (None: the latest); the run must have ended."""
    for stem, run_id in files.items():
        handle = client.get_workflow_handle(workflow_id_for(name), run_id=run_id)
        if run_id is None:
            await handle.result()
        history = await handle.fetch_history()
        path = HISTORIES / f"{stem}.json"
        path.write_text(history.to_json())
        print(f"wrote {path} ({len(history.events)} events)")


async def record(names: list[str]) -> None:
    async with recording_stack() as (client, cr):
        for scenario in names:
            name = f"rec-{scenario.replace('_', '-')}"
            await save(client, name, await SCENARIOS[scenario](cr, name))


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:] or list(SCENARIOS)))
