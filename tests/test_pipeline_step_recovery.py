"""A dev step retried after a crash resumes where it was: a command that finished is never run again,
whether the crash came before or after its outputs were recorded (the activity, run directly)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pipeline import PipelineActivities, StepMarks
from tests.pipeline_helpers import WorkerDied, crash, one_step


def env_with_attempt(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


@pytest.mark.parametrize("crash_after", ["ran", "result"])
async def test_a_retry_never_reruns_a_finished_command(
    tmp_path: Path, crash_after: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    acts, step, root = await one_step(tmp_path, "recovery", "echo ran >> out.txt")
    if crash_after == "ran":  # the command finished; the worker dies before its outputs are processed
        with monkeypatch.context() as patch:
            patch.setattr(PipelineActivities, "_outcome", crash)
            with pytest.raises(WorkerDied):
                await env_with_attempt(1).run(acts.dev_step, step)
        assert StepMarks(root / "steps" / "t-1").ran.exists()
        assert (root / "workspace" / "out.txt").read_text() == "0\n"
    else:  # the step finished; the worker dies before Temporal hears of it
        first = await env_with_attempt(1).run(acts.dev_step, step)
        assert first.ok and not first.cached
    second = await env_with_attempt(2).run(acts.dev_step, step)
    assert second.ok and list(second.outputs) == ["out.txt"]
    assert (root / "workspace" / "out.txt").read_text() == "0\nran\n"
    events = [json.loads(line)["event"] for line in (root / "journal.jsonl").read_text().splitlines()]
    assert events.count("start") == 1 and events.count("finish") == 1
    assert events[-1] == "recovered" if crash_after == "result" else events == ["start", "finish"]
