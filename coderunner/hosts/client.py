"""SandboxClient: the SandboxProvider over HTTP, what activities use to talk to a sandbox host.

It raises the same exception classes the host raised (by the wire `kind`), so activity code handles
"not found" or "bad spec" identically whether the provider is local or remote, and turns transport
failures into SandboxUnavailable, the one error worth retrying later.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import TypeAdapter

from coderunner.hosts.cpu import DEFAULT_READER
from coderunner.hosts.provider import (
    InstanceNotFound,
    RouterNotFound,
    SandboxError,
    SandboxUnavailable,
    error_from_wire,
)
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

_INFOS = TypeAdapter(list[InstanceInfo])
_PROBES = TypeAdapter(list[ProbeResult])
_STATS = TypeAdapter(list[InstanceStats])
_PREVIOUS = TypeAdapter(list[PreviousInstance])


class SandboxClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: dict[str, Any] | None = None, timeout_s: float | None = None,
                       not_found: type[SandboxError] = InstanceNotFound) -> Any:
        try:
            resp = await self._http.request(method, path, json=json, params=params,
                                            timeout=timeout_s if timeout_s is not None else self._timeout_s)
        except httpx.TimeoutException as exc:
            raise SandboxUnavailable(f"sandbox host at {self.base_url} timed out ({method} {path})") from exc
        except httpx.TransportError as exc:
            raise SandboxUnavailable(f"sandbox host not reachable at {self.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            raise _error(resp, not_found)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    async def ping(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/v1/ping")
        return result

    async def create_instance(self, spec: InstanceSpec) -> InstanceInfo:
        data = await self._request("PUT", f"/v1/instances/{spec.instance_id}",
                                   json=spec.model_dump(mode="json"))
        return InstanceInfo.model_validate(data)

    async def stop_instance(self, instance_id: str, grace_s: float = 5.0) -> InstanceInfo:
        data = await self._request("POST", f"/v1/instances/{instance_id}/stop", params={"grace_s": grace_s},
                                   timeout_s=self._timeout_s + grace_s)
        return InstanceInfo.model_validate(data)

    async def destroy_instance(self, instance_id: str) -> None:
        await self._request("DELETE", f"/v1/instances/{instance_id}", timeout_s=self._timeout_s + 10)

    async def list_instances(self, deployment: str | None = None) -> list[InstanceInfo]:
        params = {"deployment": deployment} if deployment is not None else None
        return _INFOS.validate_python(await self._request("GET", "/v1/instances", params=params))

    async def get_instance(self, instance_id: str) -> InstanceInfo:
        return InstanceInfo.model_validate(await self._request("GET", f"/v1/instances/{instance_id}"))

    async def probe(self, request: ProbeRequest) -> list[ProbeResult]:
        data = await self._request("POST", "/v1/probe", json=request.model_dump(mode="json"),
                                   timeout_s=self._timeout_s + request.timeout_s)
        return _PROBES.validate_python(data)

    async def stats(self, instance_ids: list[str], reader: str = DEFAULT_READER) -> list[InstanceStats]:
        data = await self._request("POST", "/v1/stats", json=instance_ids, params={"reader": reader})
        return _STATS.validate_python(data)

    async def logs(self, instance_id: str, tail: int = 100) -> str:
        text: str = await self._request("GET", f"/v1/instances/{instance_id}/logs", params={"tail": tail})
        return text

    async def follow_logs(self, instance_id: str, tail: int = 0) -> AsyncIterator[str]:
        """Stream the instance's output until the caller stops iterating (closing the stream)."""
        params = {"tail": tail, "follow": 1}
        try:
            async with self._http.stream("GET", f"/v1/instances/{instance_id}/logs", params=params,
                                         timeout=httpx.Timeout(self._timeout_s, read=None)) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _error(resp, InstanceNotFound)
                async for chunk in resp.aiter_text():
                    if chunk:
                        yield chunk
        except httpx.TransportError as exc:
            raise SandboxUnavailable(f"sandbox host not reachable at {self.base_url}: {exc}") from exc

    async def previous_instances(self, deployment: str) -> list[PreviousInstance]:
        return _PREVIOUS.validate_python(await self._request("GET", f"/v1/previous/{deployment}"))

    async def previous_logs(self, deployment: str, instance_id: str, tail: int = 100) -> str:
        text: str = await self._request("GET", f"/v1/previous/{deployment}/{instance_id}/logs",
                                         params={"tail": tail})
        return text

    async def set_router(self, config: RouterConfig) -> RouterInfo:
        data = await self._request("PUT", f"/v1/routers/{config.deployment}",
                                   json=config.model_dump(mode="json"), not_found=RouterNotFound)
        return RouterInfo.model_validate(data)

    async def get_router(self, deployment: str, window_s: float | None = None) -> RouterInfo:
        params = {"window_s": window_s} if window_s is not None else None
        data = await self._request("GET", f"/v1/routers/{deployment}", params=params,
                                   not_found=RouterNotFound)
        return RouterInfo.model_validate(data)

    async def delete_router(self, deployment: str) -> None:
        await self._request("DELETE", f"/v1/routers/{deployment}", not_found=RouterNotFound)


def _error(resp: httpx.Response, not_found: type[SandboxError]) -> SandboxError:
    """The host's {"error", "kind"} as an exception; a bare 404 (no kind) means `not_found`."""
    try:
        body = resp.json()
        message, kind = str(body.get("error", resp.text)), body.get("kind")
    except ValueError:
        message, kind = resp.text or resp.reason_phrase, None
    if resp.status_code == 404 and kind not in ("instance_not_found", "router_not_found"):
        return not_found(message)
    return error_from_wire(kind, message, resp.status_code)
