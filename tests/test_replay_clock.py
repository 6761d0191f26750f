"""A timer that fired means its moment has come, whatever clock the workflow task carries.

After a worker kill -9, the surviving worker once ran a rollout's code for a timer that had fired with
the clock of the task *before* it (it answered a status query over that history): the step "had not
ended", its timer was started over, and no worker could replay the history it wrote ([TMPRL1100]
Signal external WF machine vs TimerStarted). Here the same thing is made exact: a recorded history in
which the task that handles the first fired timer carries its predecessor's clock. Runs recorded
before the fix (no `rollout-timer-clock` / `autoscaler-timer-clock` marker) take the old path and
diverge; today's runs do not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowReplayResult

from workflows.registry import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def with_stale_clock(path: Path, gap_ms: int = 1000) -> WorkflowHistory:
    """The history, with the task after the first fired timer carrying the previous task's time."""
    history = WorkflowHistory.from_json(f"stale/{path.stem}", path.read_text())
    events = history.events
    fired = next(i for i, e in enumerate(events) if e.HasField("timer_fired_event_attributes"))
    before = [e for e in events[:fired] if e.HasField("workflow_task_started_event_attributes")][-1]
    after = next(e for e in events[fired:] if e.HasField("workflow_task_started_event_attributes"))
    assert after.event_time.ToMilliseconds() - before.event_time.ToMilliseconds() >= gap_ms  # a real gap
    after.event_time.CopyFrom(before.event_time)
    return history


async def replay(history: WorkflowHistory) -> WorkflowReplayResult:
    return await Replayer(
        workflows=WORKFLOWS, workflow_runner=WORKFLOW_RUNNER, data_converter=pydantic_data_converter
    ).replay_workflow(history, raise_on_replay_failure=False)


# the rollout's step timer, and the autoscaler's sync timer (same defect, same fix: TIMER_CLOCK)
TODAY = ["rollout_timer_clock_stepped_by_timers", "autoscaler_budget_timer_clock",
         "autoscaler_continue_as_new_timer_clock"]
BEFORE = ["rollout_patched_promoted", "autoscaler_budget_patched", "autoscaler_continue_as_new_patched"]


@pytest.mark.parametrize("stem", TODAY)
async def test_a_fired_timer_is_due_even_on_a_stale_clock(stem: str) -> None:
    path = HISTORIES / f"{stem}.json"
    assert (await replay(WorkflowHistory.from_json("as-recorded", path.read_text()))).replay_failure is None
    result = await replay(with_stale_clock(path))
    assert result.replay_failure is None, result.replay_failure


@pytest.mark.parametrize("stem", BEFORE)
async def test_runs_from_before_the_fix_diverge_on_a_stale_clock(stem: str) -> None:
    """The defect itself, kept visible: without the marker the old path starts the timer over."""
    result = await replay(with_stale_clock(HISTORIES / f"{stem}.json"))
    assert result.replay_failure is not None and "Nondeterminism" in str(result.replay_failure)


async def test_a_fix_attempt_is_due_when_its_backoff_timer_fired_even_on_a_stale_clock() -> None:
    """The pipeline's QA stage: a fix attempt waits out its backoff on a timer (0.2 s, 0.4 s…)."""
    result = await replay(with_stale_clock(HISTORIES / "pipeline_qa_example.json", gap_ms=400))
    assert result.replay_failure is None, result.replay_failure
