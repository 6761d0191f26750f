"""PipelineWorkflow (id `pipeline/<name>/<run>`): PM stage (analysis), Dev and QA stages (scheduling,
fix attempts, dead letters, circuit breaker), then the integration stage.

PM: one activity analyses the project (file graph out of history, in the run dir) and returns the
task DAG with its batches, critical path and ranks (`decisions.pipeline_graph.analyze`).
Dev: the workflow's ready queue is the source of truth. Each time a step finishes it asks which
ready tasks to start — highest rank first, on a pool whose size follows the queue depth between the
plan's min and max — and starts one dev-step activity per task (id `<task>-<attempt>`, Temporal
priority from the rank as a hint, timeouts and heartbeat sized to the command).
QA (runs patched `pipeline-qa-dead-letters`; older runs keep the first version's behaviour: a failed
task fails and blocks its dependents): after a dev step, the task's QA command runs over a copy of
the workspace (`pipeline_qa_step`). A failed attempt queues a fix attempt ahead of new work, due after
an exponential backoff (a durable timer), carrying the failure output; after `max_attempts` the task
is a dead letter (DLQ size in the `CodeRunnerPipelineDeadLetters` search attribute): its dependents
wait, independent work goes on, and a person decides via the `dlq_retry`, `dlq_skip` and `abort`
updates (validated; audited with who and why). A circuit breaker over the attempts' outcomes pauses
dispatch (`decisions.circuit_breaker`). Integration: when every task is done or skipped, the plan's
integration command runs once over the workspace; a failure is a dead letter like a task's.
Ops (patched `pipeline-ops-stage`, plans with `deploy`): the result is released as a canary rollout
of the app's deployment, or a new deployment (workflows/pipeline_ops.py).

History stays bounded: when Temporal suggests continue-as-new, the workflow stops dispatching, lets
the running steps finish (they are activities of this run), and continues as new with the state of
every task, dead letter and decision.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.breaker import Outcome, ProbeStarted, Tick
    from coderunner.models.pipeline import (
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
    )
    from coderunner.models.pipeline_agent import as_argv
    from coderunner.models.pipeline_io import PrepareResult
    from coderunner.models.pipeline_qa import (
        DeadLetter,
        QaStepResult,
    )


# decisions are imported inside the sandbox: its determinism checks apply to them
from coderunner.decisions.circuit_breaker import cooldown_ends_s, dispatch_slots
from coderunner.decisions.circuit_breaker import step as breaker_step
from coderunner.decisions.pipeline_failures import (
    INTEGRATION,
    after_attempt,
    next_retry_s,
    run_status,
    stage_finished,
    to_start,
)
from coderunner.decisions.pipeline_ops import ops_status
from coderunner.decisions.pipeline_schedule import (
    blocked_tasks,
    pipeline_status,
    ready_queue,
    to_dispatch,
)
from workflows.pipeline_decisions import PersonDecisions
from workflows.pipeline_dlq import DecisionDesk
from workflows.pipeline_ops import OPS_PATCH, OpsStage
from workflows.pipeline_steps import report_run, run_integration, start_dev_step, start_qa_step
from workflows.pipeline_views import description, details_text, result_of
from workflows.timer_clock import TimerClock

PREPARE_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=["PlanCycle"])
QA_PATCH = "pipeline-qa-dead-letters"
METRICS_PATCH = "pipeline-run-metric"  # the run's end is reported to /metrics (a local activity)


@workflow.defn
class PipelineWorkflow(PersonDecisions):
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        self._req = inp.request
        self._s: PipelineState = inp.state or PipelineState()
        self._cancelled = False
        self._cancel_reason = ""
        self._handles: dict[str, workflow.ActivityHandle[Any]] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self._changed = False
        self._qa = False  # set in run: this run handles failures (QA_PATCH)
        self._clock = TimerClock()  # the QA stage's clock (never ran outside tests before it: always on)
        self._clock.on = True
        self._desk = DecisionDesk(self._s, self._req.plan, self._req.run)
        self._published_dlq = -1

    @property
    def _name(self) -> str:
        return self._req.plan.name

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        self._qa = workflow.patched(QA_PATCH)
        if self._s.analysis is None:
            self._s.started_s = workflow.time()
            self._publish("pm")
            if not await self._prepare():
                return self._result()
        self._publish("dev")
        if self._qa:
            draining = await self._qa_stage()
        else:
            await self._dev_stage()
            self._s.status = pipeline_status(self._s.tasks, True, self._cancelled)
            draining = self._s.status == PipelineStatus.RUNNING
        if draining:  # continue-as-new
            self._s.runs += 1
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(inp.model_copy(update={"state": self._s}))
        if self._qa:
            await self._integration_stage()
            if self._ops_due():
                await OpsStage(self._req, self._s, self._publish, self._stop_reason).run()
        if self._cancelled:
            self._s.reason = f"cancelled: {self._cancel_reason}"
        self._publish("done")
        await workflow.wait_condition(workflow.all_handlers_finished)
        result = self._result()
        if workflow.patched(METRICS_PATCH):
            await report_run(result)
        return result

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
        """The first version's loop (runs without QA_PATCH): a failed task fails at once."""
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

    async def _qa_stage(self) -> bool:
        """Dev and QA with fix attempts, dead letters and the breaker; True: continue-as-new."""
        draining = False
        policy = self._req.plan.failures.breaker
        while True:
            now = self._now()
            self._s.breaker = breaker_step(self._s.breaker, Tick(now_s=now), policy)
            stopped = self._cancelled or self._s.aborted
            if not stopped and not draining:
                slots = dispatch_slots(self._s.breaker)
                for task_id in to_start(self._analysis, self._s.tasks, self._req.plan.pool, now, slots):
                    self._start(task_id)
                    if slots is not None:
                        probe = ProbeStarted(step=f"{task_id}-{self._s.tasks[task_id].attempt}")
                        self._s.breaker = breaker_step(self._s.breaker, probe, policy)
            running = len(self._handles)
            self._s.max_pool = max(self._s.max_pool, running)
            self._s.status = self._status()
            self._publish_dlq()
            self._details()
            if running == 0 and (stopped or draining or stage_finished(self._analysis, self._s.tasks, now)):
                self._s.status = self._status()
                return draining and not stopped
            self._changed = False
            wake = self._wake_in(now)
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=wake)
            except TimeoutError:  # a fix attempt's backoff or the breaker's cooldown has passed
                self._clock.fired(now + (wake or 0.0))
            if workflow.info().is_continue_as_new_suggested():
                draining = True

    def _now(self) -> float:
        return self._clock.now()

    def _wake_in(self, now: float) -> float | None:
        """Seconds until the next durable timer: a fix attempt due, or the breaker's cooldown ended."""
        times = [
            next_retry_s(self._s.tasks),
            cooldown_ends_s(self._s.breaker, self._req.plan.failures.breaker),
        ]
        future = [t for t in times if t is not None and t > now]
        return min(future) - now if future else None

    @property
    def _analysis(self) -> PlanAnalysis:
        assert self._s.analysis is not None
        return self._s.analysis

    def _start(self, task_id: str) -> None:
        spec = self._desk.spec(task_id) if self._qa else self._req.plan.task(task_id)
        state = self._s.tasks[task_id]
        fixing = self._qa and state.status == TaskStatus.RETRYING
        state.status, state.attempt, state.started_s = TaskStatus.RUNNING, state.attempt + 1, workflow.time()
        rank = self._analysis.rank[task_id]
        feedback = state.detail if fixing else ""
        handle = start_dev_step(self._req, spec, state.attempt, rank, len(self._s.tasks), feedback)
        self._track(task_id, handle, self._await_step(task_id, handle))

    def _track(self, task_id: str, handle: workflow.ActivityHandle[Any], waiting: Any) -> None:
        self._handles[task_id] = handle
        waiter = asyncio.create_task(waiting)
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
        """The one place a dev step's outcome changes the run's state."""
        if self._qa:
            self._dev_done(task_id, result)
            return
        state = self._s.tasks[task_id]
        state.status = TaskStatus.DONE if result.ok else TaskStatus.FAILED
        state.cached, state.outputs, state.detail = result.cached, result.outputs, result.detail
        state.finished_s = workflow.time()
        for blocked in blocked_tasks(self._analysis, self._s.tasks):
            self._s.tasks[blocked].status = TaskStatus.BLOCKED
            self._s.tasks[blocked].detail = "an upstream task failed"
        self._handles.pop(task_id, None)
        self._changed = True

    def _dev_done(self, task_id: str, result: DevStepResult) -> None:
        self._handles.pop(task_id, None)
        state = self._s.tasks[task_id]
        state.cached, state.outputs = result.cached, result.outputs
        spec = self._desk.spec(task_id)
        qa = spec.agent.qa_argv()
        if result.ok and not result.cached and qa is not None and not self._stopping():
            state.status, state.detail = TaskStatus.TESTING, result.detail
            handle = start_qa_step(self._req, spec, state.attempt, qa, result)
            self._track(task_id, handle, self._await_qa(task_id, handle))
            self._changed = True
            return
        self._attempt_done(task_id, result.ok, result.detail, counted=not result.cached)

    async def _await_qa(self, task_id: str, handle: workflow.ActivityHandle[QaStepResult]) -> None:
        try:
            result = await handle
        except ActivityError as err:
            cause = err.cause
            detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            result = QaStepResult(task=task_id, ok=False, detail=f"QA step failed: {detail}")
        self._handles.pop(task_id, None)
        self._attempt_done(task_id, result.ok, result.detail, counted=True)

    def _stopping(self) -> bool:
        return self._cancelled or self._s.aborted

    def _stop_reason(self) -> str:
        if self._cancelled:
            return f"cancelled: {self._cancel_reason}"
        return self._s.reason if self._s.aborted else ""

    def _attempt_done(self, task_id: str, ok: bool, detail: str, counted: bool) -> None:
        """An attempt (dev step, then QA) is over: done, a fix queued, or a dead letter."""
        now = self._now()
        state = self._s.tasks[task_id]
        if self._stopping() and not ok:
            state.status, state.detail, state.finished_s = TaskStatus.FAILED, f"stopped: {detail}", now
            self._changed = True
            return
        after = after_attempt(state, ok, detail, self._req.plan.failures, now)
        self._s.tasks[task_id] = after
        if counted:
            outcome = Outcome(step=f"{task_id}-{state.attempt}", failed=not ok, now_s=now)
            self._s.breaker = breaker_step(self._s.breaker, outcome, self._req.plan.failures.breaker)
        if after.status == TaskStatus.DEAD:
            self._s.dead_letters[task_id] = DeadLetter(
                task=task_id, attempts=after.failures, detail=detail, since_s=now
            )
        self._changed = True

    async def _integration_stage(self) -> None:
        """Once every task is done or skipped: the plan's integration command over the workspace;
        a failure is a dead letter (retry, skip or abort decide)."""
        attempt = 0
        while not self._stopping() and self._s.integration == "" and self._desk.integration_command():
            if self._status(integration_failed=False) != PipelineStatus.SUCCEEDED:
                return
            command = self._desk.integration_command()
            assert command is not None
            attempt += 1
            self._publish("integration")
            result = await run_integration(
                self._req,
                as_argv(command),
                self._desk.integration_env(),
                attempt,
                self._s.runs,
                self._analysis,
            )
            if result.ok:
                self._s.integration = "passed"
                return
            self._s.integration = "failed"
            now = workflow.time()
            self._s.dead_letters[INTEGRATION] = DeadLetter(
                task=INTEGRATION, attempts=1, detail=result.detail, since_s=now
            )
            self._s.status = PipelineStatus.RUNNING
            self._publish_dlq()
            self._details()
            await workflow.wait_condition(lambda: INTEGRATION not in self._s.dead_letters or self._stopping())

    def _ops_due(self) -> bool:
        """Every task done or skipped, integration passed (or none): the plan's deploy is released."""
        if self._req.plan.deploy is None or self._stopping() or self._status() != PipelineStatus.SUCCEEDED:
            return False
        return workflow.patched(OPS_PATCH)

    def _status(self, integration_failed: bool | None = None) -> PipelineStatus:
        failed = self._s.integration == "failed" if integration_failed is None else integration_failed
        return ops_status(run_status(self._s.tasks, self._cancelled, self._s.aborted, failed), self._s.ops)

    # ---- signal, updates, query ----------------------------------------------------------------

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
        return description(self._req, self._s, workflow.time(), self._qa)

    def _publish(self, stage: str) -> None:
        if self._s.analysis is not None:
            self._s.status = (
                self._status() if self._qa else pipeline_status(self._s.tasks, True, self._cancelled)
            )
        attrs: list[SearchAttributeUpdate[Any]] = [
            sa.PIPELINE.value_set(self._name),
            sa.STATUS.value_set(self._s.status.value),
            sa.PIPELINE_STAGE.value_set(stage),
        ]
        if self._qa:
            attrs.append(sa.PIPELINE_DEAD_LETTERS.value_set(len(self._s.dead_letters)))
            self._published_dlq = len(self._s.dead_letters)
        workflow.upsert_search_attributes(attrs)
        self._details()

    def _publish_dlq(self) -> None:
        """The DLQ size (and the status with it) follow the dead letters, so the UI lists the runs
        that wait for a person."""
        size = len(self._s.dead_letters)
        if size != self._published_dlq:
            self._published_dlq = size
            workflow.upsert_search_attributes(
                [sa.PIPELINE_DEAD_LETTERS.value_set(size), sa.STATUS.value_set(self._s.status.value)]
            )

    def _details(self) -> None:
        workflow.set_current_details(details_text(self._req, self._s, self._description()))

    def _result(self) -> PipelineResult:
        return result_of(self._req, self._s, workflow.time())
