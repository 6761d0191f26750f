"""The stage a run shows (`describe`, `pipeline status`, the Web UI's details), derived from its state."""

from __future__ import annotations

from typing import Any

import pytest

from coderunner.decisions.pipeline_stage import stage_of
from coderunner.models.pipeline import PipelineState, PipelineStatus, PlanAnalysis, TaskState, TaskStatus
from coderunner.models.pipeline_ops import OpsPhase, OpsState

S, R = TaskStatus, PipelineStatus.RUNNING
ANALYSIS = PlanAnalysis(
    tasks=["a", "b"], edges=[], batches=[["a", "b"]], critical_path=["a"], critical_path_s=1, total_work_s=2,
    priority={"a": 1, "b": 1}, descendants={"a": 0, "b": 0}, rank={"a": 1, "b": 2},
)
ROLLING_OUT = OpsState(deployment="d", version="r", phase=OpsPhase.ROLLING_OUT)


def state(a: TaskStatus, b: TaskStatus, status: PipelineStatus = R, **extra: Any) -> PipelineState:
    tasks = {"a": TaskState(status=a), "b": TaskState(status=b)}
    return PipelineState(analysis=ANALYSIS, tasks=tasks, status=status, **extra)


@pytest.mark.parametrize(
    ("s", "has_integration", "stage"),
    [
        (PipelineState(), True, "pm"),
        (state(S.RUNNING, S.READY), True, "dev"),
        (state(S.DONE, S.TESTING), True, "dev"),  # QA steps belong to the dev stage
        (state(S.DONE, S.DEAD), True, "dev"),  # a dead letter waits: not yet integration
        (state(S.DONE, S.SKIPPED), True, "integration"),
        (state(S.DONE, S.DONE), False, "dev"),  # no integration command: the loop is about to end
        (state(S.DONE, S.DONE, integration="passed"), True, "dev"),
        (state(S.DONE, S.DONE, ops=ROLLING_OUT), True, "ops"),
        (state(S.DONE, S.DONE, PipelineStatus.SUCCEEDED), True, "done"),
        (state(S.DONE, S.FAILED, PipelineStatus.FAILED), True, "done"),
    ],
)
def test_stage_of(s: PipelineState, has_integration: bool, stage: str) -> None:
    assert stage_of(s, has_integration) == stage
