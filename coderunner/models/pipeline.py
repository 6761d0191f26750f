"""Delivery pipeline models: the plan a user writes, the analysed graph, and the workflow's I/O.

A plan is validated completely before anything starts: `check_plan` returns every problem at once,
each naming the task and the field, so one edit fixes them all. Unknown keys are refused everywhere
(a typo such as `depend_on` would otherwise silently drop an edge).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coderunner.models.breaker import Breaker
from coderunner.models.pipeline_agent import AgentSpec
from coderunner.models.pipeline_ops import DeploySpec, OpsState
from coderunner.models.pipeline_qa import DeadLetter, DecisionRecord, FailurePolicy, TaskOverride
from coderunner.models.rollout import parse_duration

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TASK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(Strict):
    id: str
    owns: list[str] = Field(description="project-relative files this task produces or changes")
    agent: AgentSpec
    estimate: float = Field(description="expected duration (seconds, or 30s, 2m) for the critical path")
    depends_on: list[str] = []
    env: dict[str, str] = {}
    config: str | None = Field(default=None, description="a config reference (project/environment)")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not TASK_ID_RE.match(value):
            raise ValueError(f"{value!r} is not a task id — use letters, digits, '_', '.', '-' (max 63)")
        return value

    @field_validator("estimate", mode="before")
    @classmethod
    def _estimate(cls, value: Any) -> float:
        return parse_duration(value, "estimate")

    @field_validator("owns")
    @classmethod
    def _owns(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not _relative_inside(p)]
        if bad:
            raise ValueError(f"{bad} must be relative paths inside the project (no '..', no leading '/')")
        return [str(PurePosixPath(p)) for p in value]

    def timeout_s(self) -> float:
        """The dev step's start-to-close timeout: explicit, else 4x the estimate (at least a minute)."""
        return self.agent.timeout or max(60.0, 4 * self.estimate)


def _relative_inside(path: str) -> bool:
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and str(pure) != "."


class PoolBounds(Strict):
    min: int = Field(default=2, ge=1, le=100)
    max: int = Field(default=10, ge=1, le=100)


class PlanSpec(Strict):
    name: str
    project: str = Field(description="the project directory, relative to the plan file")
    tasks: list[TaskSpec]
    pool: PoolBounds = PoolBounds()
    failures: FailurePolicy = FailurePolicy()
    integration: list[str] | str | None = Field(default=None, description="run once over the workspace")
    deploy: DeploySpec | None = Field(default=None, description="the Ops stage: release as a canary")

    def task(self, task_id: str) -> TaskSpec:
        return next(t for t in self.tasks if t.id == task_id)


class PlanError(Strict):
    """One problem in a plan: where (task id or '-' for the plan) and which field, and what to do."""

    task: str
    field: str
    message: str

    def __str__(self) -> str:
        where = "plan" if self.task == "-" else f"task {self.task}"
        return f"{where}: {self.field}: {self.message}"


def check_plan(raw: Any) -> tuple[PlanSpec | None, list[PlanError]]:
    """Validate a loaded plan document fully: every task on its own, then across tasks.

    Returns the plan when there is no error; otherwise None and every error found, in document order.
    """
    if not isinstance(raw, dict):
        return None, [PlanError(task="-", field="-", message="a plan is a mapping: name, project, tasks")]
    errors: list[PlanError] = []
    head = {k: v for k, v in raw.items() if k != "tasks"}
    errors += _errors_of(lambda: _PlanHead.model_validate(head), "-")
    raw_tasks = raw.get("tasks")
    tasks: list[TaskSpec] = []
    if not isinstance(raw_tasks, list) or not raw_tasks:
        errors.append(PlanError(task="-", field="tasks", message="give a non-empty list of tasks"))
        raw_tasks = []
    for n, item in enumerate(raw_tasks):
        label = str(item.get("id", f"#{n + 1}")) if isinstance(item, dict) else f"#{n + 1}"
        found = _errors_of(lambda item=item: TaskSpec.model_validate(item), label)
        errors += found
        if not found:
            tasks.append(TaskSpec.model_validate(item))
        elif (skeleton := _skeleton(item)) is not None:
            tasks.append(skeleton)  # still checked across tasks, so every error shows at once
    errors += _cross_task_errors(tasks)
    pool = raw.get("pool") or {}
    if isinstance(pool, dict) and isinstance(pool.get("min"), int) and isinstance(pool.get("max"), int):
        if pool["min"] > pool["max"]:
            errors.append(PlanError(task="-", field="pool", message="min must be <= max"))
    if errors:
        return None, errors
    return PlanSpec.model_validate(raw), []


