"""QA-stage scheduling and failure handling, pure: what a finished attempt does to its task, the
ready queue with fix attempts ahead of new work, backoff, skips, and the run's status.

A task's attempt is its dev step and then, when it has one, its QA step. A failed attempt queues a
fix attempt (status `retrying`) that becomes due after an exponential backoff; a due fix goes ahead
of every new task, whatever the ranks (it holds back its dependents and already used a slot's worth
of work). After `max_attempts` failures in a row the task is a dead letter: its dependents wait,
independent work goes on, and a person decides (retry, skip, abort).
"""

from __future__ import annotations

from collections.abc import Mapping

from coderunner.decisions.pipeline_schedule import dependencies, pool_size
from coderunner.models.pipeline import PipelineStatus, PlanAnalysis, PoolBounds, TaskState, TaskStatus
from coderunner.models.pipeline_qa import FailurePolicy, SkipMode

ACTIVE = frozenset({TaskStatus.RUNNING, TaskStatus.TESTING})
SETTLED = frozenset({TaskStatus.DONE, TaskStatus.SKIPPED, TaskStatus.FAILED, TaskStatus.BLOCKED})
INTEGRATION = "@integration"  # the dead letter of the integration stage (no task id starts with @)


def backoff_s(failures: int, policy: FailurePolicy) -> float:
    """Wait before the fix attempt after the n-th failure in a row: backoff * 2^(n-1), capped."""
    return min(policy.backoff_max_s, policy.backoff_s * 2 ** max(0, failures - 1))


def after_attempt(state: TaskState, ok: bool, detail: str, policy: FailurePolicy, now_s: float) -> TaskState:
    """The task after an attempt: done; or a fix queued after a backoff; or dead after the last one."""
    if ok:
        return state.model_copy(
            update={"status": TaskStatus.DONE, "detail": detail, "finished_s": now_s, "retry_at_s": None}
        )
    failures = state.failures + 1
    if failures >= policy.max_attempts:
        status, retry_at = TaskStatus.DEAD, None
    else:
        status, retry_at = TaskStatus.RETRYING, now_s + backoff_s(failures, policy)
    return state.model_copy(
        update={
            "status": status,
            "failures": failures,
            "retry_at_s": retry_at,
            "detail": detail,
            "finished_s": now_s,
        }
    )


def satisfies(state: TaskState) -> bool:
    """A dependency lets its dependents run: done, or skipped with 'dependents proceed'."""
    return state.status == TaskStatus.DONE or (state.status == TaskStatus.SKIPPED and state.proceed)


def work_queue(analysis: PlanAnalysis, tasks: Mapping[str, TaskState], now_s: float) -> list[str]:
    """What may start now, in order: due fix attempts first (by rank), then ready new work (by rank)."""
    deps = dependencies(analysis)
    rank = analysis.rank.__getitem__
    fixes = [
        t
        for t, s in tasks.items()
        if s.status == TaskStatus.RETRYING and (s.retry_at_s is None or s.retry_at_s <= now_s)
    ]
    new = [
        t
        for t, s in tasks.items()
        if s.status in (TaskStatus.WAITING, TaskStatus.READY) and all(satisfies(tasks[d]) for d in deps[t])
    ]
    return sorted(fixes, key=rank) + sorted(new, key=rank)


def to_start(
    analysis: PlanAnalysis,
    tasks: Mapping[str, TaskState],
    bounds: PoolBounds,
    now_s: float,
    slots: int | None = None,
) -> list[str]:
    """The queue's head, as many as the pool has room for (and the breaker allows: `slots`)."""
    queue = work_queue(analysis, tasks, now_s)
    running = sum(1 for s in tasks.values() if s.status in ACTIVE)
    free = pool_size(len(queue), running, bounds) - running
    if slots is not None:
        free = min(free, slots)
    return queue[: max(0, free)]


def next_retry_s(tasks: Mapping[str, TaskState]) -> float | None:
    """When the earliest queued fix attempt becomes due (the workflow's timer)."""
    due = [
        s.retry_at_s for s in tasks.values() if s.status == TaskStatus.RETRYING and s.retry_at_s is not None
    ]
    return min(due, default=None)


def skipped_by(
    analysis: PlanAnalysis, tasks: Mapping[str, TaskState], task_id: str, mode: SkipMode
) -> list[str]:
    """The tasks a skip decision skips: the task, and with SKIP every unfinished task downstream."""
    if mode == SkipMode.PROCEED:
        return [task_id]
    dependents: dict[str, list[str]] = {t: [] for t in analysis.tasks}
    for t, ds in dependencies(analysis).items():
        for d in ds:
            dependents[d].append(t)
    out, todo = [task_id], [task_id]
    while todo:
        for child in dependents[todo.pop()]:
            if child not in out and tasks[child].status not in SETTLED:
                out.append(child)
                todo.append(child)
    return out


def stage_finished(analysis: PlanAnalysis, tasks: Mapping[str, TaskState], now_s: float) -> bool:
    """Nothing runs, nothing is queued or backing off, no dead letter waits: the Dev/QA stage is over."""
    waiting_on_person = any(s.status == TaskStatus.DEAD for s in tasks.values())
    busy = any(s.status in ACTIVE or s.status == TaskStatus.RETRYING for s in tasks.values())
    return not waiting_on_person and not busy and not work_queue(analysis, tasks, now_s)


def run_status(
    tasks: Mapping[str, TaskState], cancelled: bool, aborted: bool, integration_failed: bool = False
) -> PipelineStatus:
    """The run's status from its tasks (Dev/QA) and the person's decisions."""
    active = any(s.status in ACTIVE for s in tasks.values())
    if aborted and not active:
        return PipelineStatus.ABORTED
    if cancelled and not active:
        return PipelineStatus.CANCELLED
    if not active and all(s.status in SETTLED for s in tasks.values()):
        ok = all(s.status in (TaskStatus.DONE, TaskStatus.SKIPPED) for s in tasks.values())
        return PipelineStatus.SUCCEEDED if ok and not integration_failed else PipelineStatus.FAILED
    return PipelineStatus.RUNNING
