"""Delivery pipeline II models: attempts and backoff, dead letters, a person's decisions on them,
and the QA and integration steps' I/O. The plan-level `failures` policy lives here too."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coderunner.models.breaker import BreakerPolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FailurePolicy(_Strict):
    """How a failing task is retried: fix attempts with exponential backoff, then the DLQ."""

    max_attempts: int = Field(default=3, ge=1, le=20, description="failed attempts before the DLQ")
    backoff_s: float = Field(default=2.0, ge=0.0, le=3600.0, description="wait before the first fix")
    backoff_max_s: float = Field(default=60.0, ge=0.0, le=86400.0)
    breaker: BreakerPolicy = BreakerPolicy()


class SkipMode(StrEnum):
    PROCEED = "proceed"  # dependents run as if the task were done
    SKIP = "skip"  # dependents are skipped too


class DeadLetter(_Strict):
    """A task (or the integration stage) that failed every attempt and waits for a person."""

    task: str
    attempts: int
    detail: str
    since_s: float


class DecisionKind(StrEnum):
    RETRY = "retry"
    SKIP = "skip"
    ABORT = "abort"


class _Decision(_Strict):
    actor: str = Field(min_length=1, max_length=200, description="who decides")
    reason: str = Field(min_length=1, max_length=2000, description="why (kept in the audit trail)")

    @field_validator("actor", "reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class RetryDecision(_Decision):
    """Run a dead-lettered task again (a fresh round of attempts), optionally with a changed command
    and/or extra env for it."""

    task: str
    dev: list[str] | str | None = None
    env: dict[str, str] = {}

    @field_validator("dev")
    @classmethod
    def _dev(cls, value: list[str] | str | None) -> list[str] | str | None:
        if value is not None and (not value or (isinstance(value, list) and not all(value))):
            raise ValueError("give a non-empty command")
        return value


class SkipDecision(_Decision):
    task: str
    dependents: SkipMode = SkipMode.PROCEED


class AbortDecision(_Decision):
    pass


class DecisionRecord(_Strict):
    """The audit trail of a person's decision: who, why, when, what (env values never kept)."""

    kind: DecisionKind
    task: str
    actor: str
    reason: str
    at_s: float
    changes: str = ""


class TaskOverride(_Strict):
    """A retry decision's changes to a task, used by its later attempts."""

    dev: list[str] | str | None = None
    env: dict[str, str] = {}


class DecisionResult(_Strict):
    message: str
    dead_letters: int


class QaStepRequest(_Strict):
    pipeline: str
    run: str
    runs_dir: str
    task: str
    attempt: int
    command: list[str]
    env: dict[str, str] = {}
    timeout_s: float
    cache_key: str = Field(default="", description="recorded with the outputs when QA passes")
    outputs: dict[str, str | None] = {}
    stage: Literal["qa", "integration"] = "qa"


class QaStepResult(_Strict):
    task: str
    ok: bool
    detail: str
    duration_s: float = 0.0
