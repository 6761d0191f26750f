"""The README's promises about a running deployment, each shown by what happened, not by its end state.

- scale-down removes the newest instances: out of the router, then the drain pause, then destroyed
  (read from the workflow's own history), under real load with no failed request;
- a rolling restart never has fewer healthy instances in the router than replicas (sampled throughout);
- a live but unhealthy instance (frozen with SIGSTOP) makes the deployment `degraded`, is kept through
  fewer than `unhealthy_threshold` failed probes, then replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentStatus,
    DeploymentTimings,
    InstanceRecord,
)
from coderunner.models.sandbox import InstanceState, RouterConfig
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess, alive
from starter.tools.load_process import load
from tests.cleanup import removed_after
from tests.polling import until
from tests.test_deployment_workflow import spec

DRAIN_S = 1.3  # longer than a sweep interval, so the drain timer is told apart from the sweep timer
ORDERED = DeploymentTimings(sweep_interval_s=1.0, health_deadline_s=30.0, drain_s=DRAIN_S, stop_grace_s=2.0)


@dataclass
class Step:
    kind: str  # "route" (set_router scheduled), "routed" (it completed), "drain", "drained", "destroy"
    ids: frozenset[str] = field(default_factory=frozenset)


async def scale_steps(client: Client, name: str) -> list[Step]:
    """The last `scale` update's side effects in history order: router writes, drain timer, destroys."""
    history = await client.get_workflow_handle(f"deployment/{name}").fetch_history()
    events = list(history.events)
    accepted = [
        i
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "scale"
    ]
    assert accepted, "no scale update in the history"
    scheduled: dict[int, str] = {}
    drain_timers: set[str] = set()
    steps: list[Step] = []
    for event in events[accepted[-1] :]:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            kind = attrs.activity_type.name
            scheduled[event.event_id] = kind
            if kind == "set_router":
                [config] = await client.data_converter.decode(attrs.input.payloads, [RouterConfig])
                steps.append(Step("route", frozenset(b.instance_id for b in config.backends)))
            elif kind == "destroy_instance":
                [ref] = await client.data_converter.decode(attrs.input.payloads)
                steps.append(Step("destroy", frozenset({ref["instance_id"]})))
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if (
                scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
                == "set_router"
            ):
                steps.append(Step("routed"))
        elif event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attrs = event.timer_started_event_attributes
            if abs(attrs.start_to_fire_timeout.ToTimedelta().total_seconds() - DRAIN_S) < 1e-6:
                drain_timers.add(attrs.timer_id)
                steps.append(Step("drain"))
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            if event.timer_fired_event_attributes.timer_id in drain_timers:
                steps.append(Step("drained"))
    return steps


async def test_scale_down_under_load_routes_out_drains_then_destroys_newest(
    cr: CodeRunner, client: Client, sandbox_host: HostProcess, name: str
) -> None:
    async with removed_after(cr, name):
        await cr.deploy(spec(name, 4), ORDERED)
        desc = await cr.wait_settled(name, timeout_s=90)
        assert desc.status == DeploymentStatus.RUNNING, desc.status_reason
        async with load(desc.router_url or "", rps=80) as counts:
            await more_requests(sandbox_host, name, 40)  # traffic on every instance when the scale lands
            await cr.scale(name, 2, reason="quiet")
            await more_requests(sandbox_host, name, 40)  # and through the two that are left
        newest = {f"{name}-v1-2", f"{name}-v1-3"}
        assert counts["200"] > 40 and set(counts) == {"200"}, counts  # no request failed
        steps = await scale_steps(client, name)
        kinds = [s.kind for s in steps]
        assert kinds == ["route", "routed", "drain", "drained", "destroy", "destroy"], kinds
        assert steps[0].ids == {f"{name}-v1-0", f"{name}-v1-1"}  # out of the router first
        assert steps[4].ids | steps[5].ids == newest  # the newest go
        async with sandbox_host.client() as host:
            left = {i.instance_id for i in await host.list_instances(name)}
        assert left == {f"{name}-v1-0", f"{name}-v1-1"}


async def more_requests(host: HostProcess, name: str, n: int) -> None:
    """Wait (event-counted, not timed) until the router has answered `n` more requests."""

    async def total() -> int:
        async with host.client() as client:
            return (await client.get_router(name)).total_requests

    start = await total()
    await until(total, lambda t: t >= start + n, f"{n} more requests through the router")


