"""Dev-step scratch copies: on the fast filesystem when the workspace fits, else beside the run; and a
step marked as ran never needs its scratch again (a reboot may empty a memory filesystem)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pipeline import PipelineActivities, StepMarks
from coderunner.pipeline import scratch
from coderunner.pipeline.scratch import candidates, fresh_scratch, remove_scratch
from coderunner.pipeline.workspace import snapshot
from tests.pipeline_helpers import WorkerDied, crash, one_step


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "pkg").mkdir(parents=True)
    (ws / "a.txt").write_text("a")
    (ws / "pkg" / "b.py").write_text("b")
    return ws


def test_the_copy_goes_to_the_fast_root_when_it_fits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(tmp_path / "fast"))
    ws, base = workspace(tmp_path), tmp_path / "run" / "steps" / "t-1"
    copy, before = fresh_scratch(ws, base)
    assert copy.parent == tmp_path / "fast" and copy == candidates(base)[0]
    assert before == snapshot(ws)  # same files, sizes and mtimes: changes are judged against it
    assert not base.exists()
    remove_scratch(base)
    assert not copy.exists()


def test_beside_the_run_when_it_does_not_fit_or_is_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, base = workspace(tmp_path), tmp_path / "run" / "steps" / "t-1"
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(tmp_path / "fast"))
    monkeypatch.setattr(scratch, "SHARE_OF_FREE", 10**18)
    assert fresh_scratch(ws, base)[0] == base
    monkeypatch.setenv(scratch.SCRATCH_ENV, "")
    assert candidates(base) == [base]
    assert fresh_scratch(ws, base)[0] == base


async def test_a_step_marked_ran_needs_no_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies after the command ran; the scratch is gone (removed once the step is marked ran,
    as a reboot would empty a memory filesystem): the retry records the outputs from the cache's
    blobs, without a re-run."""
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(tmp_path / "fast"))
    acts, step, root = await one_step(tmp_path, "scratchy", "echo ran >> out.txt")
    base = root / "steps" / "t-1"
    with monkeypatch.context() as patch:
        patch.setattr(PipelineActivities, "_outcome", crash)
        with pytest.raises(WorkerDied):
            await ActivityEnvironment().run(acts.dev_step, step)
    assert StepMarks(base).ran.exists()
    assert not candidates(base)[0].exists()  # gone as soon as the step was marked ran
    retry = ActivityEnvironment()
    retry.info = dataclasses.replace(retry.info, attempt=2)
    result = await retry.run(acts.dev_step, step)
    assert result.ok and list(result.outputs) == ["out.txt"]
    assert (root / "workspace" / "out.txt").read_text() == "0\nran\n"
    assert not candidates(base)[0].exists()


async def test_a_failed_command_leaves_no_scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(tmp_path / "fast"))
    acts, step, _ = await one_step(tmp_path, "failing", "exit 3")
    result = await ActivityEnvironment().run(acts.dev_step, step)
    assert not result.ok and "exit 3" in result.detail
    assert list((tmp_path / "fast").iterdir()) == []
