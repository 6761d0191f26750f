"""DeploymentWorkflow against a real Temporal dev server, a real sandbox host and real HTTP."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from coderunner.models.deployment import DeploymentDescription, DeploymentSpec, DeploymentStatus
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.tools.harness import HostProcess, alive
from tests.conftest import FAST

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo_app" / "app.py"


def spec(name: str, replicas: int = 3, **env: str) -> DeploymentSpec:
    return DeploymentSpec(
        name=name, command=["python", str(DEMO)], replicas=replicas, env={"VERSION": "v1", **env}
    )


async def deployed(cr: CodeRunner, s: DeploymentSpec) -> DeploymentDescription:
    await cr.deploy(s, FAST)
    desc = await cr.wait_settled(s.name, timeout_s=60)
    assert desc.status == DeploymentStatus.RUNNING, desc.status_reason
    return desc


async def hits(url: str, n: int = 60) -> collections.Counter[str]:
    seen: collections.Counter[str] = collections.Counter()
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(n):
            resp = await http.get(url + "/")
            seen[resp.json()["instance"] if resp.status_code == 200 else str(resp.status_code)] += 1
    return seen


async def host_instances(host: HostProcess, deployment: str) -> list[str]:
    async with host.client() as client:
        return sorted(i.instance_id for i in await client.list_instances(deployment))


async def test_deploy_three_all_healthy_and_router_uses_all(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    desc = await deployed(cr, spec(name, 3))
    ids = {i.instance_id for i in desc.instances}
    assert ids == {f"{name}-v1-0", f"{name}-v1-1", f"{name}-v1-2"}
    assert all(i.healthy for i in desc.instances)
    assert desc.router_url
    assert set(await hits(desc.router_url)) == ids
    assert await host_instances(sandbox_host, name) == sorted(ids)
    await cr.delete(name)


async def test_scale_up_and_down(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    desc = await deployed(cr, spec(name, 2))
    result = await cr.scale(name, 5, reason="load")
    assert result.replicas == 5 and len(result.instances) == 5
    desc = await cr.describe(name)
    assert sum(i.healthy for i in desc.instances) == 5
    assert len(set(await hits(desc.router_url or "", 100))) == 5
    await cr.scale(name, 1, reason="quiet")
    desc = await cr.describe(name)
    assert [i.instance_id for i in desc.instances] == [f"{name}-v1-0"]  # newest removed first
    assert await host_instances(sandbox_host, name) == [f"{name}-v1-0"]
    assert set(await hits(desc.router_url or "", 20)) == {f"{name}-v1-0"}
    assert any(e.kind == "scaled" and "quiet" in e.message for e in desc.events)
    await cr.delete(name)


async def test_killed_instance_replaced_within_two_sweeps(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 2))
    victim = desc.instances[0]
    assert victim.pid and alive(victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    while True:
        desc = await cr.describe(name)
        if desc.replacements == 1 and sum(i.healthy for i in desc.instances) == 2:
            break
        assert time.monotonic() - killed_at < 2 * FAST.sweep_interval_s + 5, "not replaced within 2 sweeps"
        await asyncio.sleep(0.1)
    assert victim.instance_id not in {i.instance_id for i in desc.instances}
    assert any(e.kind == "instance_replaced" for e in desc.events)
    await cr.delete(name)


async def test_rolling_restart_loses_no_request(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 2))
    before = {i.instance_id for i in desc.instances}
    statuses: collections.Counter[int | str] = collections.Counter()
    stop = asyncio.Event()

    async def steady_traffic() -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while not stop.is_set():
                try:
                    statuses[(await http.get((desc.router_url or "") + "/")).status_code] += 1
                except httpx.HTTPError as err:
                    statuses[type(err).__name__] += 1
                await asyncio.sleep(0.01)

    traffic = asyncio.create_task(steady_traffic())
    await asyncio.sleep(0.3)
    result = await cr.restart(name, reason="new config")
    await asyncio.sleep(0.3)
    stop.set()
    await traffic
    assert set(result.instances).isdisjoint(before) and len(result.instances) == 2
    assert statuses[200] > 50 and set(statuses) == {200}, statuses
    await cr.delete(name)


async def test_delete_leaves_no_process(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    desc = await deployed(cr, spec(name, 3))
    pids = [i.pid for i in desc.instances if i.pid]
    result = await cr.delete(name, reason="done")
    assert result.status == DeploymentStatus.DELETED
    assert await host_instances(sandbox_host, name) == []
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a pid
        await asyncio.sleep(0.05)
    assert not any(alive(p) for p in pids)
    await cr.handle(name).result()  # the workflow completed
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(desc.router_url or "", timeout=2)


async def test_stop_and_start(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    await deployed(cr, spec(name, 2))
    await cr.stop(name, reason="night")
    await _until(cr, name, lambda d: d.status == DeploymentStatus.STOPPED)
    assert await host_instances(sandbox_host, name) == []
    with pytest.raises(UserError, match="stopped"):
        await cr.restart(name)
    await cr.start(name)
    desc = await _until(cr, name, lambda d: d.status == DeploymentStatus.RUNNING)
    assert sum(i.healthy for i in desc.instances) == 2
    await cr.delete(name)
    with pytest.raises(UserError, match="is deleted"):
        await cr.scale(name, 3)


async def test_crashing_app_fails_with_reason(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    await cr.deploy(spec(name, 2, CRASH_ON_START="1"), FAST)
    desc = await _until(cr, name, lambda d: d.status == DeploymentStatus.FAILED, timeout_s=30)
    assert desc.status_reason and "exit" in desc.status_reason
    assert await host_instances(sandbox_host, name) == []
    await cr.delete(name)


async def test_duplicate_deploy_refused(cr: CodeRunner, name: str) -> None:
    await deployed(cr, spec(name, 1))
    with pytest.raises(UserError, match="already exists"):
        await cr.deploy(spec(name, 1), FAST)
    await cr.delete(name)


async def _until(cr: CodeRunner, name: str, check, timeout_s: float = 30.0) -> DeploymentDescription:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        desc = await cr.describe(name)
        if check(desc):
            return desc
        assert time.monotonic() < deadline, f"timed out; last: {desc.status} {desc.status_reason}"
        await asyncio.sleep(0.1)
