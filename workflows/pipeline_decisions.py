"""A person's decisions on a pipeline run: retry or skip a dead letter, abort the run — updates with
validators (an unknown dead letter, a finished run or a run from before dead letters is refused with
the reason, nothing changed). The bookkeeping and audit live in `DecisionDesk`; PipelineWorkflow
inherits these handlers and its loop acts on what they changed.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from coderunner.models.pipeline import PipelineState
    from coderunner.models.pipeline_qa import AbortDecision, DecisionResult, RetryDecision, SkipDecision

from workflows.pipeline_dlq import DecisionDesk


class PersonDecisions:
    """What the handlers need of the workflow (set by PipelineWorkflow)."""

    _desk: DecisionDesk
    _s: PipelineState
    _qa: bool
    _changed: bool
    _handles: dict[str, workflow.ActivityHandle[Any]]

    def _details(self) -> None:
        raise NotImplementedError

    @workflow.update
    def dlq_retry(self, decision: RetryDecision) -> DecisionResult:
        """Run a dead letter again: a fresh round of attempts, optionally a changed command/env."""
        message = self._desk.retry(decision, workflow.time())
        return self._decided(message)

    @dlq_retry.validator
    def _check_retry(self, decision: RetryDecision) -> None:
        self._check_qa("retry")
        self._desk.check_dead("retry", decision.task)

    @workflow.update
    def dlq_skip(self, decision: SkipDecision) -> DecisionResult:
        """Skip a dead letter: its dependents proceed, or are skipped too."""
        message = self._desk.skip(decision, self._s.analysis, workflow.time())
        return self._decided(message)

    @dlq_skip.validator
    def _check_skip(self, decision: SkipDecision) -> None:
        self._check_qa("skip")
        self._desk.check_dead("skip", decision.task)

    @workflow.update
    def abort(self, decision: AbortDecision) -> DecisionResult:
        """Stop the pipeline: nothing new starts, running steps are cancelled."""
        message = self._desk.abort(decision, workflow.time())
        for handle in self._handles.values():
            handle.cancel()
        return self._decided(message)

    @abort.validator
    def _check_abort(self, decision: AbortDecision) -> None:
        self._check_qa("abort")
        self._desk.check_open("abort")

    def _check_qa(self, what: str) -> None:
        if not self._qa:
            raise ValueError(f"cannot {what}: this run started before dead letters existed")

    def _decided(self, message: str) -> DecisionResult:
        self._changed = True
        self._details()
        return DecisionResult(message=message, dead_letters=len(self._s.dead_letters))
