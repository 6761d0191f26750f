"""The PipelineWorkflow's steps as activities: a task's dev step, its QA step, the integration step.
Each builds its request and starts the activity with ids, summaries, timeouts and retries sized to
the command; the workflow decides when, and what the outcome means."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.pipeline import PipelineActivities
    from activities.pipeline_metrics import PipelineMetricActivities
    from activities.pipeline_qa import PipelineQaActivities
    from coderunner.models.pipeline import (
        DevStepRequest,
        DevStepResult,
        PipelineRequest,
        PipelineResult,
        PlanAnalysis,
        TaskSpec,
    )
    from coderunner.models.pipeline_io import RunMetric
    from coderunner.models.pipeline_qa import QaStepRequest, QaStepResult

from coderunner.decisions.pipeline_failures import INTEGRATION
from coderunner.decisions.pipeline_schedule import priority_key

DEV_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
DEV_HEARTBEAT = timedelta(seconds=10)


def start_dev_step(
    req: PipelineRequest, spec: TaskSpec, attempt: int, rank: int, tasks: int, feedback: str
) -> workflow.ActivityHandle[DevStepResult]:
    """`feedback`: the last failure's output when this is a fix attempt, else ''."""
    kind = "fix attempt" if feedback else "dev step"
    return workflow.start_activity_method(
        PipelineActivities.dev_step,
        DevStepRequest(
            pipeline=req.plan.name,
            run=req.run,
            runs_dir=req.runs_dir,
            project_dir=req.project_dir,
            task=spec,
            attempt=attempt,
            feedback=feedback,
        ),
        activity_id=f"{spec.id}-{attempt}",
        summary=f"{kind} of {spec.id} (rank {rank}, attempt {attempt})",
        start_to_close_timeout=timedelta(seconds=spec.timeout_s() + 60),
        heartbeat_timeout=DEV_HEARTBEAT,
        retry_policy=DEV_RETRY,
        priority=Priority(priority_key=priority_key(rank, tasks)),
    )


def start_qa_step(
    req: PipelineRequest, spec: TaskSpec, attempt: int, command: list[str], dev: DevStepResult
) -> workflow.ActivityHandle[QaStepResult]:
    """QA over a copy of the workspace; on a pass the activity caches the dev step's outputs."""
    return workflow.start_activity_method(
        PipelineQaActivities.qa_step,
        QaStepRequest(
            pipeline=req.plan.name,
            run=req.run,
            runs_dir=req.runs_dir,
            task=spec.id,
            attempt=attempt,
            command=command,
            env=spec.env,
            timeout_s=spec.timeout_s(),
            cache_key=dev.cache_key,
            outputs=dev.outputs,
        ),
        activity_id=f"{spec.id}-{attempt}-qa",
        summary=f"QA of {spec.id} (attempt {attempt})",
        start_to_close_timeout=timedelta(seconds=spec.timeout_s() + 60),
        heartbeat_timeout=DEV_HEARTBEAT,
        retry_policy=DEV_RETRY,
    )


async def run_integration(
    req: PipelineRequest, command: list[str], env: dict[str, str], attempt: int, runs: int, a: PlanAnalysis
) -> QaStepResult:
    """The integration command once over the whole workspace (timeout: 4x the plan's total work)."""
    timeout_s = max(60.0, 4 * a.total_work_s)
    return await workflow.execute_activity_method(
        PipelineQaActivities.qa_step,
        QaStepRequest(
            pipeline=req.plan.name,
            run=req.run,
            runs_dir=req.runs_dir,
            task=INTEGRATION,
            attempt=attempt,
            command=command,
            env=env,
            timeout_s=timeout_s,
            stage="integration",
        ),
        activity_id=f"integration-{runs}-{attempt}",
        summary=f"integration of {req.plan.name} (attempt {attempt})",
        start_to_close_timeout=timedelta(seconds=timeout_s + 60),
        heartbeat_timeout=DEV_HEARTBEAT,
        retry_policy=DEV_RETRY,
    )


async def report_run(result: PipelineResult) -> None:
    """The run's end for /metrics: its status, makespan and critical path (a local activity)."""
    await workflow.execute_local_activity_method(
        PipelineMetricActivities.pipeline_metric,
        RunMetric(
            pipeline=result.name,
            status=result.status,
            makespan_s=result.makespan_s,
            critical_path_s=result.critical_path_s,
        ),
        start_to_close_timeout=timedelta(seconds=5),
    )
