"""Replay deployment + rollout histories recorded before config references and config rollouts
(tests/record_config_histories.py): the config work must make the same decisions on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


@pytest.mark.parametrize(
    ("file", "workflow_id"),
    [
        ("deployment_rollouts.json", "deployment/replayed-rollouts"),
        ("rollout_promoted.json", "rollout/replayed-rollouts/v2"),
        ("rollout_aborted.json", "rollout/replayed-rollouts/v3"),
    ],
)
async def test_pre_config_histories_replay(file: str, workflow_id: str) -> None:
    history = WorkflowHistory.from_json(workflow_id, (HISTORIES / file).read_text())
    result = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history
    )
    assert result.replay_failure is None
