"""Delivery pipelines from Python: analyse a plan offline, run it, watch, list, cancel.

    pipes = Pipelines(cr.client, cr.settings)            # or CodeRunner(...).pipelines
    report = pipes.analyze("examples/pipeline/plan.yaml")  # nothing runs
    run = await pipes.run("examples/pipeline/plan.yaml")   # -> workflow id pipeline/<name>/<run>
    result = await pipes.wait(run)
    await pipes.skip(run, "poison", reason="flaky upstream", dependents=SkipMode.PROCEED)  # a dead letter

A plan is validated and analysed here, before anything starts: a bad plan or a dependency cycle is a
UserError (exit 2) and no workflow is started.
"""

from __future__ import annotations

import asyncio
import secrets as _random_ids
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from coderunner.config.settings import Settings
from coderunner.decisions.pipeline_graph import analyze
from coderunner.models import search_attributes as sa
from coderunner.models.pipeline import (
    PipelineDescription,
    PipelineInput,
    PipelineRequest,
    PipelineResult,
    PipelineStatus,
    PlanAnalysis,
    PlanCycle,
    PlanSpec,
    workflow_id_for,
)
from coderunner.models.pipeline_qa import (
    AbortDecision,
    DeadLetter,
    DecisionResult,
    RetryDecision,
    SkipDecision,
    SkipMode,
)
from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.planfile import PlanInvalid, load_plan
from starter.sdk.errors import OperationError, UserError, describe_validation, update_failure
from starter.sdk.querying import ask
from workflows.options import WORKFLOW_TASK_TIMEOUT
from workflows.pipeline import PipelineWorkflow

RUNS_DIR = "pipelines"
Command = list[str] | str  # module-level aliases: inside the class `list` is a method
DeadLetters = list[DeadLetter]


def load_and_analyze(path: str | Path) -> tuple[PlanSpec, Path, PlanAnalysis]:
    """Validate the plan and analyse its project, or raise UserError with every problem."""
    try:
        plan, project = load_plan(path)
        return plan, project, analyze(plan, file_graph(project))
    except (PlanInvalid, PlanCycle) as err:
        raise UserError(str(err)) from err


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random_ids.token_hex(2)


