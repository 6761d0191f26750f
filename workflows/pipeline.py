"""PipelineWorkflow (id `pipeline/<name>/<run>`): PM stage (analysis) then Dev stage (scheduling).

PM: one activity analyses the project (file graph out of history, in the run dir) and returns the
task DAG with its batches, critical path and ranks (`decisions.pipeline_graph.analyze`).
Dev: the workflow's ready queue is the source of truth. Each time a task finishes it asks
`decisions.pipeline_schedule.to_dispatch` which ready tasks to start — highest rank first, on a pool
whose size follows the queue depth between the plan's min and max — and starts one dev-step activity
per task (id `<task>-<attempt>`, Temporal priority from the rank as a hint, timeouts and heartbeat
sized to the command). A failed task blocks its dependents; independent work goes on.

History stays bounded: when Temporal suggests continue-as-new, the workflow stops dispatching, lets
the running steps finish (they are activities of this run), and continues as new with the state of
every task. A 500-task plan is ~4 events per task, so with the server's default threshold it
continues-as-new a few times at most; the pause costs at most one longest running step each time.
Issue #12 hooks: the per-task `attempt` (fix attempts), a failed step's `detail` (QA feedback), and
`_finish` is the one place a step's outcome changes state (dead letters, circuit breaker).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.pipeline import (
        DevStepRequest,
        DevStepResult,
        PipelineDescription,
        PipelineInput,
        PipelineResult,
        PipelineState,
        PipelineStatus,
        PlanAnalysis,
        PrepareRequest,
        TaskState,
        TaskStatus,
        TaskView,
    )
    from coderunner.models.pipeline_io import PrepareResult


# decisions are imported inside the sandbox: its determinism checks apply to them
from coderunner.decisions.pipeline_schedule import (
    blocked_tasks,
    pipeline_status,
    pool_size,
    priority_key,
    ready_queue,
    to_dispatch,
)

PREPARE_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=["PlanCycle"])
DEV_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
DEV_HEARTBEAT = timedelta(seconds=10)


@workflow.defn
class PipelineWorkflow:
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        self._req = inp.request
        self._s: PipelineState = inp.state or PipelineState()
        self._cancelled = False
        self._cancel_reason = ""
        self._handles: dict[str, workflow.ActivityHandle[DevStepResult]] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._changed = False

    @property
    def _name(self) -> str:
        return self._req.plan.name

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        if self._s.analysis is None:
            self._s.started_s = workflow.time()
            self._publish("pm")
            if not await self._prepare():
                return self._result()
        self._publish("dev")
        await self._dev_stage()
        self._s.status = pipeline_status(self._s.tasks, True, self._cancelled)
        if self._s.status == PipelineStatus.RUNNING:  # draining for continue-as-new
            self._s.runs += 1
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(inp.model_copy(update={"state": self._s}))
        if self._cancelled:
            self._s.reason = f"cancelled: {self._cancel_reason}"
        self._publish("done")
        return self._result()

    async def _prepare(self) -> bool:
        try:
            prep = await workflow.execute_activity_method(
                PipelineActivities.prepare,
                PrepareRequest(request=self._req),
                summary=f"analyse the imports of {self._name} and plan its {len(self._req.plan.tasks)} tasks",
                start_to_close_timeout=timedelta(minutes=10),
                retry_policy=PREPARE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            self._s.status = PipelineStatus.FAILED
            self._s.reason = cause.message if isinstance(cause, ApplicationError) else str(err)
            self._publish("pm")
            return False
        assert isinstance(prep, PrepareResult)
        self._s.analysis = prep.analysis
        self._s.tasks = {t: TaskState() for t in prep.analysis.tasks}
        return True

    async def _dev_stage(self) -> None:
        draining = False
        while True:
            if not self._cancelled and not draining:
                for task_id in to_dispatch(self._analysis, self._s.tasks, self._req.plan.pool):
                    self._start(task_id)
            running = len(self._handles)
            self._s.max_pool = max(self._s.max_pool, running)
            self._details()
            if running == 0 and (
                self._cancelled or draining or not ready_queue(self._analysis, self._s.tasks)
            ):
                return
            self._changed = False
            await workflow.wait_condition(lambda: self._changed)
            if workflow.info().is_continue_as_new_suggested():
                draining = True

    @property
    def _analysis(self) -> PlanAnalysis:
        assert self._s.analysis is not None
        return self._s.analysis

    def _start(self, task_id: str) -> None:
        spec = self._req.plan.task(task_id)
        state = self._s.tasks[task_id]
        state.status, state.attempt, state.started_s = TaskStatus.RUNNING, state.attempt + 1, workflow.time()
        rank = self._analysis.rank[task_id]
        handle = workflow.start_activity_method(
            PipelineActivities.dev_step,
            DevStepRequest(
                pipeline=self._name,
                run=self._req.run,
                runs_dir=self._req.runs_dir,
                project_dir=self._req.project_dir,
                task=spec,
                attempt=state.attempt,
            ),
            activity_id=f"{task_id}-{state.attempt}",
            summary=f"dev step of {task_id} (rank {rank}, attempt {state.attempt})",
            start_to_close_timeout=timedelta(seconds=spec.timeout_s() + 60),
            heartbeat_timeout=DEV_HEARTBEAT,
            retry_policy=DEV_RETRY,
            priority=Priority(priority_key=priority_key(rank, len(self._s.tasks))),
        )
        self._handles[task_id] = handle
        waiter = asyncio.create_task(self._await_step(task_id, handle))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)

    async def _await_step(self, task_id: str, handle: workflow.ActivityHandle[DevStepResult]) -> None:
        try:
            result = await handle
        except ActivityError as err:
            cause = err.cause
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            result = DevStepResult(task=task_id, ok=False, cached=False, cache_key="", detail=detail)
        self._finish(task_id, result)

    def _finish(self, task_id: str, result: DevStepResult) -> None:
        """The one place a step's outcome changes the run's state."""
        state = self._s.tasks[task_id]
        state.status = TaskStatus.DONE if result.ok else TaskStatus.FAILED
        state.cached, state.outputs, state.detail = result.cached, result.outputs, result.detail
        state.finished_s = workflow.time()
        for blocked in blocked_tasks(self._analysis, self._s.tasks):
            self._s.tasks[blocked].status = TaskStatus.BLOCKED
            self._s.tasks[blocked].detail = "an upstream task failed"
        self._handles.pop(task_id, None)
        self._changed = True

    # ---- signal, query -------------------------------------------------------------------------

    @workflow.signal
    def cancel(self, reason: str) -> None:
        """Stop dispatching and cancel the running steps; finished work stays in the workspace."""
        self._cancelled, self._cancel_reason = True, reason
        for handle in self._handles.values():
            handle.cancel()
        self._changed = True

    @workflow.query
    def describe(self) -> PipelineDescription:
        return self._description()

    # ---- views ---------------------------------------------------------------------------------

    def _description(self) -> PipelineDescription:
        a = self._s.analysis
        tasks = self._s.tasks
        count = {s: sum(1 for t in tasks.values() if t.status == s) for s in TaskStatus}
        ready = len(ready_queue(a, tasks)) if a else 0
        running = count[TaskStatus.RUNNING]
        return PipelineDescription(
            name=self._name,
            run=self._req.run,
            status=self._s.status,
            reason=self._s.reason,
            stage=self._stage(),
            pool_size=pool_size(ready, running, self._req.plan.pool) if a else 0,
            running=running,
            ready=ready,
            done=count[TaskStatus.DONE],
            failed=count[TaskStatus.FAILED],
            cached=sum(1 for t in tasks.values() if t.cached),
            tasks=[
                TaskView(
                    id=t, status=s.status, attempt=s.attempt, cached=s.cached, rank=a.rank[t], detail=s.detail
                )
                for t, s in sorted(tasks.items(), key=lambda kv: a.rank[kv[0]] if a else 0)
            ]
            if a
            else [],
            critical_path=a.critical_path if a else [],
            critical_path_s=a.critical_path_s if a else 0.0,
            elapsed_s=workflow.time() - self._s.started_s,
        )

    def _stage(self) -> str:
        if self._s.analysis is None:
            return "pm"
        return "done" if self._s.status not in (PipelineStatus.RUNNING, PipelineStatus.ANALYZING) else "dev"

    def _publish(self, stage: str) -> None:
        if self._s.analysis is not None:
            self._s.status = pipeline_status(self._s.tasks, True, self._cancelled)
        workflow.upsert_search_attributes(
            [
                sa.PIPELINE.value_set(self._name),
                sa.STATUS.value_set(self._s.status.value),
                sa.PIPELINE_STAGE.value_set(stage),
            ]
        )
        self._details()

    def _details(self) -> None:
        d = self._description()
        if self._s.analysis is None:
            count = len(self._req.plan.tasks)
            text = f"Pipeline {self._name} is analysing its project's imports to plan {count} tasks."
        else:
            text = (
                f"Pipeline {self._name} is {d.status.value}: {d.done} of {len(d.tasks)} tasks done"
                f" ({d.cached} from the cache), {d.running} running on a pool of {d.pool_size},"
                f" {d.ready} ready, {d.failed} failed. Critical path {' → '.join(d.critical_path)}"
                f" ({d.critical_path_s:g}s estimated); {d.elapsed_s:.0f}s elapsed."
            )
        if self._s.reason:
            text += f"\n\n{self._s.reason}"
        workflow.set_current_details(text)

    def _result(self) -> PipelineResult:
        tasks = self._s.tasks
        return PipelineResult(
            name=self._name,
            run=self._req.run,
            status=self._s.status,
            reason=self._s.reason,
            done=sum(1 for t in tasks.values() if t.status == TaskStatus.DONE),
            cached=sum(1 for t in tasks.values() if t.cached),
            failed=sorted(t for t, s in tasks.items() if s.status == TaskStatus.FAILED),
            blocked=sorted(t for t, s in tasks.items() if s.status == TaskStatus.BLOCKED),
            makespan_s=workflow.time() - self._s.started_s,
            critical_path_s=self._s.analysis.critical_path_s if self._s.analysis else 0.0,
            workspace=f"{self._req.runs_dir}/{self._name}/{self._req.run}/workspace",
        )