async def healthy_in_router(host: HostProcess, name: str) -> set[str]:
    """Backends with traffic whose process is running: instances read first, then the router, so an
    instance destroyed between the two reads cannot be counted (the router drops it before destroy)."""
    async with host.client() as client:
        running = {
            i.instance_id for i in await client.list_instances(name) if i.state == InstanceState.RUNNING
        }
        routed = {b.instance_id for b in (await client.get_router(name)).backends if b.weight > 0}
    return running & routed


@contextlib.asynccontextmanager
async def sampled(host: HostProcess, name: str) -> AsyncIterator[list[set[str]]]:
    samples: list[set[str]] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append(await healthy_in_router(host, name))
            await asyncio.sleep(0.02)

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        stop.set()
        await task


async def test_rolling_restart_never_below_capacity(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    async with removed_after(cr, name):
        before = {i.instance_id for i in (await _deployed(cr, name, 2)).instances}
        async with sampled(sandbox_host, name) as samples:
            result = await cr.restart(name, reason="new config")
            after = set(result.instances)
            await until(
                lambda: healthy_in_router(sandbox_host, name),
                lambda s: s == after,
                "only the restarted instances in the router",
            )
        assert after.isdisjoint(before) and len(after) == 2
        assert samples, "nothing sampled"
        assert min(len(s) for s in samples) >= 2, [sorted(s) for s in samples if len(s) < 2][:3]
        seen_surge = [s for s in samples if s - before and s & before]  # old and new routed together
        assert seen_surge, "the sampler never saw the restart in progress"


async def _deployed(cr: CodeRunner, name: str, replicas: int) -> DeploymentDescription:
    await cr.deploy(spec(name, replicas), ORDERED)
    desc = await cr.wait_settled(name, timeout_s=90)
    assert desc.status == DeploymentStatus.RUNNING, desc.status_reason
    return desc


FROZEN = DeploymentTimings(
    sweep_interval_s=1.0, health_deadline_s=30.0, drain_s=0.2, stop_grace_s=1.0, unhealthy_threshold=3
)


@contextlib.asynccontextmanager
async def one_frozen(cr: CodeRunner, name: str) -> AsyncIterator[InstanceRecord]:
    """Two instances up, the first frozen with SIGSTOP (alive, answers nothing); thawed on the way out."""
    await cr.deploy(spec(name, 2), FROZEN)
    desc = await cr.wait_settled(name, timeout_s=90)
    assert desc.status == DeploymentStatus.RUNNING, desc.status_reason
    victim = desc.instances[0]
    assert victim.pid and alive(victim.pid)
    # the recorded pid is the sandbox's init: freeze the app under it too
    tree = [victim.pid, *(p.pid for p in psutil.Process(victim.pid).children(recursive=True))]
    for pid in tree:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield victim
    finally:
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def failures_of(desc: DeploymentDescription, victim: InstanceRecord) -> int:
    """The victim's failed probes in a row, -1 once it is gone."""
    return next((r.consecutive_failures for r in desc.instances if r.instance_id == victim.instance_id), -1)


async def degraded_by(cr: CodeRunner, name: str, victim: InstanceRecord) -> DeploymentDescription:
    return await until(
        lambda: cr.describe(name),
        lambda d: d.status == DeploymentStatus.DEGRADED and failures_of(d, victim) >= 1,
        "degraded with the frozen instance still kept",
    )


async def test_frozen_instance_degrades_then_is_replaced_after_threshold(cr: CodeRunner, name: str) -> None:
    async with removed_after(cr, name), one_frozen(cr, name) as victim:
        seen_degraded = await degraded_by(cr, name, victim)
        assert failures_of(seen_degraded, victim) < FROZEN.unhealthy_threshold
        assert seen_degraded.replacements == 0
        assert seen_degraded.status_reason and "1/2 instances healthy" in seen_degraded.status_reason
        replaced = await until(
            lambda: cr.describe(name),
            lambda d: (
                d.replacements == 1
                and d.status == DeploymentStatus.RUNNING
                and sum(i.healthy for i in d.instances) == 2
            ),
            "the frozen instance replaced and the deployment running again",
        )
        assert victim.instance_id not in {i.instance_id for i in replaced.instances}
        [event] = [e for e in replaced.events if e.kind == "instance_replaced"]
        assert (
            f"{victim.instance_id} replaced: {FROZEN.unhealthy_threshold} failed health checks"
            in event.message
        )


async def test_unhealthy_instance_leaves_the_router_before_its_replacement(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    async with removed_after(cr, name), one_frozen(cr, name) as victim:
        await degraded_by(cr, name, victim)
        assert victim.instance_id not in await healthy_in_router(sandbox_host, name)