class Pipelines:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def runs_dir(self) -> Path:
        return self.settings.home / RUNS_DIR

    @property
    def releases_dir(self) -> Path:
        """Where the Ops stage releases a run's workspace: beside the state dir, never inside it
        (sandboxed apps cannot see the state dir), e.g. `.coderunner-releases` next to `.coderunner`;
        or CODERUNNER_RELEASES_DIR (docker-compose: a volume the workers and the host share)."""
        if self.settings.releases_dir is not None:
            return self.settings.releases_dir
        home = self.settings.home.resolve()
        return home.parent / f".{home.name.lstrip('.')}-releases"

    def analyze(self, path: str | Path) -> PlanAnalysis:
        return load_and_analyze(path)[2]

    def handle(self, workflow_id: str) -> WorkflowHandle[PipelineWorkflow, PipelineResult]:
        return self.client.get_workflow_handle_for(PipelineWorkflow.run, workflow_id)

    async def run(
        self,
        path: str | Path,
        run: str | None = None,
        prepared: tuple[PlanSpec, Path, PlanAnalysis] | None = None,
    ) -> str:
        """Start a run of the plan; returns its workflow id `pipeline/<name>/<run>`. `prepared` is
        `load_and_analyze(path)` when the caller has already done it (the CLI, before connecting)."""
        plan, project, analysis = prepared or load_and_analyze(path)
        run = run or new_run_id()
        request = PipelineRequest(
            plan=plan,
            project_dir=str(project),
            run=run,
            runs_dir=str(self.runs_dir),
            releases_dir=str(self.releases_dir),
        )
        handle = await self.client.start_workflow(
            PipelineWorkflow.run,
            PipelineInput(request=request),
            id=workflow_id_for(plan.name, run),
            task_queue=self.settings.task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,  # a task lost with its worker is retried within 3 s, not 10
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.PIPELINE, plan.name),
                    SearchAttributePair(sa.STATUS, PipelineStatus.ANALYZING.value),
                    SearchAttributePair(sa.PIPELINE_STAGE, "pm"),
                ]
            ),
            static_summary=f"Pipeline **{plan.name}** run {run}: {len(plan.tasks)} tasks",
            static_details=(
                f"Builds {project.name} task by task, highest critical-path priority first, on a pool of "
                f"{plan.pool.min}-{plan.pool.max} workers; the critical path "
                f"{' → '.join(analysis.critical_path)} is estimated at {analysis.critical_path_s:g}s."
            ),
        )
        return handle.id

    async def resolve(self, name_or_id: str) -> str:
        """A workflow id from `pipeline/<name>/<run>`, `<name>/<run>` or `<name>` (its latest run)."""
        if name_or_id.startswith("pipeline/"):
            return name_or_id
        if "/" in name_or_id:
            return f"pipeline/{name_or_id}"
        rows = await self.list(name=name_or_id)
        if not rows:
            raise UserError(f"no pipeline named {name_or_id!r}: `coderunner pipeline list` shows what exists")
        return str(rows[0]["workflow_id"])

    async def describe(self, name_or_id: str) -> PipelineDescription:
        workflow_id = await self.resolve(name_or_id)
        handle = self.handle(workflow_id)
        try:
            return await ask(lambda: handle.query(PipelineWorkflow.describe), f"pipeline run {workflow_id}",
                             self.settings.task_queue)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"no pipeline run {workflow_id!r}: `coderunner pipeline list`") from err
            raise

    async def wait(self, name_or_id: str) -> PipelineResult:
        workflow_id = await self.resolve(name_or_id)
        try:
            result = await self.handle(workflow_id).result()
        except WorkflowFailureError as err:
            raise OperationError(f"pipeline {workflow_id} failed: {err.cause}") from err
        return result

    async def watch(self, name_or_id: str, every_s: float = 1.0) -> Any:
        """Yield descriptions until the run ends (an async generator)."""
        workflow_id = await self.resolve(name_or_id)
        while True:
            desc = await self.describe(workflow_id)
            yield desc
            if desc.stage == "done" or desc.status not in (PipelineStatus.RUNNING, PipelineStatus.ANALYZING):
                return
            await asyncio.sleep(every_s)

    async def list(self, name: str | None = None) -> list[dict[str, Any]]:
        query = 'WorkflowType = "PipelineWorkflow"'
        if name:
            query += f' AND CodeRunnerPipeline = "{name}"'
        rows = []
        async for wf in self.client.list_workflows(query):
            attrs = wf.typed_search_attributes
            rows.append(
                {
                    "workflow_id": wf.id,
                    "name": attrs.get(sa.PIPELINE),
                    "status": attrs.get(sa.STATUS),
                    "stage": attrs.get(sa.PIPELINE_STAGE),
                    "started": wf.start_time.strftime("%Y-%m-%d %H:%M:%S") if wf.start_time else None,
                    "execution": wf.status.name.lower() if wf.status else None,
                }
            )
        return sorted(rows, key=lambda r: r["started"] or "", reverse=True)

    async def cancel(self, name_or_id: str, reason: str) -> str:
        workflow_id = await self.resolve(name_or_id)
        desc = await self.describe(workflow_id)
        if desc.stage == "done":
            raise UserError(f"pipeline run {workflow_id} has already ended ({desc.status.value})")
        await self.handle(workflow_id).signal(PipelineWorkflow.cancel, reason)
        return workflow_id

    # ---- dead letters: a person's decisions ------------------------------------------------------

    async def dead_letters(self, name_or_id: str) -> DeadLetters:
        """The run's dead letters, oldest first (tasks that failed every attempt, or integration)."""
        return (await self.describe(name_or_id)).dead_letters

    async def dead_letter(self, name_or_id: str, task: str) -> DeadLetter:
        letters = await self.dead_letters(name_or_id)
        found = next((d for d in letters if d.task == task), None)
        if found is None:
            known = ", ".join(sorted(d.task for d in letters)) or "none"
            raise UserError(f"{task!r} is not a dead letter of this run (dead letters: {known})")
        return found

    async def retry(
        self,
        name_or_id: str,
        task: str,
        reason: str,
        actor: str = "sdk",
        dev: Command | None = None,
        env: dict[str, str] | None = None,
    ) -> DecisionResult:
        """Run a dead letter again (a fresh round of attempts), optionally with a changed command/env."""
        decision = _decision(
            RetryDecision, {"task": task, "reason": reason, "actor": actor, "dev": dev, "env": env or {}}
        )
        return await self._decide(name_or_id, PipelineWorkflow.dlq_retry, decision)

    async def skip(
        self,
        name_or_id: str,
        task: str,
        reason: str,
        dependents: SkipMode | str = SkipMode.PROCEED,
        actor: str = "sdk",
    ) -> DecisionResult:
        """Skip a dead letter; its dependents proceed (as if it were done) or are skipped too."""
        decision = _decision(
            SkipDecision, {"task": task, "reason": reason, "actor": actor, "dependents": dependents}
        )
        return await self._decide(name_or_id, PipelineWorkflow.dlq_skip, decision)

    async def abort(self, name_or_id: str, reason: str, actor: str = "sdk") -> DecisionResult:
        """Stop the run: nothing new starts, running steps are cancelled."""
        decision = _decision(AbortDecision, {"reason": reason, "actor": actor})
        return await self._decide(name_or_id, PipelineWorkflow.abort, decision)

    async def _decide(self, name_or_id: str, update: Any, decision: Any) -> DecisionResult:
        workflow_id = await self.resolve(name_or_id)
        desc = await self.describe(workflow_id)
        if desc.stage == "done":
            raise UserError(
                f"pipeline run {workflow_id} has already ended ({desc.status.value}): nothing to decide"
            )
        try:
            result: DecisionResult = await self.handle(workflow_id).execute_update(update, decision)
        except WorkflowUpdateFailedError as err:
            raise update_failure(err) from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"pipeline run {workflow_id} has already ended: nothing to decide") from err
            raise
        return result


def _decision(model: Any, fields: dict[str, Any]) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        raise UserError(describe_validation(err, "decision", model)) from err
