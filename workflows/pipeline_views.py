"""What a PipelineWorkflow shows: its `describe` answer, the Web UI's current details, its result.
Functions of the run's request and state (and the workflow's time); no commands, no I/O."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from coderunner.models.pipeline import (
        PipelineDescription,
        PipelineRequest,
        PipelineResult,
        PipelineState,
        TaskStatus,
        TaskView,
    )

from coderunner.decisions.circuit_breaker import describe as breaker_text
from coderunner.decisions.pipeline_failures import work_queue
from coderunner.decisions.pipeline_ops import ops_summary
from coderunner.decisions.pipeline_schedule import pool_size, ready_queue
from coderunner.decisions.pipeline_stage import stage_of


def description(
    req: PipelineRequest, s: PipelineState, now_s: float, qa: bool, stage: str = ""
) -> PipelineDescription:
    """`qa`: the run handles failures (QA, fix attempts, dead letters); else the first version's view."""
    a = s.analysis
    tasks = s.tasks
    count = {st: sum(1 for t in tasks.values() if t.status == st) for st in TaskStatus}
    if a is None:
        ready = 0
    else:
        ready = len(work_queue(a, tasks, now_s)) if qa else len(ready_queue(a, tasks))
    running = count[TaskStatus.RUNNING] + count[TaskStatus.TESTING]
    return PipelineDescription(
        name=req.plan.name,
        run=req.run,
        status=s.status,
        reason=s.reason,
        stage=stage or stage_of(s, req.plan.integration is not None),
        pool_size=pool_size(ready, running, req.plan.pool) if a else 0,
        running=running,
        ready=ready,
        done=count[TaskStatus.DONE],
        failed=count[TaskStatus.FAILED],
        cached=sum(1 for t in tasks.values() if t.cached),
        tasks=[
            TaskView(
                id=t, status=st.status, attempt=st.attempt, cached=st.cached, rank=a.rank[t], detail=st.detail
            )
            for t, st in sorted(tasks.items(), key=lambda kv: a.rank[kv[0]])
        ]
        if a
        else [],
        critical_path=a.critical_path if a else [],
        critical_path_s=a.critical_path_s if a else 0.0,
        elapsed_s=now_s - s.started_s,
        dead_letters=sorted(s.dead_letters.values(), key=lambda d: d.since_s) if qa else [],
        decisions=list(s.decisions),
        breaker=breaker_text(s.breaker, req.plan.failures.breaker) if qa else "",
        breaker_opened=s.breaker.opened,
        breaker_phase=s.breaker.phase.value if qa else "",
        integration=s.integration,
        ops=s.ops,
    )


def details_text(req: PipelineRequest, s: PipelineState, d: PipelineDescription) -> str:
    name = req.plan.name
    if s.analysis is None:
        text = f"Pipeline {name} is analysing its project's imports to plan {len(req.plan.tasks)} tasks."
    else:
        text = (
            f"Pipeline {name} is {d.status.value}: {d.done} of {len(d.tasks)} tasks done"
            f" ({d.cached} from the cache), {d.running} running on a pool of {d.pool_size},"
            f" {d.ready} ready, {d.failed} failed. Critical path {' → '.join(d.critical_path)}"
            f" ({d.critical_path_s:g}s estimated); {d.elapsed_s:.0f}s elapsed."
        )
        if d.breaker:
            text += f" Circuit breaker {d.breaker}."
        if d.dead_letters:
            text += (
                f"\n\n{len(d.dead_letters)} dead letter(s) wait for a person's decision"
                f" (`coderunner pipeline dlq list {name}/{req.run}`):"
                f" {', '.join(x.task for x in d.dead_letters)}."
            )
    if s.ops is not None:
        text += f"\n\n{ops_summary(s.ops)}"
    if s.reason:
        text += f"\n\n{s.reason}"
    return text


def result_of(req: PipelineRequest, s: PipelineState, now_s: float) -> PipelineResult:
    tasks = s.tasks

    def having(status: TaskStatus) -> list[str]:
        return sorted(t for t, st in tasks.items() if st.status == status)

    return PipelineResult(
        name=req.plan.name,
        run=req.run,
        status=s.status,
        reason=s.reason,
        done=len(having(TaskStatus.DONE)),
        cached=sum(1 for t in tasks.values() if t.cached),
        failed=having(TaskStatus.FAILED),
        blocked=having(TaskStatus.BLOCKED),
        makespan_s=now_s - s.started_s,
        critical_path_s=s.analysis.critical_path_s if s.analysis else 0.0,
        workspace=f"{req.runs_dir}/{req.plan.name}/{req.run}/workspace",
        skipped=having(TaskStatus.SKIPPED),
        dead=sorted(s.dead_letters),
        ops=s.ops,
    )
