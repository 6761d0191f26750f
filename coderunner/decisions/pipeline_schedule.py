"""Dev-stage scheduling, pure: which tasks are ready, in which order, how big the pool is, the run's
status — and a discrete-event simulation of a schedule that uses exactly these functions (for the
makespan bench and `pipeline analyze`).

Order: a ready task with a longer estimated path to the end of the plan goes first (ties: more
descendants, then id) — critical-path list scheduling. The batch-by-batch baseline (every topological
batch finishes before the next starts) is what a Redis-queue-plus-workers setup usually does.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from coderunner.models.pipeline import (
    PipelineStatus,
    PlanAnalysis,
    PoolBounds,
    TaskState,
    TaskStatus,
)

FINISHED = frozenset({TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.BLOCKED})


def dependencies(analysis: PlanAnalysis) -> dict[str, list[str]]:
    deps: dict[str, list[str]] = {t: [] for t in analysis.tasks}
    for edge in analysis.edges:
        deps[edge.task].append(edge.on)
    return deps


def ready_queue(analysis: PlanAnalysis, tasks: Mapping[str, TaskState]) -> list[str]:
    """Waiting tasks whose dependencies are all done, highest priority first."""
    deps = dependencies(analysis)
    ready = [
        t
        for t, s in tasks.items()
        if s.status in (TaskStatus.WAITING, TaskStatus.READY)
        and all(tasks[d].status == TaskStatus.DONE for d in deps[t])
    ]
    return sorted(ready, key=analysis.rank.__getitem__)


def blocked_tasks(analysis: PlanAnalysis, tasks: Mapping[str, TaskState]) -> list[str]:
    """Waiting tasks that can never run: a dependency failed or is itself blocked."""
    deps = dependencies(analysis)
    bad = {t for t, s in tasks.items() if s.status in (TaskStatus.FAILED, TaskStatus.BLOCKED)}
    blocked: list[str] = []
    changed = True
    while changed:
        changed = False
        for t, s in tasks.items():
            if s.status == TaskStatus.WAITING and t not in bad and any(d in bad for d in deps[t]):
                bad.add(t)
                blocked.append(t)
                changed = True
    return sorted(blocked)


def pool_size(queue_depth: int, running: int, bounds: PoolBounds) -> int:
    """Workers wanted: enough for everything running and queued, between min and max."""
    return max(bounds.min, min(bounds.max, running + queue_depth))


def to_dispatch(analysis: PlanAnalysis, tasks: Mapping[str, TaskState], bounds: PoolBounds) -> list[str]:
    """The ready tasks to start now, in order, so that running never exceeds the pool size."""
    ready = ready_queue(analysis, tasks)
    running = sum(1 for s in tasks.values() if s.status == TaskStatus.RUNNING)
    free = pool_size(len(ready), running, bounds) - running
    return ready[: max(0, free)]


def priority_key(rank: int, tasks: int) -> int:
    """Temporal activity priority (1 = first … 5) from a rank: a hint, the ready queue decides."""
    return 1 + (4 * (rank - 1)) // max(1, tasks)


def pipeline_status(tasks: Mapping[str, TaskState], analysed: bool, cancelled: bool) -> PipelineStatus:
    """The run's status, derived in one place from its tasks."""
    if not analysed:
        return PipelineStatus.FAILED if cancelled else PipelineStatus.ANALYZING
    active = any(s.status == TaskStatus.RUNNING for s in tasks.values())
    if cancelled and not active:
        return PipelineStatus.CANCELLED
    if all(s.status in FINISHED for s in tasks.values()) and not active:
        ok = all(s.status == TaskStatus.DONE for s in tasks.values())
        return PipelineStatus.SUCCEEDED if ok else PipelineStatus.FAILED
    return PipelineStatus.RUNNING


def lower_bound(analysis: PlanAnalysis, durations: Mapping[str, float], workers: int) -> float:
    """max(critical path, total work / workers) for the actual durations."""
    deps = dependencies(analysis)
    finish: dict[str, float] = {}
    for batch in analysis.batches:
        for t in batch:
            finish[t] = durations[t] + max((finish[d] for d in deps[t]), default=0.0)
    return max(max(finish.values(), default=0.0), sum(durations.values()) / workers)


def simulate(
    analysis: PlanAnalysis,
    durations: Mapping[str, float],
    bounds: PoolBounds,
    strategy: str = "priority",
    overhead_s: float = 0.0,
) -> float:
    """Makespan of a run where task t takes durations[t] (+ overhead), dispatched by `to_dispatch`
    ("priority") or batch by batch ("batch": a batch starts when the previous one has finished)."""
    tasks = {t: TaskState() for t in analysis.tasks}
    batch_of = {t: n for n, batch in enumerate(analysis.batches) for t in batch}
    clock = 0.0
    events: list[tuple[float, str]] = []
    while True:
        if strategy == "batch":
            open_batch = min(
                (batch_of[t] for t, s in tasks.items() if s.status != TaskStatus.DONE), default=0
            )
            view = {
                t: s for t, s in tasks.items() if batch_of[t] <= open_batch or s.status != TaskStatus.WAITING
            }
            starting = to_dispatch(analysis, _with_waiting_frozen(tasks, view), bounds)
        else:
            starting = to_dispatch(analysis, tasks, bounds)
        for t in starting:
            tasks[t] = TaskState(status=TaskStatus.RUNNING)
            heapq.heappush(events, (clock + durations[t] + overhead_s, t))
        if not events:
            return clock
        clock, done = heapq.heappop(events)
        tasks[done] = TaskState(status=TaskStatus.DONE)


def _with_waiting_frozen(
    tasks: Mapping[str, TaskState], view: Mapping[str, TaskState]
) -> dict[str, TaskState]:
    """Tasks of later batches shown as blocked, so that `to_dispatch` leaves them alone for now."""
    hidden = TaskState(status=TaskStatus.BLOCKED)
    return {t: (view[t] if t in view else hidden) for t in tasks}