class _PlanHead(Strict):
    name: str
    project: str
    pool: PoolBounds = PoolBounds()
    failures: FailurePolicy = FailurePolicy()
    integration: list[str] | str | None = None
    deploy: DeploySpec | None = None

    @field_validator("integration")
    @classmethod
    def _integration(cls, value: list[str] | str | None) -> list[str] | str | None:
        if value is not None and (not value or (isinstance(value, list) and not all(value))):
            raise ValueError("must be a non-empty command, e.g. integration: [python, -m, pytest]")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r}: use lowercase letters, digits and '-' (the workflow id uses it)")
        return value


def _errors_of(build: Any, task: str) -> list[PlanError]:
    try:
        build()
    except ValidationError as err:
        return [_plan_error(task, e) for e in err.errors()]
    return []


def _plan_error(task: str, error: Any) -> PlanError:
    field = ".".join(str(p) for p in error["loc"]) or "-"
    if error["type"] == "extra_forbidden":
        message = "unknown key — remove it or check its spelling"
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message.removeprefix(f"{error['loc'][-1]}: ") if error["loc"] else message
    return PlanError(task=task, field=field, message=message)


def _skeleton(item: Any) -> TaskSpec | None:
    """The id, owns and depends_on of an invalid task, when those three are themselves valid."""
    if not isinstance(item, dict):
        return None
    try:
        return TaskSpec.model_validate(
            {k: item[k] for k in ("id", "owns", "depends_on") if k in item}
            | {"agent": {"dev": ["true"]}, "estimate": 0}
        )
    except ValidationError:
        return None


def _cross_task_errors(tasks: list[TaskSpec]) -> list[PlanError]:
    errors: list[PlanError] = []
    ids = [t.id for t in tasks]
    seen: set[str] = set()
    for task_id in ids:
        if task_id in seen:
            errors.append(PlanError(task=task_id, field="id", message="two tasks have this id"))
        seen.add(task_id)
    owner: dict[str, str] = {}
    for task in tasks:
        for path in task.owns:
            if path in owner and owner[path] != task.id:
                errors.append(
                    PlanError(
                        task=task.id,
                        field="owns",
                        message=(f"{path} is also owned by task {owner[path]}: a file has one owner"),
                    )
                )
            owner.setdefault(path, task.id)
        for dep in task.depends_on:
            if dep == task.id:
                errors.append(PlanError(task=task.id, field="depends_on", message="names the task itself"))
            elif dep not in seen:
                errors.append(
                    PlanError(
                        task=task.id,
                        field="depends_on",
                        message=(
                            f"{dep!r} is not a task of this plan (tasks: {', '.join(dict.fromkeys(ids))})"
                        ),
                    )
                )
    return errors


# ---------------------------------------------------------------------------------------------
# Analysis


class ImportKind(StrEnum):
    RUNTIME = "runtime"
    TYPE_CHECKING = "type_checking"


class FileEdge(Strict):
    """`source` imports `target` (both project-relative posix paths)."""

    source: str
    target: str
    kind: ImportKind = ImportKind.RUNTIME


class FileGraph(Strict):
    files: list[str]
    edges: list[FileEdge]
    unresolved: list[str] = Field(default=[], description="'file: specifier' imports found nowhere")


class TaskEdge(Strict):
    """`task` depends on `on`, and why (the import that makes it, or 'depends_on')."""

    task: str
    on: str
    why: str


class PlanAnalysis(Strict):
    """The PM stage's result: the task DAG, its batches, critical path and priority per task."""

    tasks: list[str]
    edges: list[TaskEdge]
    batches: list[list[str]]
    critical_path: list[str]
    critical_path_s: float
    total_work_s: float
    priority: dict[str, float] = Field(description="longest estimated path from the task to the end")
    descendants: dict[str, int]
    rank: dict[str, int] = Field(description="1 = dispatched first when ready")
    type_checking_edges: list[FileEdge] = []
    unresolved: list[str] = []


