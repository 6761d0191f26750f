"""A dev step retried after a crash resumes where it was: a command that finished is never run again,
whether the crash came before or after its outputs were recorded (the activity, run directly)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pipeline import PipelineActivities, StepMarks
from coderunner.models.pipeline import DevStepRequest, PipelineRequest, PrepareRequest
from coderunner.pipeline.workspace import run_dir
from tests.pipeline_helpers import plan_of, task


class WorkerDied(Exception):
    pass


def crash(*_args: object) -> None:
    raise WorkerDied


def env_with_attempt(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


@pytest.mark.parametrize("crash_after", ["ran", "result"])
async def test_a_retry_never_reruns_a_finished_command(
    tmp_path: Path, crash_after: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "out.txt").write_text("0\n")
    spec = {**task("t", ["out.txt"]), "agent": {"dev": ["sh", "-c", "echo ran >> out.txt"]}}
    plan = plan_of(spec, name="recovery")
    runs = tmp_path / "runs"
    request = PipelineRequest(plan=plan, project_dir=str(project), run="r1", runs_dir=str(runs))
    acts = PipelineActivities()
    await env_with_attempt(1).run(acts.prepare, PrepareRequest(request=request))
    step = DevStepRequest(
        pipeline="recovery",
        run="r1",
        runs_dir=str(runs),
        project_dir=str(project),
        task=plan.tasks[0],
        attempt=1,
    )
    root = run_dir(runs, "recovery", "r1")
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
