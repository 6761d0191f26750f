"""Delivery pipelines from Python: analyse a plan offline, run it, watch, list, cancel.

    pipes = Pipelines(cr.client, cr.settings)            # or CodeRunner(...).pipelines
    report = pipes.analyze("examples/pipeline/plan.yaml")  # nothing runs
    run = await pipes.run("examples/pipeline/plan.yaml")   # -> workflow id pipeline/<name>/<run>
    result = await pipes.wait(run)

A plan is validated and analysed here, before anything starts: a bad plan or a dependency cycle is a
UserError (exit 2) and no workflow is started.
"""

from __future__ import annotations

import asyncio
import secrets as _random_ids
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
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
from coderunner.pipeline.filegraph import file_graph
from coderunner.pipeline.planfile import PlanInvalid, load_plan
from starter.sdk.errors import OperationError, UserError
from workflows.pipeline import PipelineWorkflow

RUNS_DIR = "pipelines"


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
        request = PipelineRequest(plan=plan, project_dir=str(project), run=run, runs_dir=str(self.runs_dir))
        handle = await self.client.start_workflow(
            PipelineWorkflow.run,
            PipelineInput(request=request),
            id=workflow_id_for(plan.name, run),
            task_queue=self.settings.task_queue,
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
        try:
            return await self.handle(workflow_id).query(PipelineWorkflow.describe)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"no pipeline run {workflow_id!r}: `coderunner pipeline list`") from err
            if err.status == RPCStatusCode.FAILED_PRECONDITION:
                raise OperationError(
                    f"no worker is polling {self.settings.task_queue!r}: run `coderunner up`"
                ) from err
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
