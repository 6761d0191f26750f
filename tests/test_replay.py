"""Replay a recorded DeploymentWorkflow history: today's code must make the same decisions.

A failure here means a change would break running deployments: guard it with `workflow.patched`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


async def test_recorded_lifecycle_replays() -> None:
    history = WorkflowHistory.from_json(
        "deployment/replayed", (HISTORIES / "deployment_lifecycle.json").read_text()
    )
    kinds = {e.WhichOneof("attributes") for e in history.events}
    assert "workflow_execution_update_accepted_event_attributes" in kinds  # scale/restart/delete
    assert "timer_started_event_attributes" in kinds  # health sweeps
    result = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    assert result.replay_failure is None


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_every_recorded_history_replays(path: Path) -> None:
    """Every file in tests/histories/, whoever recorded it (tests/record_*.py)."""
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
