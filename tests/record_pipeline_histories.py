"""Record PipelineWorkflow histories for the replay test: `python -m tests.record_pipeline_histories`.

Recorded with the example plan (examples/pipeline): one run that succeeds, one where a task changes a
file it does not own (failed + blocked dependents). Re-record only for a deliberate change guarded by
`workflow.patched`. Without the payload codec, so the files replay anywhere.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import yaml

from starter.sdk.pipelines import Pipelines
from tests.recording import recording_stack

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
    async with recording_stack(can_after=None) as (client, cr):
        settings = cr.settings
        pipes = Pipelines(client, settings)
        for out, plan in plans(settings.home).items():
            workflow_id = await pipes.run(plan, "recorded")
            await pipes.wait(workflow_id)
            history = await pipes.handle(workflow_id).fetch_history()
            (HISTORIES / out).write_text(history.to_json())
            print(f"wrote {HISTORIES / out} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(record())
