"""Pipelines survive a worker killed -9 and keep their history bounded (continue-as-new); task commands
run sandboxed (bubblewrap) with the host read-only and the state directory out of sight."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import yaml

from coderunner.models.pipeline import PipelineStatus
from coderunner.pipeline.runner import bwrap_path, run_in_workspace
from starter.sdk import CodeRunner
from tests.cli_helpers import REPO
from tests.conftest import CAN_AFTER
from tests.test_pipeline_workflow import journal, pipelines_in
from tests.worker_processes import WorkerProcesses


def fan_plan(tmp_path: Path, name: str, tasks: int, command: list[str], pool: int) -> Path:
    """`tasks` tasks in layers of 8; each depends on one task of the previous layer."""
    project = tmp_path / "project"
    project.mkdir()
    specs = []
    for n in range(tasks):
        (project / f"t{n}.txt").write_text(f"{n}\n")
        deps = [f"t{n - 8 - (n % 3)}"] if n >= 11 else []
        specs.append(
            {
                "id": f"t{n}",
                "owns": [f"t{n}.txt"],
                "estimate": 1 + (n % 4),
                "agent": {"dev": [*command, f"t{n}.txt"]},
                "depends_on": deps,
            }
        )
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump({"name": name, "project": "project", "pool": {"min": 2, "max": pool}, "tasks": specs})
    )
    return plan


def mid_step(events: list[dict], finished_at_least: int) -> bool:
    """At least that many steps finished and one is running now (started, not finished): killing the
    worker then interrupts a step (at 'two finished', all running steps may just have ended; the
    test then saw no interrupted step, 2 failures in 5 runs)."""
    finished = {(e["task"], e["attempt"]) for e in events if e["event"] == "finish"}
    started = {(e["task"], e["attempt"]) for e in events if e["event"] == "start"}
    return len(finished) >= finished_at_least and bool(started - finished)


@pytest.mark.parametrize("kill_after", [2, 14])  # early (first layers) and late (the long tail)
async def test_worker_killed_mid_pipeline_loses_no_task_and_reruns_no_finished_step(
    crash_workers: WorkerProcesses, tmp_path: Path, name: str, kill_after: int
) -> None:
    pipes = pipelines_in(crash_workers.cr, tmp_path / "home")  # its own result cache
    plan = fan_plan(tmp_path, name, 24, ["sh", "-c", 'sleep 0.6; echo done >> "$0"'], pool=4)
    first = crash_workers.start()
    workflow_id = await pipes.run(plan, "r1")
    deadline = time.monotonic() + 60
    while not mid_step(journal(pipes, workflow_id), kill_after):  # mid-pipeline, and mid-step
        assert time.monotonic() < deadline, crash_workers.log(1)
        await asyncio.sleep(0.02)
    crash_workers.kill9(first)
    crash_workers.start()
    result = await asyncio.wait_for(pipes.wait(workflow_id), 180)
    assert result.status == PipelineStatus.SUCCEEDED, result
    assert result.done == 24
    events = journal(pipes, workflow_id)
    finished = Counter((e["task"], e["attempt"]) for e in events if e["event"] == "finish")
    started = Counter(
        (e["task"], e["attempt"], e["activity_attempt"]) for e in events if e["event"] == "start"
    )
    assert set(finished.values()) == {1}, finished  # no dev step ran to the end twice
    assert len(finished) == 24  # and none was lost
    assert set(started.values()) == {1}  # a retry is a new activity attempt, never the same one again
    interrupted = {(t, a) for t, a, _ in started} - {(t, a) for (t, a) in finished}
    assert interrupted == set()  # every interrupted step was finished by a retry
    restarted = [k for k in started if k[2] > 1]
    workspace = Path(result.workspace)
    for n in range(24):  # each output written exactly once, even for steps killed mid-flight
        assert (workspace / f"t{n}.txt").read_text() == f"{n}\ndone\n"
    assert restarted and all(k[2] == 2 for k in restarted)  # the kill hit running steps; each retried once


async def test_history_stays_bounded_with_continue_as_new(cr: CodeRunner, tmp_path: Path, name: str) -> None:
    """The session server suggests continue-as-new after CAN_AFTER events (conftest): an 80-task plan
    makes ~4 events per task, so it must continue-as-new, and lose nothing doing so."""
    pipes = pipelines_in(cr, tmp_path / "home")
    plan = fan_plan(tmp_path, name, 80, ["sh", "-c", 'echo ok >> "$0"'], pool=10)
    workflow_id = await pipes.run(plan, "r1")
    result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
    assert result.status == PipelineStatus.SUCCEEDED and result.done == 80
    runs = []
    async for wf in cr.client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        runs.append(wf)
    assert len(runs) >= 2, "no continue-as-new happened"
    for wf in runs:
        history = await cr.client.get_workflow_handle(workflow_id, run_id=wf.run_id).fetch_history()
        assert len(history.events) < CAN_AFTER + 60  # bounded: the drain adds at most a pool's worth
    starts = Counter(e["task"] for e in journal(pipes, workflow_id) if e["event"] == "start")
    assert len(starts) == 80 and set(starts.values()) == {1}


async def test_task_commands_run_sandboxed(tmp_path: Path) -> None:
    assert bwrap_path(), "bubblewrap is required (`make install` installs it: apt-get install bubblewrap)"
    state = tmp_path / "state"
    (state / "secret").mkdir(parents=True)
    (state / "secret" / "codec.key").write_text("top secret")
    workspace = state / "runs" / "ws"
    workspace.mkdir(parents=True)
    outside = REPO / f".sandbox-probe-{uuid.uuid4().hex[:8]}"  # a host path outside /tmp
    private = f"/tmp/sandbox-probe-{uuid.uuid4().hex[:8]}"
    script = (
        f"cat {state}/secret/codec.key 2>/dev/null && echo READ-STATE; "
        f"echo x > {outside} 2>/dev/null && echo WROTE-OUTSIDE; "
        f"echo private > {private} && echo TMP-OK; "
        "echo mine > result.txt && echo WS-OK; "
        "echo PID=$$"
    )
    try:
        out = await run_in_workspace(["sh", "-c", script], workspace, {}, 30, hidden=[state])
        reached_host = outside.exists()
    finally:
        outside.unlink(missing_ok=True)
    assert out.isolated and out.exit_code == 0, out
    assert "READ-STATE" not in out.log_tail and "top secret" not in out.log_tail  # state dir hidden
    # the host is read-only: the write fails, or (a checkout under /tmp) lands in the private /tmp
    assert not reached_host and ("WROTE-OUTSIDE" not in out.log_tail or str(REPO).startswith("/tmp/"))
    assert "TMP-OK" in out.log_tail and not await asyncio.to_thread(os.path.exists, private)  # private /tmp
    assert "WS-OK" in out.log_tail and (workspace / "result.txt").read_text() == "mine\n"
    assert "PID=2" in out.log_tail or "PID=1" in out.log_tail  # its own PID namespace
