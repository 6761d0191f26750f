"""Record a DeploymentWorkflow history for the replay test: `python -m tests.record_history`.

Re-record only when a change to the workflow is *meant* to be incompatible (and then guard running
workflows with `workflow.patched`). Recorded without the payload codec so the file replays anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
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
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.tools.harness import DEMO_APP, HostProcess
from workflows.registry import WORKFLOWS

OUT = Path(__file__).parent / "histories" / "deployment_lifecycle.json"
TIMINGS = DeploymentTimings(sweep_interval_s=0.5, health_deadline_s=20, drain_s=0.1)


@contextlib.asynccontextmanager
async def recording_stack() -> AsyncIterator[tuple[Client, Settings]]:
    """A throwaway dev server (no payload codec), sandbox host and worker on the task queue `record`."""
    home = Path(tempfile.mkdtemp(prefix="record-"))
    host = HostProcess(home).start()
    try:
        async with await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=sa.ALL,
            data_converter=pydantic_data_converter,
        ) as env:
            store = Store(url=f"sqlite:///{HomeLayout(home).app_db}")
            async with Worker(
                env.client,
                task_queue="record",
                workflows=WORKFLOWS,
                activities=activities(host.client(), store),
            ):
                yield env.client, Settings(
                    home=home, temporal_address="-", task_queue="record", sandbox_url=host.url
                )
    finally:
        host.cleanup()


async def record() -> None:
    async with recording_stack() as (client, settings):
        cr = CodeRunner(client, settings)
        spec = DeploymentSpec(name="replayed", command=["python", str(DEMO_APP)], replicas=2)
        await cr.deploy(spec, TIMINGS)
        await cr.wait_settled("replayed")
        await cr.scale("replayed", 3, reason="record")
        await cr.restart("replayed", reason="record")
        await asyncio.sleep(1.5)  # a few sweeps
        await cr.delete("replayed", reason="record")
        history = await cr.handle("replayed").fetch_history()
        OUT.write_text(history.to_json())
        print(f"wrote {OUT} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(record())
