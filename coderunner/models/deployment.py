"""Deployment models: the spec users write, the state the DeploymentWorkflow carries, and its API."""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coderunner.models.configstore import ConfigRef
from coderunner.models.rollout import RolloutLink
from coderunner.models.sandbox import InstanceGroup, Isolation, Resources

MAX_REPLICAS = 50
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,39}$"
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = frozenset({"PORT"})
REDACTED = "***redacted***"


class DeploymentStatus(StrEnum):
    PROVISIONING = "provisioning"
    RUNNING = "running"
    DEGRADED = "degraded"  # serving, but below desired healthy replicas
    FAILED = "failed"  # could not become healthy; see status_reason
    STOPPED = "stopped"
    DELETING = "deleting"
    DELETED = "deleted"


class DeploymentSpec(BaseModel):
    """What a user deploys. Names feed instance ids and workflow ids, hence the strict patterns.

    Unknown keys are refused (`replica: 5` must not silently deploy one instance)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="lowercase letters, digits and '-', max 40")
    environment: str = Field(default="dev", pattern=NAME_PATTERN)
    version: str = Field(default="v1", pattern=VERSION_PATTERN)
    command: list[str] = Field(min_length=1, description="argv of the app; 'python' means this Python")
    working_dir: str | None = None
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    health_path: str = Field(default="/health", pattern=r"^/")
    env: dict[str, str] = Field(default_factory=dict, description="values masked in every output")
    plain_env: list[str] = Field(
        default_factory=list,
        description="keys of `env` that are not secret: their values are shown (describe, dry runs)",
    )
    # variables and secrets from the config service; the workflow carries only this reference
    config: ConfigRef | None = None
    resources: Resources = Field(default_factory=Resources, description="per-instance limits")
    isolation: Isolation = Field(
        default=Isolation.SANDBOX, description="'none' runs the app unconfined: trusted code only"
    )

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        if isinstance(value, str):
            return shlex.split(value)
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_KEY.match(key):
                raise ValueError(f"env key {key!r} is not a valid variable name (letters, digits, '_')")
            if key in RESERVED_ENV:
                raise ValueError(f"env key {key!r} is set by the sandbox; remove it from env")
        return env

    @model_validator(mode="after")
    def _plain_keys_in_env(self) -> DeploymentSpec:
        unknown = [k for k in self.plain_env if k not in self.env]
        if unknown:
            raise ValueError(f"plain_env: {', '.join(unknown)} not in env (list keys of env whose "
                             "values may be shown)")
        return self

    def redacted(self) -> DeploymentSpec:
        """The spec safe to print: env keys kept, values masked — except the keys declared in
        `plain_env` (the rule: an inline value is a secret unless declared plain; config-store
        variables are plain, config-store secrets are always masked)."""
        plain = set(self.plain_env)
        shown = {k: v if k in plain else REDACTED for k, v in self.env.items()}
        return self.model_copy(update={"env": shown})


class DeploymentTimings(BaseModel):
    """Durations are parameters so tests run a deployment in seconds and operators can tune them."""

    sweep_interval_s: float = Field(default=10.0, gt=0)
    health_deadline_s: float = Field(default=60.0, gt=0)
    unhealthy_threshold: int = Field(default=2, ge=1, description="failed probes in a row before replace")
    stop_grace_s: float = Field(default=5.0, ge=0)
    drain_s: float = Field(default=0.5, ge=0, description="wait after leaving the router, before stop")
    max_events: int = Field(default=30, ge=1)


class InstanceRecord(BaseModel):
    instance_id: str
    ordinal: int
    version: str
    group: InstanceGroup = InstanceGroup.STABLE
    port: int | None = None
    pid: int | None = None
    healthy: bool = False
    state: str = "starting"
    consecutive_failures: int = 0
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    last_error: str | None = None


class DeploymentEvent(BaseModel):
    at: datetime
    kind: str
    message: str
    actor: str = "workflow"


class DeploymentState(BaseModel):
    """Everything the workflow must carry across continue-as-new."""

    spec: DeploymentSpec
    status: DeploymentStatus = DeploymentStatus.PROVISIONING
    status_reason: str | None = None
    instances: list[InstanceRecord] = Field(default_factory=list)
    next_ordinal: int = 0
    router_port: int | None = None
    events: list[DeploymentEvent] = Field(default_factory=list)
    event_seq: int = 0
    replacements: int = 0
    # canary rollouts (workflows/rollout_host.py): the running one routes traffic by its weight
    rollout: RolloutLink | None = None
    rollout_spec: DeploymentSpec | None = None  # the canary's spec while a rollout runs
    last_rollout: RolloutLink | None = None
    previous_spec: DeploymentSpec | None = None  # what `undo` goes back to
    retiring: list[InstanceRecord] = Field(default_factory=list)  # old instances after a promotion


class DeploymentInput(BaseModel):
    spec: DeploymentSpec
    timings: DeploymentTimings = Field(default_factory=DeploymentTimings)
    state: DeploymentState | None = None  # set when continuing as new
    actor: str = "cli"


class DeploymentResult(BaseModel):
    name: str
    status: DeploymentStatus
    reason: str | None = None


class ScaleRequest(BaseModel):
    replicas: int = Field(ge=0, le=MAX_REPLICAS)
    reason: str = ""
    actor: str = "cli"


class OperationRequest(BaseModel):
    """restart / delete / stop / start: who asks and why, for the audit log."""

    reason: str = ""
    actor: str = "cli"


class OperationResult(BaseModel):
    name: str
    status: DeploymentStatus
    message: str
    replicas: int
    instances: list[str] = Field(default_factory=list)


class DeploymentDescription(BaseModel):
    workflow_id: str
    spec: DeploymentSpec  # env values redacted
    status: DeploymentStatus
    status_reason: str | None
    router_url: str | None
    instances: list[InstanceRecord]
    events: list[DeploymentEvent]
    replacements: int
    rollout: RolloutLink | None = None
    last_rollout: RolloutLink | None = None
    previous_version: str | None = None


def workflow_id_for(name: str) -> str:
    return f"deployment/{name}"
