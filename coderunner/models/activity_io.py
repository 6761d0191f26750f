"""Inputs and outputs of the deployment activities (one pydantic model in, one out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from coderunner.models.sandbox import InstanceState


class Ack(BaseModel):
    ok: bool = True
    detail: str | None = None


class InstanceRef(BaseModel):
    instance_id: str
    grace_s: float = 5.0


class DeploymentRef(BaseModel):
    deployment: str


class HealthWaitRequest(BaseModel):
    instance_id: str
    path: str = "/health"
    timeout_s: float = 2.0


class CheckRequest(BaseModel):
    deployment: str
    instance_ids: list[str]
    health_path: str = "/health"
    timeout_s: float = 2.0


class InstanceObservation(BaseModel):
    """One instance as a sweep saw it; `present=False` means the host does not know it at all."""

    instance_id: str
    present: bool
    state: InstanceState | None = None
    healthy: bool = False
    error: str | None = None
    exit_code: int | None = None
    exit_reason: str | None = None  # a limit the kernel enforced, e.g. "killed: out of memory (…)"
    pid: int | None = None
    port: int | None = None
    cpu_percent: float | None = None
    memory_bytes: int | None = None


class CheckReport(BaseModel):
    observations: list[InstanceObservation] = Field(default_factory=list)


class DeploymentSnapshot(BaseModel):
    """What the store keeps of a deployment (spec already redacted by the workflow)."""

    name: str
    environment: str
    version: str
    status: str
    replicas: int
    workflow_id: str
    spec: dict[str, Any]


class AuditEventInput(BaseModel):
    deployment: str
    kind: str
    actor: str
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    event_key: str | None = None  # workflow-made, so a retried activity never writes twice
