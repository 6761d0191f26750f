"""The rollout's API models: the `rollout` update, the child workflow's input, its controls and status,
and the small request/acknowledge protocol between the rollout and its deployment.

Why a protocol: the DeploymentWorkflow is the one writer of the instance set and of the router, so
the rollout (the brain: steps, timers, analysis, gates) never touches them; it *asks* its parent
with a `rollout_command` signal and waits for the parent's `command_done` signal (see
workflows/rollout.py for the reasoning).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from coderunner.models.deployment import VERSION_PATTERN, DeploymentSpec, OperationRequest
from coderunner.models.rollout import (
    AnalysisResult,
    AnalysisSettings,
    ControlState,
    ErrorEvidence,
    RolloutPhase,
    RolloutStrategy,
    WeightTally,
    WindowVerdict,
)
from coderunner.models.sandbox import BackendStats, Resources


class RolloutRequest(BaseModel):
    """`rollout` update on DeploymentWorkflow: roll `version` out as a canary, with `env` overrides."""

    version: str = Field(pattern=VERSION_PATTERN)
    env: dict[str, str] = Field(default_factory=dict, description="--set K=V: merged over the spec's env")
    config_version: int | None = Field(
        default=None, ge=1, description="roll out this config version (same app version allowed)"
    )
    strategy: RolloutStrategy = Field(default_factory=lambda: RolloutStrategy.model_validate({}))
    scale_down_delay_s: float = Field(default=30.0, ge=0,
                                      description="old instances live this long after promotion")
    abort_cleanup_s: float = Field(default=2.0, ge=0, description="canary kept this long after an abort")
    actor: str = "cli"
    reason: str = ""
    # a new build elsewhere (a pipeline's release): the canary's command, dir and health path
    command: list[str] | None = Field(default=None, min_length=1, description="default: the spec's")
    working_dir: str | None = Field(default=None, description="default: the spec's")
    health_path: str | None = Field(default=None, pattern=r"^/", description="default: the spec's")
    resources: Resources | None = Field(default=None, description="the canary's limits; default: the spec's")


class RolloutStarted(BaseModel):
    workflow_id: str
    version: str
    from_version: str
    weights: list[int]


class WindowRecord(BaseModel):
    number: int
    at: datetime
    step: int  # 1-based step number
    weight: int
    verdict: WindowVerdict
    result: AnalysisResult


class RolloutCarry(BaseModel):
    """ALL of a rollout's state, carried over a continue-as-new (its history stays bounded for days:
    an indefinite pause step at a weight runs a window every interval for as long as it waits)."""

    controls: ControlState
    step: int
    weight: int
    canaries: list[str] = Field(default_factory=list)
    seq: int = 0
    history: list[WindowVerdict] = Field(default_factory=list)  # consecutive verdicts for next_action
    windows: list[WindowRecord] = Field(default_factory=list)
    windows_total: int = 0
    evidence: ErrorEvidence = Field(default_factory=ErrorEvidence)
    tally: WeightTally = Field(default_factory=WeightTally)
    hold_left_s: float | None = None  # what is left of the current timed step
    hold_verdicts: list[WindowVerdict] = Field(default_factory=list)  # this analysis step's verdicts
    next_window_in_s: float = 0.0
    runs: int = 1  # how many runs this rollout has had (1 + continue-as-new count)


class RolloutInput(BaseModel):
    deployment: str
    parent_workflow_id: str
    from_version: str
    spec: DeploymentSpec  # the canary's spec: new version, merged env
    strategy: RolloutStrategy
    scale_down_delay_s: float = 30.0
    abort_cleanup_s: float = 2.0
    actor: str = "cli"
    reason: str = ""
    # continue-as-new once history reaches this many events (or when the server suggests it)
    max_history_events: int = Field(default=10_000, ge=50)
    carried: RolloutCarry | None = None


class CommandKind(StrEnum):
    ADD_CANARY = "add_canary"  # grow the canary group to `count` instances (healthy) — or report why not
    SET_WEIGHT = "set_weight"  # route `weight` % to the canary group
    PROMOTE = "promote"  # the canary becomes the deployment; old instances leave the router
    RETIRE = "retire"  # destroy the old instances (after the scale-down delay)
    REMOVE_CANARY = "remove_canary"  # destroy the canary instances (after an abort)
    EVENT = "event"  # record an event in the deployment's events and the audit log (no ack)


class RolloutCommand(BaseModel):
    seq: int
    rollout_id: str
    kind: CommandKind
    count: int = 0
    weight: int = Field(default=0, ge=0, le=100)
    aborting: bool = False  # SET_WEIGHT 0 / REMOVE_CANARY as part of an abort: degraded, then recovered
    phase: RolloutPhase | None = None  # the rollout's phase, mirrored in the deployment's describe
    event_kind: str = ""
    message: str = ""
    actor: str = "workflow"
    reason: str = ""


class CommandAck(BaseModel):
    seq: int
    ok: bool = True
    detail: str | None = None
    canary_instances: list[str] = Field(default_factory=list)


class PromoteRequest(BaseModel):
    full: bool = False  # skip every remaining step
    actor: str = "cli"
    reason: str = ""


class AbortRequest(BaseModel):
    reason: str
    actor: str = "cli"

    @field_validator("reason")
    @classmethod
    def _reason_given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("abort needs a reason (--reason '…'): it is kept in the audit log")
        return value


# pause / resume / disable signals carry the same "who and why" as the deployment's operations
ControlRequest = OperationRequest


class RolloutStatus(BaseModel):
    workflow_id: str
    deployment: str
    version: str
    from_version: str
    phase: RolloutPhase
    step: int  # 1-based; 0 before the first step
    steps: int
    step_description: str
    canary_weight: int
    canary_instances: list[str] = Field(default_factory=list)
    weights: list[int] = Field(default_factory=list)
    paused_reason: str | None = None
    outcome: str | None = None
    windows: list[WindowRecord] = Field(default_factory=list)  # the most recent ones
    windows_total: int = 0
    rolled_back_at: datetime | None = None
    runs: int = 1  # runs of the rollout workflow (continue-as-new keeps its history bounded)
    # when the current timed step ends (pauses by a person already added); None: no timed step running
    step_ends_at: datetime | None = None


class RolloutResult(BaseModel):
    workflow_id: str
    phase: RolloutPhase
    outcome: str


class WindowRequest(BaseModel):
    deployment: str
    canary_version: str
    window_s: float = Field(gt=0)
    settings: AnalysisSettings | None = None  # for `analyse_window`: min_requests, Mann-Whitney knobs
    canary_instances: list[str] = Field(
        default_factory=list, description="split by these ids instead (a config release: same version)"
    )


class WindowStats(BaseModel):
    """One analysis window of router stats, split into the canary version and everything else."""

    canary: list[BackendStats] = Field(default_factory=list)
    stable: list[BackendStats] = Field(default_factory=list)


class RolloutMetric(BaseModel):
    deployment: str
    canary_weight: int | None = None
    verdict: WindowVerdict | None = None
    outcome: str | None = None  # "rollback" | "promotion"
