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
