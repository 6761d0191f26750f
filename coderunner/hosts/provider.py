"""The sandbox provider interface: what activities need from "a place that runs app instances".

Activities depend on this Protocol, not on the local host, so a cloud provider can be swapped in
behind the same wire models (`models.sandbox`). The exceptions carry an HTTP status and a stable
`kind` so the host can put them on the wire and the client can raise the same class again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar, Protocol, runtime_checkable

from coderunner.hosts.cpu import DEFAULT_READER
from coderunner.models.sandbox import (
    InstanceInfo,
    InstanceSpec,
    InstanceStats,
    PreviousInstance,
    ProbeRequest,
    ProbeResult,
    RouterConfig,
    RouterInfo,
)


class SandboxError(Exception):
    """Base of every provider error; `status`/`kind` are its wire form."""

    status: ClassVar[int] = 500
    kind: ClassVar[str] = "sandbox_error"


class InvalidRequest(SandboxError):
    """The request can never succeed as sent (bad body, unknown command): do not retry it."""

    status = 400
    kind = "invalid_request"


class InstanceNotFound(SandboxError):
    status = 404
    kind = "instance_not_found"


class RouterNotFound(SandboxError):
    status = 404
    kind = "router_not_found"


class SandboxUnauthorized(SandboxError):
    status = 401
    kind = "unauthorized"


class SandboxUnavailable(SandboxError):
    """The host could not be reached at all (not running, wrong URL): worth retrying later."""

    status = 503
    kind = "unavailable"


ERROR_KINDS: dict[str, type[SandboxError]] = {
    cls.kind: cls
    for cls in (SandboxError, InvalidRequest, InstanceNotFound, RouterNotFound, SandboxUnauthorized,
                SandboxUnavailable)
}


def error_from_wire(kind: str | None, message: str, status: int) -> SandboxError:
    """Rebuild the exception a host sent as {"error", "kind"}, falling back on the status code."""
    cls = ERROR_KINDS.get(kind or "")
    if cls is None:
        cls = {400: InvalidRequest, 401: SandboxUnauthorized}.get(status, SandboxError)
    return cls(message)


@runtime_checkable
class SandboxProvider(Protocol):
    """Runs app instances and one weighted router per deployment.

    Every mutating call is idempotent by id so an activity retry never makes a second process.
    """

    async def create_instance(self, spec: InstanceSpec) -> InstanceInfo:
        """Start an instance; an existing id returns the existing instance, whatever its state."""
        ...

    async def stop_instance(self, instance_id: str, grace_s: float = 5.0) -> InstanceInfo:
        """SIGTERM, then SIGKILL after `grace_s`; the instance stays listed as stopped."""
        ...

    async def destroy_instance(self, instance_id: str) -> None:
        """Stop if running, forget it and remove its directory; an unknown id is a no-op."""
        ...

    async def list_instances(self, deployment: str | None = None) -> list[InstanceInfo]: ...

    async def get_instance(self, instance_id: str) -> InstanceInfo:
        """Raises InstanceNotFound."""
        ...

    async def probe(self, request: ProbeRequest) -> list[ProbeResult]:
        """HTTP health check of each instance, concurrently; one result per requested id."""
        ...

    async def stats(self, instance_ids: list[str], reader: str = DEFAULT_READER) -> list[InstanceStats]:
        """CPU and memory of the requested instances that are running (others are left out).

        CPU covers the time since this `reader`'s previous call: each reader (the health sweep, the
        autoscaler) gets its own measurement.
        """
        ...

    async def logs(self, instance_id: str, tail: int = 100) -> str: ...

    def follow_logs(self, instance_id: str, tail: int = 0) -> AsyncIterator[str]:
        """The last `tail` lines, then new output as it is written, until the caller stops."""
        ...

    async def previous_instances(self, deployment: str) -> list[PreviousInstance]:
        """Instances of the deployment that were destroyed, newest first (a bounded number)."""
        ...

    async def previous_logs(self, deployment: str, instance_id: str, tail: int = 100) -> str:
        """The kept log tail of a destroyed instance; raises InstanceNotFound."""
        ...

    async def set_router(self, config: RouterConfig) -> RouterInfo:
        """Create or update a deployment's router; its port never changes once chosen."""
        ...

    async def get_router(self, deployment: str, window_s: float | None = None) -> RouterInfo:
        """Router config plus per-backend traffic over the last `window_s` s; raises RouterNotFound."""
        ...

    async def delete_router(self, deployment: str) -> None:
        """Close and forget a router; an unknown deployment is a no-op."""
        ...
