"""`pipeline status [--watch]`'s text: stages, every task state, pool, breaker, cache and time against
the critical path — pure functions of a `describe` answer."""

from __future__ import annotations

from typing import Any

import pytest

from coderunner.models.pipeline import PipelineDescription, PipelineStatus, TaskStatus, TaskView
from coderunner.models.pipeline_ops import OpsPhase, OpsState
from coderunner.models.pipeline_qa import DecisionKind, DecisionRecord
from starter.views.pipelines import (
    counts_line,
    progress_line,
    progress_state,
    stages_line,
    status_text,
    time_line,
)

S = TaskStatus


def desc(stage: str = "dev", statuses: tuple[TaskStatus, ...] = (), **extra: Any) -> PipelineDescription:
    tasks = [TaskView(id=f"t{n}", status=st, attempt=1, cached=False, rank=n)
             for n, st in enumerate(statuses)]
    fields: dict[str, Any] = {
        "name": "p", "run": "r", "status": PipelineStatus.RUNNING, "reason": "", "stage": stage,
        "pool_size": 3, "running": 0, "ready": 0, "done": statuses.count(S.DONE), "failed": 0, "cached": 0,
        "tasks": tasks,
        "critical_path": ["t0"], "critical_path_s": 20.0, "elapsed_s": 12.5,
    }
    return PipelineDescription(**{**fields, **extra})


@pytest.mark.parametrize(
    ("stage", "ops", "line"),
    [
        ("pm", None, "stages: pm ▶ → dev → integration → ops"),
        ("dev", None, "stages: pm ✓ → dev ▶ → integration → ops"),
        ("integration", None, "stages: pm ✓ → dev ✓ → integration ▶ → ops"),
        ("ops", OpsState(deployment="d", version="r"), "stages: pm ✓ → dev ✓ → integration ✓ → ops ▶"),
        ("done", None, "stages: pm ✓ → dev ✓ → integration ✓"),  # no deploy: no Ops stage
        ("done", OpsState(deployment="d", version="r", phase=OpsPhase.PROMOTED),
         "stages: pm ✓ → dev ✓ → integration ✓ → ops ✓"),
    ],
)
def test_stages_line_marks_the_done_and_the_current(stage: str, ops: OpsState | None, line: str) -> None:
    assert stages_line(desc(stage, ops=ops)) == line


def test_counts_line_names_every_state_that_has_a_task_in_flow_order() -> None:
    statuses = (S.DONE, S.RUNNING, S.TESTING, S.READY, S.READY, S.RETRYING, S.DEAD, S.SKIPPED, S.WAITING)
    assert counts_line(desc(statuses=statuses)) == (
        "tasks (9): 1 running, 1 in QA, 2 queued, 1 retrying, 1 waiting, 1 done, 1 skipped, 1 dead"
    )
    assert counts_line(desc()) == "tasks (0): none yet"


def test_time_is_shown_against_the_critical_path_estimate() -> None:
    assert time_line(desc()) == "time: 12.5s elapsed against a critical path of 20s estimated (0.62x)"
    assert time_line(desc(critical_path_s=0.0)) == "time: 12.5s elapsed"


def test_status_text_has_pool_cache_breaker_and_time() -> None:
    text = status_text(desc(statuses=(S.DONE, S.DONE, S.RUNNING), cached=1, breaker="open (cooling down)"))
    assert "tasks (3): 1 running, 2 done; pool 3" in text
    assert "cache: 1 of 2 done tasks reused a recorded result" in text
    assert "(0.62x)" in text and "circuit breaker: open (cooling down)" in text


def test_progress_line_changes_with_the_work_not_the_clock() -> None:
    a = desc(statuses=(S.RUNNING, S.READY), breaker_phase="closed")
    later = desc(statuses=(S.RUNNING, S.READY), breaker_phase="closed", elapsed_s=13.5)
    moved = desc(statuses=(S.DONE, S.RUNNING), breaker_phase="closed")
    line = "[  12.5s] running (dev): 1 running, 1 queued; pool 3; 0 cached; breaker closed"
    assert progress_line(a) == line
    assert progress_state(a) == progress_state(later)  # what --watch compares: one line per change
    assert progress_state(moved) != progress_state(a)


def test_status_text_shows_each_decision_with_who_and_why() -> None:
    decisions = [
        DecisionRecord(kind=DecisionKind.RETRY, task="t1", actor="alice", reason="flaky mirror", at_s=3600.0,
                       changes="dev command changed; env keys: TOKEN"),
        DecisionRecord(kind=DecisionKind.SKIP, task="t2", actor="bob", reason="not needed", at_s=3661.0),
    ]
    text = status_text(desc(decisions=decisions))
    assert "decisions:\n" in text
    assert "  01:00:00 alice: retry t1 (dev command changed; env keys: TOKEN) — flaky mirror" in text
    assert "  01:01:01 bob: skip t2 — not needed" in text
    assert "decisions:" not in status_text(desc())
