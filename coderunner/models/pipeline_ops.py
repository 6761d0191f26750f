"""Delivery pipeline Ops stage models: the plan's `deploy` section, the stage's state and its
activities' I/O.

The plan declares the app the workspace's result becomes: a deployment name, the command that
serves it (run in the released copy of the workspace), its health path and the canary strategy.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coderunner.models.deployment import NAME_PATTERN, DeploymentSpec
from coderunner.models.rollout import AnalysisSettings, RolloutStrategy, parse_duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CanarySpec(_Strict):
    """The rollout of a new build: weights, time at each, analysis window and evidence needed."""

    steps: str = Field(default="25,50,100", description="canary weights in %, comma-separated")
    step_duration: float = Field(default=10.0, description="seconds (or 10s, 1m) at each weight")
    interval: float = Field(default=2.0, description="seconds (or 2s) per analysis window")
    min_requests: int = Field(default=10, ge=1, description="below it a window is inconclusive")
    failure_limit: int = Field(default=2, ge=1, description="consecutive unhealthy windows: roll back")
    inconclusive_limit: int = Field(default=4, ge=1, description="consecutive inconclusive: pause")

    @field_validator("step_duration", "interval", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: Any) -> float:
        return parse_duration(value, info.field_name)

    @field_validator("interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be more than 0s")
        return value

    @model_validator(mode="after")
    def _strategy_valid(self) -> CanarySpec:
        strategy = self.strategy()  # a bad `steps` raises ValueError naming the field
        problem = strategy.dwell_problem()
        if problem:
            raise ValueError(problem)
        return self

    def strategy(self) -> RolloutStrategy:
        settings = AnalysisSettings(
            interval_s=self.interval,
            min_requests=self.min_requests,
            failure_limit=self.failure_limit,
            inconclusive_limit=self.inconclusive_limit,
        )
        return RolloutStrategy.from_shorthand(self.steps, self.step_duration, self.interval, settings)


class DeploySpec(_Strict):
    """The plan's `deploy`: the Ops stage releases the workspace as this deployment's new version."""

    name: str = Field(pattern=NAME_PATTERN, description="the deployment: lowercase letters, digits, '-'")
    command: list[str] | str = Field(description="argv (or one string) serving the app, run in the release")
    health_path: str = Field(default="/health", pattern=r"^/")
    replicas: int = Field(default=1, ge=1, le=20, description="for a new deployment")
    environment: str = Field(default="dev", pattern=NAME_PATTERN)
    env: dict[str, str] = {}
    canary: CanarySpec = CanarySpec()

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str] | str) -> list[str] | str:
        if not value or (isinstance(value, list) and not all(isinstance(a, str) and a for a in value)):
            raise ValueError("must be a non-empty command, e.g. command: [python, app.py]")
        return value

    @model_validator(mode="after")
    def _spec_valid(self) -> DeploySpec:
        try:
            self.spec_for("v1", "/")
        except ValidationError as err:
            problems = (e["msg"].removeprefix("Value error, ") for e in err.errors())
            raise ValueError("; ".join(problems)) from None
        return self

    def spec_for(self, version: str, release_dir: str) -> DeploymentSpec:
        """The deployment's spec for a new deployment of this release (env validated there too)."""
        return DeploymentSpec(
            name=self.name,
            environment=self.environment,
            version=version,
            command=self.command,  # type: ignore[arg-type]  # a string is split by its validator
            working_dir=release_dir,
            replicas=self.replicas,
            health_path=self.health_path,
            env={"VERSION": version, **self.env},
        )


class OpsPhase(StrEnum):
    RELEASING = "releasing"  # the workspace is copied to its release directory
    DEPLOYING = "deploying"  # a new deployment is starting
    ROLLING_OUT = "rolling_out"  # a canary rollout of the existing deployment runs
    PROMOTED = "promoted"
    DEPLOYED = "deployed"  # a new deployment is running
    ROLLED_BACK = "rolled_back"  # the canary aborted (by its analysis or a person), or a new deployment
    # deleted because the run stopped while it started
    FAILED = "failed"


OPS_RUNNING = frozenset({OpsPhase.RELEASING, OpsPhase.DEPLOYING, OpsPhase.ROLLING_OUT})
OPS_FAILED = frozenset({OpsPhase.ROLLED_BACK, OpsPhase.FAILED})


class OpsState(_Strict):
    """What the Ops stage did: carried in the pipeline's state, shown in describe and the result."""

    phase: OpsPhase = OpsPhase.RELEASING
    deployment: str
    version: str
    kind: Literal["", "rollout", "new"] = ""
    from_version: str = ""
    workflow_id: str = Field(default="", description="the rollout's (or new deployment's) workflow id")
    release_dir: str = ""
    outcome: str = ""


class ReleaseRequest(_Strict):
    pipeline: str
    run: str
    runs_dir: str
    releases_dir: str
    deployment: str = Field(default="", description="its releases in use are never pruned ('' in old runs)")


class ReleaseResult(_Strict):
    path: str
    files: int
    pruned: list[str] = Field(default=[], description="older releases of the pipeline removed")


class OpsRolloutRequest(_Strict):
    deploy: DeploySpec
    version: str
    release_dir: str
    actor: str
    reason: str


class OpsStarted(_Strict):
    """`new`: no deployment of that name is live, start one; `rollout`: the canary's workflow."""

    kind: Literal["rollout", "new"]
    workflow_id: str = ""
    from_version: str = ""


class AbortRolloutRequest(_Strict):
    """The pipeline was cancelled or aborted while its canary runs: roll it back."""

    workflow_id: str
    actor: str
    reason: str


class WithdrawRequest(_Strict):
    """The pipeline was cancelled or aborted while its new deployment starts: delete that deployment
    (a first release rolled back is no release), unless it runs another version by now."""

    deployment: str
    version: str
    actor: str
    reason: str


class DeployedRequest(_Strict):
    deployment: str
    version: str


class DeployedResult(_Strict):
    ok: bool
    detail: str
