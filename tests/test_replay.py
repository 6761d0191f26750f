"""Replay every recorded history in tests/histories/: today's code must make the same decisions.

A failure here means a change would break running workflows: guard it with `workflow.patched`.
Histories are recorded by tests/record_history.py and tests/record_*_histories.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay/{path.stem}", path.read_text())


def test_recorded_lifecycle_covers_updates_and_sweeps() -> None:
    kinds = {e.WhichOneof("attributes") for e in load(HISTORIES / "deployment_lifecycle.json").events}
    assert "workflow_execution_update_accepted_event_attributes" in kinds  # scale/restart/delete
    assert "timer_started_event_attributes" in kinds  # health sweeps


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    history = load(path)
    assert len(history.events) > 10, f"{path.name} holds no real run"
    result = await Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    ).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
