"""Crashes lose nothing: a worker killed mid-deploy, a sandbox host restarted, continue-as-new."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil
from temporalio.client import Client

from coderunner.models.deployment import DeploymentStatus
from starter.sdk import CodeRunner
from starter.tools import harness
from starter.tools.harness import HostProcess
from tests.conftest import FAST
from tests.test_deployment_workflow import deployed, host_instances, spec
from tests.worker_processes import WorkerProcesses

REPO = Path(__file__).resolve().parents[1]


def instance_processes(name: str) -> list[psutil.Process]:
    """Live instances of a deployment (one process each), found by the INSTANCE_ID the workflow gives."""
    return harness.instance_processes(lambda env: env.get("INSTANCE_ID", "").startswith(f"{name}-"))


async def test_worker_killed_mid_deploy_no_duplicates(
    crash_workers: WorkerProcesses, sandbox_host: HostProcess, name: str
) -> None:
    cr = crash_workers.cr
    first = crash_workers.start()
    await cr.deploy(spec(name, 3, STARTUP_DELAY_S="2"), FAST)
    deadline = time.monotonic() + 30
    while not await host_instances(sandbox_host, name):  # creates have started, health not yet
        assert time.monotonic() < deadline, crash_workers.log(1)
        await asyncio.sleep(0.05)
    crash_workers.kill9(first)
    crash_workers.start()
    desc = await cr.wait_settled(name, timeout_s=90)
    assert desc.status == DeploymentStatus.RUNNING, desc.status_reason
    expected = [f"{name}-v1-{n}" for n in range(3)]
    assert sorted(i.instance_id for i in desc.instances) == expected
    assert await host_instances(sandbox_host, name) == expected
    assert len(instance_processes(name)) == 3  # no second process for any id
    await cr.delete(name)


async def test_sandbox_host_restart_adopts_instances(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    desc = await deployed(cr, spec(name, 2))
    pids = sorted(i.pid for i in desc.instances if i.pid)
    sandbox_host.kill9()
    await asyncio.sleep(1.5)  # sweeps fail meanwhile; their activities retry with backoff
    sandbox_host.start()
    await asyncio.sleep(4 * FAST.sweep_interval_s)
    desc = await cr.describe(name)
    assert desc.replacements == 0, desc.events
    assert sorted(i.pid for i in desc.instances if i.pid) == pids
    assert sorted(p.pid for p in instance_processes(name)) == pids  # adopted, none orphaned or doubled
    async with sandbox_host.client() as host:
        assert all(i.adopted for i in await host.list_instances(name))
    from tests.test_deployment_workflow import hits

    assert len(await hits(desc.router_url or "", 20)) == 2  # the router is back on its port
    await cr.delete(name)
    assert instance_processes(name) == []


async def test_continue_as_new_keeps_state(cr: CodeRunner, client: Client, name: str) -> None:
    """The session server suggests continue-as-new after a short history (see conftest)."""
    desc = await deployed(cr, spec(name, 1))
    await cr.scale(name, 2, reason="before continue-as-new")
    first_run = (await cr.handle(name).describe()).run_id
    deadline = time.monotonic() + 60
    while (await cr.handle(name).describe()).run_id == first_run:
        assert time.monotonic() < deadline, "no continue-as-new happened"
        await asyncio.sleep(0.5)
    after = await cr.describe(name)
    assert [i.instance_id for i in after.instances] == [f"{name}-v1-0", f"{name}-v1-1"]
    assert after.status == DeploymentStatus.RUNNING
    assert any("before continue-as-new" in e.message for e in after.events)
    assert after.router_url == desc.router_url
    result = await cr.scale(name, 1, reason="after")  # updates reach the new run
    assert result.instances == [f"{name}-v1-0"]
    await cr.delete(name)
