"""Replay recorded PipelineWorkflow histories: today's code must make the same decisions (see
tests/record_pipeline_histories.py). A failure means a change would break running pipelines: guard it
with `workflow.patched`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


@pytest.mark.parametrize(
    ("file", "workflow_id", "activities"),
    [
        ("pipeline_example.json", "pipeline/shop/recorded", 10),
        ("pipeline_unowned_write.json", "pipeline/shop-unowned/recorded", 8),
        # prepare, 8 dev steps (stats twice, legacy three times), 5 QA steps, the integration step
        ("pipeline_qa_example.json", "pipeline/qa-demo/recorded", 15),
        # prepare, dev, QA, then the Ops stage: release, ask for the canary, wait for its end (promoted;
        # rolled back); the run's end reported to /metrics by a local activity (a marker, not counted)
        ("pipeline_ops_promoted.json", "pipeline/shop-ops/recorded", 6),
        ("pipeline_ops_rolled_back.json", "pipeline/shop-sick-ops/recorded", 5),  # dev: a cache hit
        # a new deployment: release, ask (answer: none live), start it as a child, wait for it running;
        # recorded before `pipeline-ops-withdraw-new` (a cancel while it started was waited out) and after
        # (the cancel deletes it)
        ("pipeline_ops_new_before_withdraw.json", "pipeline/shop-new-ops/recorded", 6),
        ("pipeline_ops_new_cancelled_before_withdraw.json", "pipeline/shop-cancel-ops/recorded", 5),
        ("pipeline_ops_new.json", "pipeline/shop-new-ops/recorded", 6),
        ("pipeline_ops_new_cancelled.json", "pipeline/shop-cancel-ops/recorded", 6),
    ],
)
async def test_recorded_pipeline_replays(file: str, workflow_id: str, activities: int) -> None:
    history = WorkflowHistory.from_json(workflow_id, (HISTORIES / file).read_text())
    scheduled = [
        e for e in history.events if e.WhichOneof("attributes") == "activity_task_scheduled_event_attributes"
    ]
    assert len(scheduled) == activities  # prepare + one dev step per task that was not blocked
    patched = [e for e in history.events if e.WhichOneof("attributes") == "marker_recorded_event_attributes"]
    assert bool(patched) == file.startswith(("pipeline_qa", "pipeline_ops"))  # only new ones are patched
    result = await Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    ).replay_workflow(history)
    assert result.replay_failure is None


def test_the_cancel_came_while_the_new_deployment_started() -> None:
    """The recorded cancels exercise the guarded branch: the signal arrived between the wait's start
    and its end, so the old history replays only if the patch keeps the old code waiting."""
    for file in ("pipeline_ops_new_cancelled_before_withdraw.json", "pipeline_ops_new_cancelled.json"):
        history = WorkflowHistory.from_json("w", (HISTORIES / file).read_text())
        kinds = [e.WhichOneof("attributes") for e in history.events]
        names = [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events]
        waiting = names.index("pipeline_await_deployed")
        assert "workflow_execution_signaled_event_attributes" in kinds[waiting:], file
        signaled = kinds.index("workflow_execution_signaled_event_attributes")
        assert waiting < signaled, file
        assert "activity_task_completed_event_attributes" not in kinds[waiting:signaled], file
