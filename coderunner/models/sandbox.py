"""Wire models of the sandbox provider API: what the workflows' activities send to a sandbox host.

The local sandbox host speaks exactly these models over HTTP; another provider (a cloud one) would
implement `sandbox.provider.SandboxProvider` with the same models.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from coderunner.models.configstore import ConfigRef

INSTANCE_ID_PATTERN = r"^[a-z0-9][a-z0-9.-]{0,120}$"


class InstanceGroup(StrEnum):
    STABLE = "stable"
    CANARY = "canary"


class InstanceState(StrEnum):
    RUNNING = "running"  # process alive (may or may not be healthy yet)
    EXITED = "exited"  # process ended on its own; exit_code is set
    STOPPED = "stopped"  # stopped on request
    LOST = "lost"  # the host restarted and the process was no longer there


class Isolation(StrEnum):
    """How an instance is confined. `none` is a loud, explicit opt-out for trusted code only."""

    SANDBOX = "sandbox"  # bubblewrap: read-only host, own dir + /tmp, no state dir, own PID namespace
    NONE = "none"  # a plain child process that sees everything the host sees


class Resources(BaseModel):
    """Per-instance limits, with defaults safe for a small web app; every field is enforced by the host."""

    model_config = ConfigDict(extra="forbid")

    memory_mb: int = Field(default=512, ge=16, le=1 << 20, description="memory; beyond it the kernel kills")
    cpu: float = Field(default=1.0, gt=0, le=256, description="CPU cores of time per second (0.5: half)")
    cpu_seconds: int | None = Field(default=None, ge=1, description="total CPU time, then killed")
    max_processes: int = Field(default=1024, ge=8, le=65536, description="processes and threads together")
    open_files: int = Field(default=1024, ge=32, le=1 << 20, description="file descriptors per process")


class InstanceSpec(BaseModel):
    instance_id: str = Field(pattern=INSTANCE_ID_PATTERN)
    deployment: str
    version: str
    command: list[str] = Field(min_length=1, description="argv; argv[0] is resolved on the host's PATH")
    working_dir: str | None = Field(default=None, description="cwd of the process; default: its own dir")
    env: dict[str, str] = Field(default_factory=dict, description="the ONLY env the process gets, + PORT")
    group: InstanceGroup = InstanceGroup.STABLE
    # resolved and decrypted by the create_instance activity into env; never sent to the host
    config: ConfigRef | None = None
    resources: Resources = Field(default_factory=Resources)
    isolation: Isolation = Isolation.SANDBOX


class InstanceInfo(BaseModel):
    instance_id: str
    deployment: str
    version: str
    group: InstanceGroup
    port: int
    pid: int | None
    state: InstanceState
    exit_code: int | None = None
    started_at: datetime
    adopted: bool = False
    log_path: str
    exit_reason: str | None = None  # e.g. "killed: out of memory (limit 64 MiB)"
    isolation: Isolation = Isolation.SANDBOX


class PreviousInstance(BaseModel):
    """An instance that is gone (replaced, scaled away, destroyed): its last log stays readable."""

    instance_id: str
    deployment: str
    version: str
    group: InstanceGroup
    state: InstanceState  # as it ended: "exited" (died on its own), "stopped" (on request), "lost"
    exit_code: int | None = None
    exit_reason: str | None = None
    started_at: datetime
    ended_at: datetime


class InstanceStats(BaseModel):
    instance_id: str
    cpu_percent: float
    memory_bytes: int
    memory_percent: float


class ProbeRequest(BaseModel):
    instance_ids: list[str]
    path: str = "/health"
    timeout_s: float = Field(default=2.0, gt=0, le=60)


class ProbeResult(BaseModel):
    instance_id: str
    healthy: bool
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    state: InstanceState | None = None  # None when the instance is unknown to the host


class RouterBackend(BaseModel):
    instance_id: str
    weight: int = Field(default=1, ge=0, le=1000)


class RouterConfig(BaseModel):
    deployment: str
    backends: list[RouterBackend] = Field(default_factory=list)


class BackendStats(BaseModel):
    """One backend's traffic over a window, as the router saw it."""

    instance_id: str
    version: str | None = None
    group: InstanceGroup | None = None
    requests: int = 0
    status_counts: dict[str, int] = Field(default_factory=dict)  # "200": n, "503": n, "error": n
    errors: int = 0  # 5xx answers plus connection failures
    latency_ms_samples: list[float] = Field(default_factory=list)  # capped sample of the window


class RouterInfo(BaseModel):
    deployment: str
    port: int
    backends: list[RouterBackend]
    window_s: float | None = None
    stats: list[BackendStats] = Field(default_factory=list)
    total_requests: int = 0  # since the router started