class PlanCycle(Exception):
    """A dependency cycle; the message is the chain of files and tasks (shortest cycle first)."""


# ---------------------------------------------------------------------------------------------
# Workflow and activity I/O


class PipelineStatus(StrEnum):
    ANALYZING = "analyzing"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"  # by a person's decision on a dead letter


class TaskStatus(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"  # an upstream task failed
    TESTING = "qa"  # its QA step runs
    RETRYING = "retrying"  # a fix attempt is queued (ahead of new work) once its backoff has passed
    DEAD = "dead"  # in the dead-letter queue: waits for a person; its dependents wait too
    SKIPPED = "skipped"  # by a person's decision (or as a dependent of a skipped task)


class PipelineRequest(Strict):
    plan: PlanSpec
    project_dir: str = Field(description="absolute path of the project the plan names")
    run: str
    runs_dir: str = Field(description="absolute dir holding run workspaces and the result cache")
    releases_dir: str = Field(default="", description="absolute dir the Ops stage releases into")


class TaskState(Strict):
    status: TaskStatus = TaskStatus.WAITING
    attempt: int = 0
    cached: bool = False
    outputs: dict[str, str | None] = {}
    detail: str = ""
    started_s: float | None = None
    finished_s: float | None = None
    failures: int = Field(default=0, description="failed attempts since the last person's decision")
    retry_at_s: float | None = None
    proceed: bool = Field(default=True, description="skipped: whether its dependents may run")


class PipelineState(Strict):
    """Everything a run carries through continue-as-new."""

    analysis: PlanAnalysis | None = None
    tasks: dict[str, TaskState] = {}
    status: PipelineStatus = PipelineStatus.ANALYZING
    reason: str = ""
    started_s: float = 0.0
    runs: int = 0
    max_pool: int = 0
    breaker: Breaker = Breaker()
    dead_letters: dict[str, DeadLetter] = {}
    decisions: list[DecisionRecord] = []
    overrides: dict[str, TaskOverride] = {}
    aborted: bool = False
    integration: str = Field(default="", description="'' (not yet), passed, failed, skipped")
    ops: OpsState | None = None


class PipelineInput(Strict):
    request: PipelineRequest
    state: PipelineState | None = None


class PrepareRequest(Strict):
    request: PipelineRequest


class DevStepRequest(Strict):
    pipeline: str
    run: str
    runs_dir: str
    project_dir: str
    task: TaskSpec
    attempt: int
    feedback: str = Field(default="", description="the last failure's output, for a fix attempt")


class DevStepResult(Strict):
    task: str
    ok: bool
    cached: bool
    cache_key: str
    outputs: dict[str, str | None] = Field(default={}, description="owned path -> sha256 (None: deleted)")
    detail: str = ""
    duration_s: float = 0.0


class TaskView(Strict):
    id: str
    status: TaskStatus
    attempt: int
    cached: bool
    rank: int
    detail: str = ""


class PipelineDescription(Strict):
    name: str
    run: str
    status: PipelineStatus
    reason: str
    stage: str
    pool_size: int
    running: int
    ready: int
    done: int
    failed: int
    cached: int
    tasks: list[TaskView]
    critical_path: list[str]
    critical_path_s: float
    elapsed_s: float
    dead_letters: list[DeadLetter] = []
    decisions: list[DecisionRecord] = []
    breaker: str = ""
    breaker_opened: int = 0
    breaker_phase: str = Field(default="", description="closed, open, half_open ('' before QA)")
    integration: str = ""
    ops: OpsState | None = None


class PipelineResult(Strict):
    name: str
    run: str
    status: PipelineStatus
    reason: str
    done: int
    cached: int
    failed: list[str]
    blocked: list[str]
    makespan_s: float
    critical_path_s: float
    workspace: str
    skipped: list[str] = []
    dead: list[str] = []
    ops: OpsState | None = Field(default=None, description="what was deployed and the rollout's verdict")


def workflow_id_for(name: str, run: str) -> str:
    return f"pipeline/{name}/{run}"
