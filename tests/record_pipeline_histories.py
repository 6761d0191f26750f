"""Record PipelineWorkflow histories for the replay test: `python -m tests.record_pipeline_histories qa`.

`first` (recorded before the `pipeline-qa-dead-letters` patch, kept as they are so the old behaviour
keeps replaying — re-recording them today would record the new behaviour): the example plan
(examples/pipeline), one run that succeeds, one where a task changes a file it does not own (failed +
blocked dependents). `qa`: the Delivery pipeline II example (examples/pipeline_qa): QA steps, a fix
attempt, a dead letter skipped by a person, the integration stage (recorded before the example had
`deploy`: re-recorded today it would end with the Ops stage too). `ops`: a plan with `deploy`
(tests/pipeline_ops_helpers.py) whose result is rolled out as a canary of a running v1 and promoted,
and one whose canary errs and is rolled back (patched `pipeline-ops-stage` and `pipeline-run-metric`).
`ops-new [TAG]`: releases that are new deployments, one run to the end and one cancelled while its
deployment starts (patched `pipeline-ops-withdraw-new` deletes it; the files tagged `_before_withdraw`
were recorded by the code before that patch, which waited for the deployment instead).
Re-record only for a deliberate change guarded by `workflow.patched`. Without the payload codec, so
the files replay anywhere.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import yaml

from starter.sdk.pipelines import Pipelines
from starter.tools.load_process import load
from tests.pipeline_ops_helpers import app_plan, cancel_while_deploying, router_url
from tests.recording import recording_stack
from tests.rollout_helpers import deployed_v1
from tests.test_pipeline_example_qa import EXAMPLE as QA_EXAMPLE
from tests.test_pipeline_example_qa import run_example

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


async def record_new_deployments(pipes: Pipelines, home: Path, tag: str) -> dict[str, str]:
    """A release that is a new deployment: one that starts and runs, and one whose run is cancelled
    while the deployment starts (8 s to its first health answer)."""
    runs = {}
    plan = app_plan(home / "example-new", "shop-new-ops", "shop-new-app")
    runs[f"pipeline_ops_new{tag}.json"] = workflow_id = await pipes.run(plan, "recorded")
    await pipes.wait(workflow_id)
    starting = {"STARTUP_DELAY_S": "8"}
    slow = app_plan(home / "example-cancel", "shop-cancel-ops", "shop-cancel-app", env=starting)
    runs[f"pipeline_ops_new_cancelled{tag}.json"] = workflow_id = await pipes.run(slow, "recorded")
    await cancel_while_deploying(pipes, workflow_id, "recorded cancel")
    return runs


async def record(which: str, tag: str = "") -> None:
    async with recording_stack(can_after=None) as (client, cr):
        settings = cr.settings
        pipes = Pipelines(client, settings)
        runs: dict[str, str] = {}
        if which == "first":
            for out, plan in plans(settings.home).items():
                runs[out] = await pipes.run(plan, "recorded")
        elif which == "ops":
            for out, app, env in [("pipeline_ops_promoted.json", "shop", {}),
                                  ("pipeline_ops_rolled_back.json", "shop-sick", {"ERROR_RATE": "0.6"})]:
                desc = await deployed_v1(cr, f"{app}-app")
                plan = app_plan(settings.home / f"example-{app}", f"{app}-ops", f"{app}-app", env=env)
                async with load(router_url(desc), rps=60):
                    runs[out] = workflow_id = await pipes.run(plan, "recorded")
                    await pipes.wait(workflow_id)
        elif which == "ops-new":
            runs.update(await record_new_deployments(pipes, settings.home, tag))
        else:
            shutil.copytree(QA_EXAMPLE, settings.home / "example-qa")
            runs["pipeline_qa_example.json"] = await run_example(
                pipes, settings.home / "example-qa" / "plan.yaml", "recorded"
            )
        for out, workflow_id in runs.items():
            await pipes.wait(workflow_id)
            history = await pipes.handle(workflow_id).fetch_history()
            (HISTORIES / out).write_text(history.to_json())
            print(f"wrote {HISTORIES / out} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "qa", sys.argv[2] if len(sys.argv) > 2 else ""))
