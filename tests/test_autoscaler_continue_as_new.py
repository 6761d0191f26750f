"""What the autoscaler accepted while it waited for running handlers before continue-as-new survives.

A Temporal dev server of its own with a tiny history threshold (10 events), so every sync ends in
continue-as-new, and a real worker, sandbox host and deployment. The autoscaler's `request_scale`
activity is held by the test (a fault injected under the activity's own name): while an override's
sync sits in it, the loop has already decided to continue as new and waits for that handler — the
window in which a `disable` used to be lost (and a signal's audit event, unless the handler wrote it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio import activity
from temporalio.client import WorkflowHandle, WorkflowUpdateStage

from coderunner.models.autoscaler import OverrideRequest, ScaleCall, ScaleCallResult
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from starter.tools.harness import HostProcess
from tests.autoscaler_helpers import rps_policy, until
from tests.recording import local_stack
from tests.test_deployment_workflow import deployed, spec
from workflows.autoscaler import AutoscalerWorkflow

QUEUE = "autoscaler-can"


class HeldScale:
    """`autoscale_request_scale` that waits for the test; it answers as if the deployment scaled."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Event] = []
        self.hold = True

    @activity.defn(name="autoscale_request_scale")
    async def request_scale(self, call: ScaleCall) -> ScaleCallResult:
        gate = asyncio.Event()
        if not self.hold:
            gate.set()
        self.waiting.append(gate)
        await gate.wait()
        return ScaleCallResult(replicas=call.replicas, message="answered by the test")

    def held(self) -> int:
        return sum(not g.is_set() for g in self.waiting)

    def release_one(self) -> None:
        next(g for g in self.waiting if not g.is_set()).set()

    def release_all(self) -> None:
        self.hold = False
        for g in self.waiting:
            g.set()


@pytest_asyncio.fixture
async def tiny(home: Path, sandbox_host: HostProcess) -> AsyncIterator[tuple[CodeRunner, HeldScale]]:
    held = HeldScale()
    async with local_stack(home, sandbox_host, QUEUE, can_after=10, swap=[held.request_scale]) as cr:
        yield cr, held
        held.release_all()


async def _into_continue_as_new_wait(handle: WorkflowHandle, held: HeldScale) -> None:  # type: ignore[type-arg]
    """With the loop's sync held in request_scale, queue an override behind the lock and let the loop
    go: it continues as new only after the override, whose own sync now sits in request_scale."""
    await until(lambda: _true(held.held() == 1), 30, "the loop's sync in request_scale")
    await handle.start_update(
        AutoscalerWorkflow.override,
        OverrideRequest(replicas=3, reason="test"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    calls = len(held.waiting)
    held.release_one()
    await until(lambda: _true(len(held.waiting) > calls and held.held() == 1), 30, "the override's sync held")


async def _true(value: bool) -> bool:
    return value


async def test_pause_and_disable_accepted_during_the_wait_are_kept(
    tiny: tuple[CodeRunner, HeldScale], store: Store, name: str
) -> None:
    cr, held = tiny
    auto = Autoscaling(cr)
    await deployed(cr, spec(name, 1))
    await auto.enable(name, rps_policy(min_r=2, max_r=4))  # the first sync asks for 2: held
    handle = auto.handle(name)
    try:
        first_run = (await handle.describe()).run_id
        await _into_continue_as_new_wait(handle, held)
        await auto.pause(name, reason="accepted in the wait")
        held.release_all()

        async def paused_recorded() -> bool:
            return "autoscale_paused" in {e.kind for e in store.list_events(name, 200)}

        await until(paused_recorded, 30, "the pause's audit event, written by a later run")
        st = await auto.status(name)
        assert st.paused and st.run >= 2 and (await handle.describe()).run_id != first_run

        held.hold = True
        await _into_continue_as_new_wait(handle, held)
        await auto.disable(name, reason="accepted in the wait")
        held.release_all()
        typed = cr.client.get_workflow_handle_for(AutoscalerWorkflow.run, handle.id)
        result = await asyncio.wait_for(typed.result(), 60)  # a lost disable would run on forever
        assert "ended" in result.detail
        kinds = [e.kind for e in store.list_events(name, 200)]
        assert kinds.count("autoscale_disabled") == 1, kinds
    finally:
        held.release_all()
        if await auto.is_on(name):
            await handle.terminate("test cleanup")
        await cr.delete(name)
