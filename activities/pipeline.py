"""Pipeline activities: the PM stage's analysis and each task's dev step. Thin: the work is in
coderunner.pipeline (files, cache, sandboxed runner) and coderunner.decisions (the graph).

A dev step is idempotent per (task, attempt): it works in a fresh scratch copy named by the task and
attempt (on a memory filesystem when it fits: coderunner/pipeline/scratch.py), so a retry after a
worker crash starts clean; outputs land in the run's
workspace by content (atomic replace), so writing them twice changes nothing. Every start and finish
is appended to the run's journal.jsonl (what the crash test reads).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from pathlib import Path
from typing import Any, TypeVar

import networkx as nx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from coderunner.agents.base import AgentContext, AgentDeps, AgentError, AgentStatus
from coderunner.agents.registry import check_agents, load_agent
from coderunner.config.home import home_dir
from coderunner.decisions.pipeline_graph import analyze, import_closure, runtime_file_graph
from coderunner.models.pipeline import (
    DevStepRequest,
    DevStepResult,
    FileGraph,
    PlanCycle,
    PrepareRequest,
    TaskSpec,
)
from coderunner.models.pipeline_io import PrepareResult
from coderunner.pipeline.cache import ResultCache, cache_key
from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.runner import RunOutcome
from coderunner.pipeline.scratch import fresh_scratch, remove_scratch
from coderunner.pipeline.workspace import changes, content_hashes, copy_tree, run_dir, snapshot
from coderunner.telemetry.metrics import PIPELINE_ATTEMPTS, PIPELINE_CACHE_HITS, PIPELINE_CACHE_LOOKUPS

CACHE_DIR = "cache"
FEEDBACK_ENV = "CODERUNNER_FEEDBACK"  # a fix attempt's command sees the last failure's output here
FEEDBACK_CHARS = 4000


@functools.lru_cache(maxsize=16)
def _run_graph(path: str) -> tuple[frozenset[str], nx.DiGraph]:
    """A run's file graph, read once per worker process (it never changes during a run): the files
    and the run-time import graph. Large projects would otherwise re-parse it for every step."""
    graph = FileGraph.model_validate_json(Path(path).read_text())
    return frozenset(graph.files), runtime_file_graph(graph)


class _Ran(BaseModel):
    """What a finished command left: recorded before its outputs are processed."""

    key: str
    outcome: RunOutcome
    changed: dict[str, str | None]


M = TypeVar("M", bound=BaseModel)


class StepMarks:
    """Markers of one dev step (task, attempt), named by `base` in the run's steps dir, outside the
    sandbox's view (the command cannot see or forge them); each written atomically. The step's
    scratch copy is elsewhere (coderunner/pipeline/scratch.py) and only lives while it runs."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ran = base.with_name(base.name + ".ran.json")
        self.result = base.with_name(base.name + ".result.json")

    def read(self, path: Path, model: type[M]) -> M | None:
        return model.model_validate_json(path.read_text()) if path.exists() else None

    def write(self, path: Path, value: BaseModel) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(value.model_dump_json())
        os.replace(tmp, path)


def append_journal(root: Path, **entry: object) -> None:
    with (root / "journal.jsonl").open("a") as out:
        out.write(json.dumps({**entry, "at": round(time.time(), 4)}) + "\n")


