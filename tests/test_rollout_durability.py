"""A worker killed -9 mid-rollout: a new worker resumes the rollout at the same step."""

from __future__ import annotations

import collections
import os
import signal
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from models.rollout import RolloutPhase
from starter.sdk import CodeRunner
from tests.conftest import settings_for, worker_env
from tests.rollout_helpers import deployed_v1, fast_strategy, settled
from tests.sandbox_fixtures import HostProcess
from tests.test_deployment_workflow import host_instances
from tests.test_durability import instance_processes, start_worker


async def test_worker_killed_mid_rollout_resumes_at_same_step(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, client: Client, name: str,
    tmp_path: Path,
) -> None:
    task_queue = f"kill-{name}"
    env = worker_env(home, temporal_env, sandbox_host, task_queue)
    first = start_worker(env, tmp_path / "worker1.log")
    second = None
    cr = CodeRunner(client, settings_for(home, temporal_env, sandbox_host, task_queue))
    try:
        await deployed_v1(cr, name, replicas=2)
        strategy = fast_strategy("10,25,50,75,100", "3s", inconclusive_limit=10_000)
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy, scale_down_delay_s=0.5)
        before = await cr.rollouts.wait(name, lambda s: s.canary_weight == 25, timeout_s=60)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        second = start_worker(env, tmp_path / "worker2.log")
        after = await cr.rollouts.status(name)  # answered by the new worker, by replay
        assert (after.step, after.canary_weight) == (before.step, 25)
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
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
