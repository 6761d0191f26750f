"""The pipeline's dead-letter desk: a person's decisions (retry, skip, abort) checked and applied to
the run's state. Deterministic (no I/O, no clock: the workflow passes `now_s`); the workflow's update
validators call the `check_*` methods, its handlers the others, in the same activation.

Every decision is kept in the state's audit trail with who, why and when; a retry's env changes are
recorded by key only (values may be secret).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from coderunner.models.pipeline import (
        PipelineState,
        PipelineStatus,
        PlanAnalysis,
        PlanSpec,
        TaskSpec,
        TaskStatus,
    )
    from coderunner.models.pipeline_qa import (
        AbortDecision,
        DecisionKind,
        DecisionRecord,
        RetryDecision,
        SkipDecision,
        SkipMode,
        TaskOverride,
    )

from coderunner.decisions.pipeline_failures import INTEGRATION, skipped_by

OPEN = (PipelineStatus.ANALYZING, PipelineStatus.RUNNING)


class DecisionDesk:
    def __init__(self, state: PipelineState, plan: PlanSpec, run: str) -> None:
        self._s = state
        self._plan = plan
        self._run = run

    # ---- checks (validators): raise ValueError, change nothing -----------------------------------

    def check_open(self, what: str) -> None:
        where = f"pipeline {self._plan.name}/{self._run}"
        if self._s.aborted:
            raise ValueError(f"cannot {what}: {where} has been aborted")
        if self._s.status not in OPEN:
            raise ValueError(f"cannot {what}: {where} has finished ({self._s.status.value})")

    def check_dead(self, what: str, task: str) -> None:
        self.check_open(what)
        if task not in self._s.dead_letters:
            known = ", ".join(sorted(self._s.dead_letters)) or "none"
            raise ValueError(
                f"cannot {what}: {task!r} is not a dead letter of this run (dead letters: {known})"
            )

    # ---- decisions -----------------------------------------------------------------------------

    def retry(self, d: RetryDecision, now_s: float) -> str:
        self._s.dead_letters.pop(d.task)
        old = self._s.overrides.get(d.task, TaskOverride())
        self._s.overrides[d.task] = TaskOverride(
            dev=d.dev if d.dev is not None else old.dev, env={**old.env, **d.env}
        )
        if d.task == INTEGRATION:
            self._s.integration = ""
        else:
            state = self._s.tasks[d.task]
            self._s.tasks[d.task] = state.model_copy(
                update={"status": TaskStatus.RETRYING, "retry_at_s": now_s, "failures": 0}
            )
        changes = ", ".join(
            [
                *(["command changed"] if d.dev is not None else []),
                *([f"env {', '.join(sorted(d.env))}"] if d.env else []),
            ]
        )
        self._audit(DecisionKind.RETRY, d.task, d.actor, d.reason, now_s, changes)
        return f"{d.task} queued for a new round of attempts" + (f" ({changes})" if changes else "")

    def skip(self, d: SkipDecision, analysis: PlanAnalysis | None, now_s: float) -> str:
        self._s.dead_letters.pop(d.task)
        if d.task == INTEGRATION or analysis is None:
            self._s.integration = "skipped"
            skipped = [d.task]
        else:
            skipped = skipped_by(analysis, self._s.tasks, d.task, d.dependents)
            for t in skipped:
                why = (
                    f"skipped by {d.actor}: {d.reason}"
                    if t == d.task
                    else f"skipped: upstream {d.task} was skipped"
                )
                self._s.tasks[t] = self._s.tasks[t].model_copy(
                    update={
                        "status": TaskStatus.SKIPPED,
                        "proceed": d.dependents == SkipMode.PROCEED,
                        "detail": why,
                        "finished_s": now_s,
                    }
                )
        changes = f"dependents {d.dependents.value}" + (
            f"; also skipped: {', '.join(skipped[1:])}" if skipped[1:] else ""
        )
        self._audit(DecisionKind.SKIP, d.task, d.actor, d.reason, now_s, changes)
        return f"{d.task} skipped ({changes})"

    def abort(self, d: AbortDecision, now_s: float) -> str:
        self._s.aborted = True
        self._s.reason = f"aborted by {d.actor}: {d.reason}"
        self._audit(DecisionKind.ABORT, "", d.actor, d.reason, now_s, "")
        return f"pipeline {self._plan.name}/{self._run} aborted"

    def spec(self, task_id: str) -> TaskSpec:
        """The task as its next attempt runs it: the plan's spec with a retry decision's changes."""
        spec = self._plan.task(task_id)
        override = self._s.overrides.get(task_id)
        if override is None:
            return spec
        agent = spec.agent if override.dev is None else spec.agent.model_copy(update={"dev": override.dev})
        return spec.model_copy(update={"agent": agent, "env": {**spec.env, **override.env}})

    def integration_command(self) -> list[str] | str | None:
        override = self._s.overrides.get(INTEGRATION)
        return override.dev if override is not None and override.dev is not None else self._plan.integration

    def integration_env(self) -> dict[str, str]:
        override = self._s.overrides.get(INTEGRATION)
        return dict(override.env) if override is not None else {}

    def _audit(
        self, kind: DecisionKind, task: str, actor: str, reason: str, now_s: float, changes: str
    ) -> None:
        self._s.decisions.append(
            DecisionRecord(kind=kind, task=task, actor=actor, reason=reason, at_s=now_s, changes=changes)
        )