class PipelineActivities:
    def __init__(self, deps: AgentDeps | None = None) -> None:
        """`deps`: what agents get from the worker (the config/secrets lookup)."""
        self.deps = deps or AgentDeps()

    @activity.defn(name="pipeline_prepare")
    async def prepare(self, req: PrepareRequest) -> PrepareResult:
        """PM stage: the project's file graph (saved in the run dir, out of history), the task DAG,
        and the run's own copy of the project."""
        return await asyncio.to_thread(self._prepare, req)

    def _prepare(self, req: PrepareRequest) -> PrepareResult:
        r = req.request
        problems = check_agents(r.plan)
        if problems:  # where the agents run: a plugin must be installed on the worker
            text = "; ".join(str(p) for p in problems)
            raise ApplicationError(f"plan refused: {text}", type="PlanAgents", non_retryable=True)
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
        """A recorded result, else a cache hit, else run the agent in a scratch copy, check ownership
        and record the outputs. Markers beside the scratch dir (outside the sandbox's view) make a
        retry after a crash resume where the step was: a finished command is never run again."""
        started = time.monotonic()
        root = run_dir(req.runs_dir, req.pipeline, req.run)
        workspace = root / "workspace"
        cache = ResultCache(Path(req.runs_dir) / CACHE_DIR)
        task = req.task
        marks = StepMarks(root / "steps" / f"{task.id}-{req.attempt}")
        journal = functools.partial(
            append_journal, root, task=task.id, attempt=req.attempt, activity_attempt=activity.info().attempt
        )
        done = marks.read(marks.result, DevStepResult)
        if done is not None:  # finished before a crash lost the completion
            remove_scratch(marks.base)  # a worker killed mid-step may have left it
            cache.restore(done.outputs, workspace)
            journal(event="recovered")
            return done
        ran = marks.read(marks.ran, _Ran)
        if ran is None:
            key = self._key(root, workspace, task)
            hit = cache.lookup(key)
            PIPELINE_CACHE_LOOKUPS.labels(req.pipeline).inc()
            if hit is not None:
                cache.restore(hit, workspace)
                journal(event="cached")
                PIPELINE_CACHE_HITS.labels(req.pipeline).inc()
                PIPELINE_ATTEMPTS.labels(req.pipeline, "dev", "cached").inc()
                return DevStepResult(
                    task=task.id,
                    ok=True,
                    cached=True,
                    cache_key=key,
                    outputs=hit,
                    detail="cache hit: outputs reused, agent not run",
                    duration_s=time.monotonic() - started,
                )
            ran = await self._run(req, marks, key, workspace, cache, journal)
        else:
            remove_scratch(marks.base)  # a worker killed mid-step may have left it
        result = self._outcome(task, ran, cache, time.monotonic() - started)
        marks.write(marks.result, result)
        PIPELINE_ATTEMPTS.labels(req.pipeline, "dev", "ok" if result.ok else "failed").inc()
        cache.restore(result.outputs, workspace)
        return result

    def _key(self, root: Path, workspace: Path, task: TaskSpec) -> str:
        files, imports = _run_graph(str(root / "filegraph.json"))
        named = [a for a in task.agent.argv() if a in files]
        roots = sorted({*task.owns, *named})
        try:
            identity = load_agent(task.agent.kind, self.deps).cache_identity(task)
        except AgentError as err:
            raise ApplicationError(str(err), type="PlanAgents", non_retryable=True) from err
        except Exception as err:  # an agent's config lookup failing: it may work on a retry
            raise ApplicationError(f"agent {task.agent.kind}: {err}") from err
        return cache_key(task, content_hashes(workspace, [*roots, *import_closure(imports, roots)]), identity)

    async def _run(
        self,
        req: DevStepRequest,
        marks: StepMarks,
        key: str,
        workspace: Path,
        cache: ResultCache,
        journal: Any,
    ) -> _Ran:
        """Copy the workspace, run the task's agent in the sandbox, keep the contents of the files it
        changed that it owns (in the cache's blobs) and mark it ran, before any output is judged,
        so a crash from here on never runs it again and never needs the scratch copy."""
        scratch, before = await asyncio.to_thread(fresh_scratch, workspace, marks.base)
        try:  # the scratch goes as soon as the step is marked ran, or fails, or is cancelled: it may be RAM
            journal(event="start")
            task = req.task
            env = {**task.env, FEEDBACK_ENV: req.feedback[-FEEDBACK_CHARS:]} if req.feedback else task.env
            agent = load_agent(task.agent.kind, self.deps)
            context = AgentContext(
                task=task,
                workspace=scratch,
                env=env,
                feedback=req.feedback[-FEEDBACK_CHARS:],
                timeout_s=task.timeout_s(),
                hidden=[Path(req.runs_dir), home_dir()],
                tick=_heartbeat,
            )
            said = await agent.run(context)
            if said.status == AgentStatus.RETRYABLE:  # retried by Temporal; the task's attempt is not spent
                journal(event="retryable")
                raise ApplicationError(f"agent {task.agent.kind}: {said.log[-800:]}", type="AgentRetryable")
            ok = said.status == AgentStatus.OK
            code = said.exit_code if said.exit_code is not None else (0 if ok else 1)
            outcome = RunOutcome(
                exit_code=code if ok or code != 0 else 1, timed_out=said.timed_out, log_tail=said.log,
                isolated=said.isolated,
            )
            ran = await asyncio.to_thread(self._ran, key, outcome, scratch, workspace, before, task, cache)
            marks.write(marks.ran, ran)
            journal(event="finish", exit_code=outcome.exit_code)
        finally:
            remove_scratch(marks.base)
        return ran

    def _ran(
        self,
        key: str,
        outcome: RunOutcome,
        scratch: Path,
        workspace: Path,
        before: dict[str, tuple[int, int]],
        task: TaskSpec,
        cache: ResultCache,
    ) -> _Ran:
        changed = changes(scratch, workspace, before, snapshot(scratch))
        if outcome.exit_code == 0 and not outcome.timed_out:
            for path, digest in changed.items():
                if digest is not None and path in task.owns:
                    cache.put_file(scratch / path)
        return _Ran(key=key, outcome=outcome, changed=changed)

    def _outcome(self, task: TaskSpec, ran: _Ran, cache: ResultCache, took: float) -> DevStepResult:
        result = DevStepResult(task=task.id, ok=False, cached=False, cache_key=ran.key, duration_s=took)
        outcome = ran.outcome
        if outcome.timed_out or outcome.exit_code != 0:
            why = (
                f"timed out after {task.timeout_s():g}s" if outcome.timed_out else f"exit {outcome.exit_code}"
            )
            result.detail = f"dev command failed ({why}): {outcome.log_tail[-800:]}"
        elif outside := sorted(p for p in ran.changed if p not in set(task.owns)):
            result.detail = f"changed files it does not own: {', '.join(outside)}"
        else:  # every changed file is owned: its contents are in the blobs since `_ran`
            outputs = dict(ran.changed)
            if task.agent.qa is None:  # else the QA step records them once it has passed
                cache.record(ran.key, outputs)
            result.ok, result.outputs = True, outputs
            result.detail = f"ran in {took:.1f}s, {len(outputs)} file(s) changed"
        return result

    def all(self) -> list[object]:
        return [self.prepare, self.dev_step]


async def _heartbeat() -> None:
    activity.heartbeat()
