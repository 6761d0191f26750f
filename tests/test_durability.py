"""Crashes lose nothing: a worker killed mid-deploy, a sandbox host restarted, continue-as-new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from coderunner.models.deployment import DeploymentStatus
from starter.sdk import CodeRunner
from starter.tools import harness
from starter.tools.harness import HostProcess
from tests import history
from tests.conftest import FAST
from tests.polling import until
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
    # creates have started, health not yet
    await until(lambda: host_instances(sandbox_host, name), bool, "the first creates", every_s=0.05)
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
    assert len(pids) == 2
    handle = cr.handle(name)
    sandbox_host.kill9()
    # a sweep fails meanwhile and its activity is retried with backoff (seen as a pending attempt >= 2)
    await until(lambda: _retrying_sweep(handle), bool, "a health sweep retried while the host is down")
    sandbox_host.start()
    # counted in sweeps, not seconds: the retried sweep completes on a later attempt, then 3 more
    after = await until(lambda: history.events(cr.client, desc.workflow_id),
                        lambda h: len(_sweeps_after_retry(h)) >= 4, "4 sweeps after the host came back")
    retried = _sweeps_after_retry(after)[0]
    assert retried.completed and retried.attempt >= 2, retried
    desc = await cr.describe(name)
    assert desc.replacements == 0, desc.events
    assert sorted(i.pid for i in desc.instances if i.pid) == pids
    assert sorted(p.pid for p in instance_processes(name)) == pids  # adopted, none orphaned or doubled
    async with sandbox_host.client() as host:
        adopted = {i.instance_id: i.adopted for i in await host.list_instances(name)}
    assert adopted == {f"{name}-v1-0": True, f"{name}-v1-1": True}, adopted
    from tests.test_deployment_workflow import hits

    assert len(await hits(desc.router_url or "", 20)) == 2  # the router is back on its port
    await cr.delete(name)
    assert instance_processes(name) == []


async def _retrying_sweep(handle: WorkflowHandle[Any, Any]) -> bool:
    pending = (await handle.describe()).raw_description.pending_activities
    return any(p.activity_type.name == "check_instances" and p.attempt >= 2 for p in pending)


def _sweeps_after_retry(events: list[HistoryEvent]) -> list[history.Activity]:
    """Health sweeps from the first one that needed a retry on (the host was down) onwards."""
    sweeps = [a for a in history.activities(events) if a.name == "check_instances"]
    first = next((n for n, a in enumerate(sweeps) if a.attempt >= 2), None)
    return [] if first is None else [a for a in sweeps[first:] if a.completed]


async def test_continue_as_new_keeps_state(cr: CodeRunner, client: Client, name: str) -> None:
    """The session server suggests continue-as-new after a short history (see conftest)."""
    desc = await deployed(cr, spec(name, 1))
    await cr.scale(name, 2, reason="before continue-as-new")
    first_run = (await cr.handle(name).describe()).run_id
    await until(lambda: cr.handle(name).describe(), lambda d: d.run_id != first_run, "a continue-as-new",
                every_s=0.5)
    after = await cr.describe(name)
    assert [i.instance_id for i in after.instances] == [f"{name}-v1-0", f"{name}-v1-1"]
    assert after.status == DeploymentStatus.RUNNING
    assert any("before continue-as-new" in e.message for e in after.events)
    assert after.router_url == desc.router_url
    result = await cr.scale(name, 1, reason="after")  # updates reach the new run
    assert result.instances == [f"{name}-v1-0"]
    await cr.delete(name)
