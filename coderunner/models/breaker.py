"""Circuit breaker models: its policy, its state, and the events that move it (see
coderunner/decisions/circuit_breaker.py for the transitions)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BreakerPhase(StrEnum):
    CLOSED = "closed"  # dispatch freely
    OPEN = "open"  # dispatch nothing until the cooldown has passed
    HALF_OPEN = "half_open"  # one probe may run; its outcome closes or reopens


class BreakerPolicy(_Strict):
    window: int = Field(default=10, ge=1, le=1000, description="the last N attempt outcomes are counted")
    min_count: int = Field(default=4, ge=1, le=1000, description="no verdict on fewer outcomes than this")
    failure_ratio: float = Field(default=0.5, ge=0.0, lt=1.0, description="open when failures exceed it")
    cooldown_s: float = Field(default=30.0, ge=0.0, description="open this long before a probe")


class Breaker(_Strict):
    phase: BreakerPhase = BreakerPhase.CLOSED
    failed: list[bool] = Field(default=[], description="recent outcomes while closed, oldest first")
    opened_s: float | None = None
    probe: str | None = Field(default=None, description="the step running as the half-open probe")
    opened: int = Field(default=0, description="how many times it has opened")


class Outcome(_Strict):
    """An attempt finished: `step` is its id (`<task>-<attempt>`)."""

    kind: Literal["outcome"] = "outcome"
    step: str
    failed: bool
    now_s: float


class Tick(_Strict):
    """Time passed (the workflow's durable timer fired, or anything woke it)."""

    kind: Literal["tick"] = "tick"
    now_s: float


class ProbeStarted(_Strict):
    """The half-open breaker's one probe was dispatched."""

    kind: Literal["probe"] = "probe"
    step: str


BreakerEvent = Outcome | Tick | ProbeStarted
