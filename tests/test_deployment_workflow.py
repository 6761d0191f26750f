"""DeploymentWorkflow against a real Temporal dev server, a real sandbox host and real HTTP."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from coderunner.models.deployment import DeploymentDescription, DeploymentSpec, DeploymentStatus
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.tools.harness import HostProcess, alive
from tests import history
from tests.conftest import FAST
from tests.polling import until

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
    killed_at = len(await history.events(cr.client, desc.workflow_id))  # history up to the kill
    os.kill(victim.pid, signal.SIGKILL)
    desc = await until(
        lambda: cr.describe(name),
        lambda d: d.replacements == 1 and sum(i.healthy for i in d.instances) == 2,
        "the killed instance replaced",
    )
    assert victim.instance_id not in {i.instance_id for i in desc.instances}
    replaced = [e.message for e in desc.events if e.kind == "instance_replaced"]
    assert len(replaced) == 1, replaced
    assert replaced[0].startswith(f"{victim.instance_id} replaced: process exited"), replaced
    assert "exit code -9" in replaced[0], replaced
    # counted in sweeps, not seconds: the sweep in flight at the kill (which may have probed before
    # it) and the next one; a dead process is replaced at once, not after failed probes
    acts = history.activities(await history.events(cr.client, desc.workflow_id))
    creates = [a for a in acts if a.name == "create_instance" and a.scheduled > killed_at]
    assert creates, [a.name for a in acts if a.scheduled > killed_at]
    sweeps = [a for a in acts if a.name == "check_instances" and a.completed
              and killed_at < (a.closed or 0) < creates[0].scheduled]
    assert 1 <= len(sweeps) <= 2, [(a.name, a.scheduled, a.closed) for a in acts if a.scheduled > killed_at]
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
    try:  # counted requests, not sleeps: traffic before, during and after the restart
        await until(lambda: _count(statuses), lambda n: n >= 20, "20 requests before the restart")
        at_call = sum(statuses.values())
        result = await cr.restart(name, reason="new config")
        at_return = sum(statuses.values())
        await until(lambda: _count(statuses), lambda n: n >= at_return + 20, "20 requests after the restart")
    finally:
        stop.set()
        await traffic
    assert set(result.instances).isdisjoint(before) and len(result.instances) == 2
    assert at_return > at_call, "no request was sent while the restart ran"
    assert set(statuses) == {200}, statuses
    await cr.delete(name)


async def _count(counter: collections.Counter[int | str]) -> int:
    return sum(counter.values())


async def test_delete_leaves_no_process(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    desc = await deployed(cr, spec(name, 3))
    pids = [i.pid for i in desc.instances if i.pid]
    result = await cr.delete(name, reason="done")
    assert result.status == DeploymentStatus.DELETED
    assert await host_instances(sandbox_host, name) == []
    assert len(pids) == 3

    async def still_alive() -> list[int]:
        return [p for p in pids if alive(p)]

    await until(still_alive, lambda left: not left, "every instance process gone")
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
    desc = await _until(cr, name, lambda d: d.status == DeploymentStatus.FAILED, "status failed")
    assert desc.status_reason and "exit" in desc.status_reason
    assert await host_instances(sandbox_host, name) == []
    await cr.delete(name)


async def test_duplicate_deploy_refused(cr: CodeRunner, name: str) -> None:
    await deployed(cr, spec(name, 1))
    with pytest.raises(UserError, match="already exists"):
        await cr.deploy(spec(name, 1), FAST)
    await cr.delete(name)


async def _until(cr: CodeRunner, name: str, check: Callable[[DeploymentDescription], bool],
                 what: str = "the deployment's state") -> DeploymentDescription:
    return await until(lambda: cr.describe(name), check, what)
