"""Replay deployment + rollout histories recorded before config references and config rollouts, and
of a config release (tests/record_config_histories.py): today's code must make the same decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


@pytest.mark.parametrize(
    ("file", "workflow_id"),
    [
        ("deployment_rollouts.json", "deployment/replayed-rollouts"),
        ("rollout_promoted.json", "rollout/replayed-rollouts/v2"),
        ("rollout_aborted.json", "rollout/replayed-rollouts/v3"),
        ("deployment_config_release.json", "deployment/replayed-config"),
        ("rollout_config_release.json", "rollout/replayed-config/v1+config-3"),
    ],
)
async def test_recorded_histories_replay(file: str, workflow_id: str) -> None:
    history = WorkflowHistory.from_json(workflow_id, (HISTORIES / file).read_text())
    result = await Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    ).replay_workflow(
        history
    )
    assert result.replay_failure is None


def test_config_release_history_carries_the_reference_never_a_value() -> None:
    """Recorded without the codec, so payloads are plain JSON: the reference is there, values are not."""
    for file in ("deployment_config_release.json", "rollout_config_release.json"):
        history = WorkflowHistory.from_json("x", (HISTORIES / file).read_text())
        raw = b"".join(e.SerializeToString() for e in history.events)
        assert b'"project":"shop"' in raw and b"not-in-history" not in raw and b'"FEATURE"' not in raw
    deployment = WorkflowHistory.from_json("x", (HISTORIES / "deployment_config_release.json").read_text())
    markers = [e for e in deployment.events if e.HasField("marker_recorded_event_attributes")]
    assert any(b"config-rollouts" in e.SerializeToString() for e in markers)  # the patched path
