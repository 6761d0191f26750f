"""The autoscaler survives its own continue-as-new and a worker killed -9 in the middle of a scale."""

from __future__ import annotations

from temporalio.client import Client

from coderunner.models.autoscaler import autoscaler_id
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from starter.tools.harness import HostProcess
from tests.autoscaler_helpers import load, replicas, rps_policy, serving, until
from tests.conftest import FAST
from tests.test_deployment_workflow import deployed, host_instances, spec
from tests.test_durability import instance_processes
from tests.worker_processes import WorkerProcesses


async def test_continue_as_new_keeps_the_stabilization_window(
    cr: CodeRunner, client: Client, name: str
) -> None:
    """The session server suggests continue-as-new after a short history (conftest.CAN_AFTER)."""
    desc = await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    window_s = 25
    await auto.enable(name, rps_policy(target=20, max_r=3, down_window_s=window_s))
    handle = client.get_workflow_handle(autoscaler_id(name))
    first_run = (await handle.describe()).run_id
    async with load(desc.router_url or "", rps=100):
        await until(lambda: _serving_at_least(cr, name, 3), 15, "scale-up to 3")
        await until(lambda: _decided_at(auto, name, 3), 15, "a decision at 3 under load")
    await until(lambda: _new_run(handle, first_run), 40, "continue-as-new")
    can_at = (await handle.describe()).start_time.timestamp()  # type: ignore[union-attr]
    assert await replicas(cr, name) == 3, "scaled down before the run changed: raise window_s"
    st = await auto.status(name)
    assert st.run >= 2
    carried = [r.at_s for r in st.window.recommendations if r.at_s < can_at and r.replicas >= 3]
    assert carried, "window not carried"

    async def down_decided() -> bool:
        return any(d.direction == "down" for d in (await auto.status(name)).decisions)

    await until(down_decided, window_s + 10, "scale-down after the window")
    st = await auto.status(name)
    down = next(d for d in st.decisions if d.direction == "down")
    # the last high recommendation is known: carried from the first run, or a later decision
    later = [d.at_s for d in st.decisions if d.seq < down.seq and (d.recommended or 0) >= 3]
    last_high = max([*carried, *later])
    held = [d for d in st.decisions if d.seq < down.seq and d.at_s > last_high]
    assert held and all(d.direction == "none" and d.limited_by == "stabilization window" for d in held), [
        (d.line(), d.limited_by) for d in held]  # lower recommendations held by the window, not applied
    assert down.at_s - last_high >= window_s  # never early (the window is in the workflow's own time)
    # a restarted window would have held until can_at + window_s; the carried one ended sooner
    assert down.at_s < can_at + window_s - 1, (down.at_s - can_at, window_s)
    await auto.disable(name)
    await cr.delete(name)


async def test_worker_killed_mid_scale_resumes_without_double_scale(
    crash_workers: WorkerProcesses, sandbox_host: HostProcess, name: str
) -> None:
    cr = crash_workers.cr
    first = crash_workers.start()
    await cr.deploy(spec(name, 1, STARTUP_DELAY_S="2"), FAST)
    desc = await cr.wait_settled(name, timeout_s=60)
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(target=20, max_r=3, down_window_s=60))
    async with load(desc.router_url or "", rps=100):
        # the scale update is creating (STARTUP_DELAY_S keeps it busy): kill the worker now
        await until(lambda: _hosted_at_least(sandbox_host, name, 2), 30, "the scale-up's creates", 0.05)
        crash_workers.kill9(first)
        crash_workers.start()
        await until(lambda: _serving_at_least(cr, name, 3), 60, "3 instances after the restart", 0.3)

        async def decided() -> bool:
            return any(d.applied == 3 for d in (await auto.status(name)).decisions)

        await until(decided, 30, "the autoscaler's decision recorded", 0.3)
    desc = await cr.describe(name)
    expected = [f"{name}-v1-{n}" for n in range(3)]
    assert sorted(i.instance_id for i in desc.instances) == expected
    assert await host_instances(sandbox_host, name) == expected
    assert len(instance_processes(name)) == 3  # no second process for any id
    by_autoscaler = [e for e in desc.events if e.kind == "scaled" and e.actor == "autoscaler"]
    assert len(by_autoscaler) == 1, [e.message for e in by_autoscaler]  # one decision, one scale
    ups = [d for d in (await auto.status(name)).decisions if d.direction == "up"]
    assert [d.applied for d in ups] == [3]
    await auto.disable(name)
    await cr.delete(name)


async def _decided_at(auto: Autoscaling, name: str, n: int) -> bool:
    return any(d.current >= n and (d.recommended or 0) >= n for d in (await auto.status(name)).decisions)


async def _hosted_at_least(host: HostProcess, name: str, n: int) -> bool:
    return len(await host_instances(host, name)) >= n


async def _serving_at_least(cr: CodeRunner, name: str, n: int) -> bool:
    return await serving(cr, name) >= n and await replicas(cr, name) >= n


async def _new_run(handle, first_run: str) -> bool:  # type: ignore[no-untyped-def]
    return (await handle.describe()).run_id != first_run
