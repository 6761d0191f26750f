"""The distributed setup in one test: two worker processes, one task queue, one Temporal server, the
app database on PostgreSQL — as docker-compose runs them — and one worker killed -9 mid-flight.

Both workers take work (each one's own /metrics shows activities it executed), deployments and a
canary rollout are in flight when one dies, and the survivor finishes everything: every deployment
running with exactly its instance ids (no duplicate sandbox process), the rollout promoted, the
PostgreSQL records and audit trail complete, each audit event once.
"""

from __future__ import annotations

import collections
import contextlib
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from coderunner.config.ports import free_port
from coderunner.models.deployment import DeploymentStatus
from coderunner.models.rollout import AnalysisSettings, RolloutPhase, RolloutStrategy
from coderunner.store.repository import Store
from starter.sdk.errors import UserError
from starter.tools.harness import HostProcess
from tests.polling import until
from tests.test_deployment_workflow import FAST, host_instances, spec
from tests.test_durability import instance_processes
from tests.test_store import postgres_url  # noqa: F401  (the session's own PostgreSQL database)
from tests.worker_processes import WorkerProcesses
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

DEPLOYMENTS = 4
REPLICAS = 2


def activities_run(metrics_url: str) -> float:
    """Activities this worker process executed, from the Temporal SDK's metrics on its /metrics."""
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return 0.0
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "temporal_activity_execution_latency_count")



async def test_two_workers_share_the_work_and_one_survives_a_kill9(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, client: Client,
    tmp_path: Path, postgres_url: str,  # noqa: F811
) -> None:
    run = uuid.uuid4().hex[:6]
    names = [f"w{run}{n}" for n in range(DEPLOYMENTS)]
    late = f"w{run}late"
    store = Store(url=postgres_url)  # the schema exists before two workers race to create it
    with WorkerProcesses(home, temporal_env, sandbox_host, client, f"pair-{run}", tmp_path) as workers:
        workers.env["CODERUNNER_DATABASE_URL"] = postgres_url
        urls = []
        procs = []
        for _ in range(2):
            port = free_port()
            workers.env["CODERUNNER_METRICS_PORT"] = str(port)
            procs.append(workers.start())
            urls.append(f"http://127.0.0.1:{port}/metrics")
        cr = workers.cr
        try:
            for name in names:
                await cr.deploy(spec(name, REPLICAS, STARTUP_DELAY_S="1"), FAST)

            async def both_worked() -> bool:
                return all(activities_run(u) > 0 for u in urls)

            await until(both_worked, bool,
                        f"both workers to run activities ({workers.log(1)} {workers.log(2)})", 90.0)

            async def all_running() -> bool:
                descs = [await cr.describe(n) for n in names]
                return all(d.status == DeploymentStatus.RUNNING for d in descs)

            await until(all_running, bool, "the first deployments to run", 90.0)
            # no windows and no evidence gate: this test is about workers, not analysis, and sends no traffic
            strategy = RolloutStrategy.from_shorthand(
                "50,100", "2s", "10m", AnalysisSettings(healthy_windows_per_step=0)
            )
            await cr.rollouts.start(names[0], "v2", env={"VERSION": "v2"}, strategy=strategy)
            await cr.rollouts.wait(names[0], lambda s: s.canary_weight == 50, timeout_s=90)
            await cr.deploy(spec(late, REPLICAS, STARTUP_DELAY_S="2"), FAST)

            async def late_creating() -> bool:
                return bool(await host_instances(sandbox_host, late))

            await until(late_creating, bool, "the late deployment's creates to start", 90.0)
            workers.kill9(procs[0])  # mid-rollout and mid-deploy
            assert procs[1].poll() is None

            status = await cr.rollouts.wait(names[0], timeout_s=120)
            assert status.phase == RolloutPhase.PROMOTED, status.outcome
            # what the survivor wrote replays: any worker can take the rollout over again
            history = await client.get_workflow_handle(status.workflow_id).fetch_history()
            replayed = await Replayer(workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER,
                                      data_converter=client.data_converter).replay_workflow(
                history, raise_on_replay_failure=False)
            assert replayed.replay_failure is None, replayed.replay_failure
            everything = [*names, late]

            async def settled() -> bool:
                descs = [await cr.describe(n) for n in everything]
                return all(d.status == DeploymentStatus.RUNNING and len(d.instances) == REPLICAS
                           and all(i.healthy for i in d.instances) for d in descs)

            await until(settled, bool, f"every deployment to settle on the survivor ({workers.log(2)})",
                        120.0)
            for name in everything:
                version = "v2" if name == names[0] else "v1"
                desc = await cr.describe(name)
                assert desc.spec.version == version
                expected_ids = sorted(i.instance_id for i in desc.instances)
                assert all(i.startswith(f"{name}-{version}-") for i in expected_ids)
                assert await host_instances(sandbox_host, name) == expected_ids  # nothing orphaned
                assert len(instance_processes(name)) == REPLICAS  # no second process for any id
                record = store.get_deployment(name)
                assert record is not None and (record.status, record.version, record.replicas) == (
                    "running", version, REPLICAS)
                events = store.list_events(name, limit=500)
                keys = collections.Counter(e.event_key for e in events if e.event_key)
                assert keys and max(keys.values()) == 1  # every event recorded once
            assert activities_run(urls[1]) > 0
        finally:
            for name in [*names, late]:
                with contextlib.suppress(UserError):  # one that was never deployed: nothing to delete
                    await cr.delete(name, reason="test done")
