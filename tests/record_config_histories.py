"""Record the histories the config work must keep replaying: `python -m tests.record_config_histories`.

`record()`: a deployment that rolls out v2 (promoted), then v3 (aborted), then is deleted — recorded
with the code as it was before config references and config rollouts existed, so
tests/test_replay_config.py proves those changes leave running deployments and rollouts alone.
`record_release()` (`… --release`): a deployment following a config environment that gets a config
version released as a canary and promoted (the new, `workflow.patched("config-rollouts")` path).
Recorded without the payload codec.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.config.home import HomeLayout
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.models import search_attributes as sa
from coderunner.models.configstore import ConfigRef
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.models.rollout import FINISHED_PHASES, RolloutStrategy
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import DEMO_APP, HostProcess
from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
TIMINGS = DeploymentTimings(sweep_interval_s=0.5, health_deadline_s=20, drain_s=0.1)
STRATEGY = RolloutStrategy.from_shorthand("50,100", "60s", "60s")


@asynccontextmanager
async def recording_stack() -> AsyncIterator[tuple[CodeRunner, Client]]:
    """A dev server (no codec), a sandbox host and a worker in a fresh home, all torn down after."""
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    try:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=sa.ALL,
            data_converter=pydantic_data_converter,
        ) as env:
            url = f"sqlite:///{HomeLayout(home).app_db}"
            workers = activities(host.client(), Store(url=url), home)
            async with Worker(env.client, task_queue="record", workflows=WORKFLOWS,
                              workflow_runner=WORKFLOW_RUNNER, activities=workers):
                settings = Settings(
                    home=home,
                    temporal_address="-",
                    task_queue="record",
                    sandbox_url=host.url,
                    database_url=url,
                )
                yield CodeRunner(env.client, settings), env.client
    finally:
        host.cleanup()


async def save(client: Client, histories: list[tuple[str, str]]) -> None:
    for wid, file in histories:
        history = await client.get_workflow_handle(wid).fetch_history()
        (HISTORIES / file).write_text(history.to_json())
        print(f"wrote {file} ({len(history.events)} events)")


async def record() -> None:
    async with recording_stack() as (cr, client):
        name = "replayed-rollouts"
        spec = DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=2)
        await cr.deploy(spec, TIMINGS)
        await cr.wait_settled(name)
        await cr.rollouts.start(name, "v2", strategy=STRATEGY, scale_down_delay_s=0.5, reason="record")
        await cr.rollouts.wait(name, lambda s: s.canary_instances)
        await cr.rollouts.promote(name, full=True, reason="record")
        await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES)
        await cr.rollouts.start(name, "v3", strategy=STRATEGY, abort_cleanup_s=0.2, reason="record")
        await cr.rollouts.wait(name, lambda s: s.canary_instances)
        await cr.rollouts.abort(name, reason="record")
        await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES)
        await asyncio.sleep(1.0)
        await cr.delete(name, reason="record")
        await save(
            client,
            [
                (f"deployment/{name}", "deployment_rollouts.json"),
                (f"rollout/{name}/v2", "rollout_promoted.json"),
                (f"rollout/{name}/v3", "rollout_aborted.json"),
            ],
        )


async def record_release() -> None:
    async with recording_stack() as (cr, client):
        name = "replayed-config"
        configs = cr.config_releases.configs()
        configs.set("shop", "production", {"VERSION": "v1"})
        configs.set_secret("shop", "production", "TOKEN", "not-in-history")
        spec = DeploymentSpec(
            name=name,
            command=["python", str(DEMO_APP)],
            replicas=2,
            config=ConfigRef(project="shop", environment="production"),
        )
        await cr.deploy(spec, TIMINGS)
        await cr.wait_settled(name)
        configs.set("shop", "production", {"FEATURE": "on"})
        await cr.config_releases.release("shop", "production", strategy=STRATEGY)
        await cr.rollouts.wait(name, lambda s: s.canary_instances)
        await cr.rollouts.promote(name, full=True, reason="record")
        await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES)
        await asyncio.sleep(1.0)
        await cr.delete(name, reason="record")
        await save(
            client,
            [
                (f"deployment/{name}", "deployment_config_release.json"),
                (f"rollout/{name}/v1+config-3", "rollout_config_release.json"),
            ],
        )


if __name__ == "__main__":
    asyncio.run(record_release() if "--release" in sys.argv else record())
