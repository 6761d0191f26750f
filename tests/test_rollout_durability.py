"""A worker killed -9 mid-rollout: a new worker resumes the rollout at the same step."""

from __future__ import annotations

import asyncio
import collections

from coderunner.models.rollout import RolloutPhase
from coderunner.models.rollout_api import RolloutStatus
from starter.sdk import CodeRunner
from starter.sdk.querying import NoWorker
from starter.tools.harness import HostProcess, settled
from tests.rollout_helpers import deployed_v1, fast_strategy
from tests.test_deployment_workflow import host_instances
from tests.test_durability import instance_processes
from tests.worker_processes import WorkerProcesses


async def first_answer(cr: CodeRunner, name: str, timeout_s: float = 60.0) -> RolloutStatus:
    """The first status after the kill, however long the new worker takes to answer it. Once, at the
    end of a full suite on two loaded cores, no describe was answered within the SDK's 20 s although the
    new worker had been polling and running the deployment's activities for 17 of them; this test's
    claim is where the rollout resumed, not how fast a query is served under that load."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            return await cr.rollouts.status(name)
        except NoWorker:
            if loop.time() > deadline:
                raise


async def test_worker_killed_mid_rollout_resumes_at_same_step(
    crash_workers: WorkerProcesses, sandbox_host: HostProcess, name: str
) -> None:
    cr = crash_workers.cr
    first = crash_workers.start()
    await deployed_v1(cr, name, replicas=2)
    # no traffic here: the evidence gate (issue 16) is off so the walk is driven by timers alone
    strategy = fast_strategy("10,25,50,75,100", "3s", inconclusive_limit=10_000, healthy_windows_per_step=0)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy, scale_down_delay_s=0.5)
    before = await cr.rollouts.wait(name, lambda s: s.canary_weight == 25, timeout_s=60)
    crash_workers.kill9(first)
    crash_workers.start()
    after = await first_answer(cr, name)  # answered by the new worker, by replay
    # resumed where it was, not from the start: the 3 s step may end while the worker is down (a loaded
    # machine restarts it slower than that), so the same step or a later one; no step ran twice (below)
    assert after.step >= before.step and after.canary_weight >= 25, (before, after)
    status = await cr.rollouts.wait(name, timeout_s=90)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome
    desc = await settled(cr, name)
    weights = [e.message for e in desc.events if e.kind == "canary_weight"]
    assert len(weights) == 5 and len(set(weights)) == 5  # every step once, in order, none repeated
    assert [w.split(" at ")[1].split("%")[0] for w in weights] == ["10", "25", "50", "75", "100"]
    counts = collections.Counter(i.instance_id for i in desc.instances)
    assert desc.spec.version == "v2" and all(n == 1 for n in counts.values())
    assert sorted(await host_instances(sandbox_host, name)) == sorted(counts)
    assert len(instance_processes(name)) == 2  # no second process for any id
    await cr.delete(name)
