"""Record AutoscalerWorkflow histories for the replay test: `python -m tests.record_autoscaler_histories`.

One history per path: a scaling decision, an override with a TTL, a budget alert, pause/resume, and a
run that ends in continue-as-new (the first run's history, which ends with the continue-as-new event).
Re-record only when a change is *meant* to be incompatible, and then guard running workflows with
`workflow.patched`. `--tag=patched` writes `autoscaler_<path>_patched.json` instead: the same paths
recorded by code with the patches, so both sides of every `workflow.patched` replay.
`--prefix autoscaler_resources_` writes `autoscaler_resources_<path>.json`: recorded once resource
pricing came (patch `autoscaler-spend-by-resources`), the budget path's instance declaring 0.5 CPU
at 7200 per vCPU-hour, so its spend follows the declared resources. Recorded without the payload
codec so the files replay anywhere.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHandle

from coderunner.models.autoscaler import BudgetSettings
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.models.sandbox import Resources
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from starter.tools.harness import DEMO_APP, HostProcess
from tests.autoscaler_helpers import rps_policy
from tests.recording import local_stack

OUT = Path(__file__).parent / "histories"
TAG = next((a.removeprefix("--tag=") for a in sys.argv[1:] if a.startswith("--tag=")), "")
PREFIX = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv[1:] else "autoscaler_"
TIMINGS = DeploymentTimings(sweep_interval_s=1.0, health_deadline_s=20, drain_s=0.1, stop_grace_s=2.0)
CAN_AFTER = 120  # events: the continue-as-new path runs into it within seconds, the others stay below


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.2)


async def _decisions(auto: Autoscaling, name: str) -> int:
    return len((await auto.status(name)).decisions)


async def _write(handle: WorkflowHandle, file: str) -> None:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    file = PREFIX + file.removeprefix("autoscaler_")
    if TAG:
        file = file.replace(".json", f"_{TAG}.json")
    (OUT / file).write_text(history.to_json())
    print(f"wrote {file} ({len(history.events)} events)")


async def _finish(cr: CodeRunner, auto: Autoscaling, name: str, file: str) -> None:
    handle = auto.handle(name)
    run_id = (await handle.describe()).run_id
    await auto.disable(name, reason="record")
    await cr.client.get_workflow_handle(handle.id, run_id=run_id).result()
    await _write(cr.client.get_workflow_handle(handle.id, run_id=run_id), file)
    await cr.delete(name, reason="record")


async def decision(cr: CodeRunner, auto: Autoscaling) -> None:
    """min_replicas 2 over a deployment of 1: the first sync scales up through the deployment."""
    name = "rec-decision"
    await auto.enable(name, rps_policy(min_r=2, max_r=3))
    await _until(lambda: _applied(auto, name), 60, "a scale decision")
    await _finish(cr, auto, name, "autoscaler_decision.json")


async def _applied(auto: Autoscaling, name: str) -> bool:
    return any(d.applied is not None for d in (await auto.status(name)).decisions)


async def override(cr: CodeRunner, auto: Autoscaling) -> None:
    name = "rec-override"
    await auto.enable(name, rps_policy())
    await auto.override(name, 2, reason="record", ttl_s=2)
    await _until(lambda: _no_override(auto, name), 30, "override expiry")
    await _until(lambda: _replicas(cr, name, 1), 30, "back to 1 after the override")
    await _finish(cr, auto, name, "autoscaler_override.json")


async def _no_override(auto: Autoscaling, name: str) -> bool:
    return (await auto.status(name)).override is None


async def _replicas(cr: CodeRunner, name: str, n: int) -> bool:
    return (await cr.describe(name)).spec.replicas == n


async def budget(cr: CodeRunner, auto: Autoscaling) -> None:
    """One instance-second costs 1 (0.5 declared vCPU at 7200 per vCPU-hour, memory free): the second
    sync crosses 75, 90 and 100 % of a budget of 1."""
    name = "rec-budget"
    policy = rps_policy(vcpu_hour_price=7200.0, gib_hour_price=0.0)
    await auto.enable(name, policy, budget=BudgetSettings(monthly=1.0))
    await _until(lambda: _level(auto, name), 30, "budget alert")
    await _finish(cr, auto, name, "autoscaler_budget.json")


async def _level(auto: Autoscaling, name: str) -> bool:
    return (await auto.status(name)).spend.level >= 100


async def pause_resume(cr: CodeRunner, auto: Autoscaling) -> None:
    name = "rec-pause"
    await auto.enable(name, rps_policy())
    await _until(lambda: _count(auto, name, 1), 30, "first decision")
    await auto.pause(name, reason="record")
    await asyncio.sleep(2.5)  # syncs while paused: no decision
    await auto.resume(name, reason="record")
    seen = await _decisions(auto, name)
    await _until(lambda: _count(auto, name, seen + 1), 30, "a decision after resume")
    await _finish(cr, auto, name, "autoscaler_pause_resume.json")


async def _count(auto: Autoscaling, name: str, n: int) -> bool:
    return await _decisions(auto, name) >= n


async def continue_as_new(cr: CodeRunner, auto: Autoscaling) -> None:
    name = "rec-can"
    await auto.enable(name, rps_policy())
    handle = auto.handle(name)
    first = (await handle.describe()).run_id

    async def moved() -> bool:
        return (await handle.describe()).run_id != first

    await _until(moved, 90, "continue-as-new")
    await _write(cr.client.get_workflow_handle(handle.id, run_id=first), "autoscaler_continue_as_new.json")
    await auto.disable(name, reason="record")
    await handle.result()
    await cr.delete(name, reason="record")


async def record() -> None:
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    try:
        async with local_stack(home, host, "record", can_after=CAN_AFTER) as cr:
            auto = Autoscaling(cr)
            paths = [decision, override, budget, pause_resume, continue_as_new]
            names = ["rec-decision", "rec-override", "rec-budget", "rec-pause", "rec-can"]
            for n in names:
                declared = Resources(cpu=0.5) if n == "rec-budget" else Resources()
                await cr.deploy(
                    DeploymentSpec(name=n, command=["python", str(DEMO_APP)], replicas=1, resources=declared),
                    TIMINGS,
                )
            for n in names:
                await cr.wait_settled(n, timeout_s=60)
            await asyncio.gather(*(path(cr, auto) for path in paths))
    finally:
        host.cleanup()


if __name__ == "__main__":
    asyncio.run(record())
