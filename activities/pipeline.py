"""Pipeline activities: the PM stage's analysis and each task's dev step. Thin: the work is in
coderunner.pipeline (files, cache, sandboxed runner) and coderunner.decisions (the graph).

A dev step is idempotent per (task, attempt): it works in a scratch copy named by the attempt and
Temporal's activity attempt, so a retry after a worker crash starts clean; outputs land in the run's
workspace by content (atomic replace), so writing them twice changes nothing. Every start and finish
is appended to the run's journal.jsonl (what the crash test reads).
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import time
from pathlib import Path

import networkx as nx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from coderunner.config.home import home_dir
from coderunner.decisions.pipeline_graph import analyze, import_closure, runtime_file_graph
from coderunner.models.pipeline import (
    DevStepRequest,
    DevStepResult,
    FileGraph,
    PlanCycle,
    PrepareRequest,
)
from coderunner.models.pipeline_io import PrepareResult
from coderunner.pipeline.cache import ResultCache, cache_key
from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.runner import run_in_workspace
from coderunner.pipeline.workspace import changes, content_hashes, copy_tree, run_dir, snapshot

CACHE_DIR = "cache"


@functools.lru_cache(maxsize=16)
def _run_graph(path: str) -> tuple[frozenset[str], nx.DiGraph]:
    """A run's file graph, read once per worker process (it never changes during a run): the files
    and the run-time import graph. Large projects would otherwise re-parse it for every step."""
    graph = FileGraph.model_validate_json(Path(path).read_text())
    return frozenset(graph.files), runtime_file_graph(graph)


def _journal(root: Path, **entry: object) -> None:
    with (root / "journal.jsonl").open("a") as out:
        out.write(json.dumps({**entry, "at": round(time.time(), 4)}) + "\n")


class PipelineActivities:
    @activity.defn(name="pipeline_prepare")
    async def prepare(self, req: PrepareRequest) -> PrepareResult:
        """PM stage: the project's file graph (saved in the run dir, out of history), the task DAG,
        and the run's own copy of the project."""
        return await asyncio.to_thread(self._prepare, req)

    def _prepare(self, req: PrepareRequest) -> PrepareResult:
        r = req.request
        root = run_dir(r.runs_dir, r.plan.name, r.run)
        root.mkdir(parents=True, exist_ok=True)
        graph = file_graph(Path(r.project_dir))
        try:
            analysis = analyze(r.plan, graph)
        except PlanCycle as err:
            raise ApplicationError(str(err), type="PlanCycle", non_retryable=True) from err
        (root / "filegraph.json").write_text(graph.model_dump_json())
        workspace = copy_tree(Path(r.project_dir), root / "workspace")
        return PrepareResult(analysis=analysis, workspace=str(workspace), files=len(graph.files))

    @activity.defn(name="pipeline_dev_step")
    async def dev_step(self, req: DevStepRequest) -> DevStepResult:
        """Cache lookup, else run the agent in a scratch copy, check ownership, record outputs."""
        started = time.monotonic()
        root = run_dir(req.runs_dir, req.pipeline, req.run)
        workspace = root / "workspace"
        cache = ResultCache(Path(req.runs_dir) / CACHE_DIR)
        task = req.task
        files, imports = _run_graph(str(root / "filegraph.json"))
        named = [a for a in task.agent.argv() if a in files]
        roots = sorted({*task.owns, *named})
        inputs = content_hashes(workspace, [*roots, *import_closure(imports, roots)])
        key = cache_key(task, inputs)
        attempt = activity.info().attempt
        hit = cache.lookup(key)
        if hit is not None:
            cache.restore(hit, workspace)
            _journal(root, task=task.id, attempt=req.attempt, activity_attempt=attempt, event="cached")
            return DevStepResult(
                task=task.id,
                ok=True,
                cached=True,
                cache_key=key,
                outputs=hit,
                detail="cache hit: outputs reused, agent not run",
                duration_s=time.monotonic() - started,
            )
        scratch = root / "steps" / f"{task.id}-{req.attempt}-{attempt}"
        shutil.rmtree(scratch, ignore_errors=True)
        await asyncio.to_thread(copy_tree, workspace, scratch)
        before = await asyncio.to_thread(snapshot, scratch)
        _journal(root, task=task.id, attempt=req.attempt, activity_attempt=attempt, event="start")
        outcome = await run_in_workspace(
            task.agent.argv(),
            scratch,
            task.env,
            task.timeout_s(),
            hidden=[Path(req.runs_dir), home_dir()],
            tick=_heartbeat,
        )
        changed = changes(scratch, workspace, before, await asyncio.to_thread(snapshot, scratch))
        _journal(
            root,
            task=task.id,
            attempt=req.attempt,
            activity_attempt=attempt,
            event="finish",
            exit_code=outcome.exit_code,
        )
        result = DevStepResult(
            task=task.id, ok=False, cached=False, cache_key=key, duration_s=time.monotonic() - started
        )
        if outcome.timed_out or outcome.exit_code != 0:
            why = (
                f"timed out after {task.timeout_s():g}s" if outcome.timed_out else f"exit {outcome.exit_code}"
            )
            result.detail = f"dev command failed ({why}): {outcome.log_tail[-800:]}"
        elif outside := sorted(p for p in changed if p not in set(task.owns)):
            result.detail = f"changed files it does not own: {', '.join(outside)}"
        else:
            outputs = {
                p: (cache.put_file(scratch / p) if h is not None else None) for p, h in changed.items()
            }
            cache.record(key, outputs)
            cache.restore(outputs, workspace)
            result.ok, result.outputs = True, outputs
            result.detail = f"ran in {result.duration_s:.1f}s, {len(outputs)} file(s) changed"
        shutil.rmtree(scratch, ignore_errors=True)
        return result

    def all(self) -> list[object]:
        return [self.prepare, self.dev_step]


async def _heartbeat() -> None:
    activity.heartbeat()
