"""Record PipelineWorkflow histories for the replay test: `python -m tests.record_pipeline_histories`.

Recorded with the example plan (examples/pipeline): one run that succeeds, one where a task changes a
file it does not own (failed + blocked dependents). Re-record only for a deliberate change guarded by
`workflow.patched`. Without the payload codec, so the files replay anywhere.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import yaml
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.registry import activities
from coderunner.config.home import HomeLayout
from coderunner.config.settings import Settings
from coderunner.config.temporal_bin import temporal_binary
from coderunner.models import search_attributes as sa
from coderunner.store.repository import Store
from starter.sdk.pipelines import Pipelines
from starter.tools.harness import HostProcess
from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pipeline"


def plans(root: Path) -> dict[str, Path]:
    shutil.copytree(EXAMPLE, root / "example")
    ok = root / "example" / "plan.yaml"
    data = yaml.safe_load(ok.read_text())
    for task in data["tasks"]:
        if task["id"] == "tax":
            task["agent"]["dev"] = ["sh", "-c", "echo x >> shop/pricing.py"]
    bad = root / "example" / "plan-unowned.yaml"
    bad.write_text(yaml.safe_dump({**data, "name": "shop-unowned"}))
    return {"pipeline_example.json": ok, "pipeline_unowned_write.json": bad}


async def record() -> None:
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
                settings = Settings(
                    home=home, temporal_address="-", task_queue="record", sandbox_url=host.url
                )
                pipes = Pipelines(env.client, settings)
                for out, plan in plans(home).items():
                    workflow_id = await pipes.run(plan, "recorded")
                    await pipes.wait(workflow_id)
                    history = await pipes.handle(workflow_id).fetch_history()
                    (HISTORIES / out).write_text(history.to_json())
                    print(f"wrote {HISTORIES / out} ({len(history.events)} events)")
    finally:
        host.cleanup()


if __name__ == "__main__":
    asyncio.run(record())
