"""Pipeline QA and integration steps: a command run in the sandbox over a copy of the run's workspace.

The copy is thrown away afterwards, so a QA command can never change the workspace (nor another
task's files); running it twice is harmless, which makes the step idempotent. When a task's QA
passes, its dev step's outputs are recorded in the result cache (a task with a QA command is cached
only once it has passed). Each step is appended to the run's journal.jsonl.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from temporalio import activity

from activities.pipeline import CACHE_DIR, append_journal
from coderunner.config.home import home_dir
from coderunner.models.pipeline_qa import QaStepRequest, QaStepResult
from coderunner.pipeline.cache import ResultCache
from coderunner.pipeline.runner import run_in_workspace
from coderunner.pipeline.workspace import copy_tree, run_dir
from coderunner.telemetry.metrics import PIPELINE_ATTEMPTS

DETAIL_CHARS = 1500


class PipelineQaActivities:
    @activity.defn(name="pipeline_qa_step")
    async def qa_step(self, req: QaStepRequest) -> QaStepResult:
        started = time.monotonic()
        root = run_dir(req.runs_dir, req.pipeline, req.run)
        scratch = root / "steps" / f"{req.task.lstrip('@')}-{req.attempt}-{req.stage}"
        shutil.rmtree(scratch, ignore_errors=True)
        await asyncio.to_thread(copy_tree, root / "workspace", scratch)
        append_journal(root, task=req.task, attempt=req.attempt, event=f"{req.stage}-start")
        try:
            outcome = await run_in_workspace(
                req.command,
                scratch,
                req.env,
                req.timeout_s,
                hidden=[Path(req.runs_dir), home_dir()],
                tick=_beat,
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        ok = outcome.exit_code == 0 and not outcome.timed_out
        PIPELINE_ATTEMPTS.labels(req.pipeline, req.stage, "ok" if ok else "failed").inc()
        append_journal(
            root, task=req.task, attempt=req.attempt, event=f"{req.stage}-finish", exit_code=outcome.exit_code
        )
        if ok:
            if req.cache_key:
                ResultCache(Path(req.runs_dir) / CACHE_DIR).record(req.cache_key, req.outputs)
            detail = f"{req.stage} passed"
        else:
            why = f"timed out after {req.timeout_s:g}s" if outcome.timed_out else f"exit {outcome.exit_code}"
            detail = f"{req.stage} failed ({why}): {outcome.log_tail[-DETAIL_CHARS:]}"
        return QaStepResult(task=req.task, ok=ok, detail=detail, duration_s=time.monotonic() - started)

    def all(self) -> list[object]:
        return [self.qa_step]


async def _beat() -> None:
    activity.heartbeat()
