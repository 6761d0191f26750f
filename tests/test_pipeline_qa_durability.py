"""A worker killed -9 mid-QA loses nothing: the QA step is retried on the next worker, the task's
attempt is not spent, its dev step does not run again, and the run finishes."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from coderunner.models.pipeline import PipelineStatus, TaskStatus
from starter.sdk.pipelines import Pipelines
from tests.pipeline_helpers import journal_of, sh, steps, write_plan
from tests.polling import until
from tests.worker_processes import WorkerProcesses


async def test_worker_killed_mid_qa_loses_nothing(
    crash_workers: WorkerProcesses, tmp_path: Path, name: str
) -> None:
    tasks = [
        {
            "id": f"t{n}",
            "owns": [f"t{n}.txt"],
            "agent": {"dev": sh(f"echo {n} > t{n}.txt"), "qa": sh(f"sleep 2; grep -q {n} t{n}.txt")},
            "estimate": 1,
        }
        for n in range(3)
    ]
    plan = write_plan(tmp_path, name, tasks, pool={"min": 3, "max": 3}, failures={"backoff_s": 0.1})
    cr = crash_workers.cr
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    first = crash_workers.start()
    workflow_id = await pipes.run(plan, "r1")
    await until(
        lambda: asyncio.sleep(0, journal_of(pipes.runs_dir, workflow_id)),
        lambda entries: len(steps(entries, "qa-start")) == 3,
        "every QA step running",
    )
    crash_workers.kill9(first)
    crash_workers.start()
    result = await asyncio.wait_for(pipes.wait(workflow_id), 180)
    assert result.status == PipelineStatus.SUCCEEDED, result
    entries = journal_of(pipes.runs_dir, workflow_id)
    assert Counter(steps(entries, "finish")) == {(f"t{n}", 1): 1 for n in range(3)}  # dev ran once each
    assert len(steps(entries, "qa-start")) > 3  # the kill hit QA steps: they ran again on the new worker
    assert Counter(steps(entries, "qa-finish")) == {(f"t{n}", 1): 1 for n in range(3)}  # QA finished once
    desc = await pipes.describe(workflow_id)
    expected = {(f"t{n}", TaskStatus.DONE, 1) for n in range(3)}  # the kill spent no attempt
    assert {(t.id, t.status, t.attempt) for t in desc.tasks} == expected
    assert desc.breaker_opened == 0 and desc.dead_letters == []
