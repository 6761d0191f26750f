"""LocalSandbox: the SandboxProvider implemented in-process on this machine.

The HTTP host is a thin layer over this class, so the behaviour lives in one place and the same
object can be driven directly (benchmarks, a future in-worker mode) or over the wire via SandboxClient.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from coderunner.hosts import logfiles
from coderunner.hosts.cpu import DEFAULT_READER
from coderunner.hosts.health import probe_urls
from coderunner.hosts.instance import Instance
from coderunner.hosts.processes import InstanceManager
from coderunner.hosts.routers import RouterManager
from coderunner.models.sandbox import (
    InstanceInfo,
    InstanceSpec,
    InstanceState,
    InstanceStats,
    PreviousInstance,
    ProbeRequest,
    ProbeResult,
    RouterConfig,
    RouterInfo,
)

log = logging.getLogger("coderunner.hosts.local")


def _not_running_reason(inst: Instance) -> str:
    if inst.state == InstanceState.EXITED:
        why = f": {inst.exit_reason}" if inst.exit_reason else ""
        return f"instance exited (code {inst.exit_code}){why}"
    return inst.state.value  # "lost" / "stopped"


class LocalSandbox:
    """Instances as child processes of this host plus one router per deployment."""

    def __init__(self, sandbox_dir: Path) -> None:
        self.sandbox_dir = sandbox_dir
        self.instances = InstanceManager(sandbox_dir)
        self.routers = RouterManager(sandbox_dir, self.instances.instances.get, self.instances.used_ports)
        self._watchers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Adopt survivors of a previous host, re-attach to its routers, start reaping and
        watching the routers."""
        self.instances.adopt()
        await self.routers.restore()
        self._watchers = [asyncio.create_task(self.instances.watch(), name="sandbox-reaper"),
                          asyncio.create_task(self.routers.watch(), name="router-watch")]

    async def shutdown(self, grace_s: float = 5.0, keep_apps: bool = False) -> None:
        """Stop every instance and router (so nothing outlives `coderunner down`), or, with
        `keep_apps`, leave instances and routers serving for the next host to adopt."""
        for task in self._watchers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not keep_apps:
            await self.instances.stop_all(grace_s)
        await self.routers.close(stop_routers=not keep_apps)

    async def create_instance(self, spec: InstanceSpec) -> InstanceInfo:
        return await self.instances.create(spec)

    async def stop_instance(self, instance_id: str, grace_s: float = 5.0) -> InstanceInfo:
        return await self.instances.stop(instance_id, grace_s)

    async def destroy_instance(self, instance_id: str) -> None:
        await self.instances.destroy(instance_id)

    async def list_instances(self, deployment: str | None = None) -> list[InstanceInfo]:
        return self.instances.list(deployment)

    async def get_instance(self, instance_id: str) -> InstanceInfo:
        return self.instances.require(instance_id).info()

    async def probe(self, request: ProbeRequest) -> list[ProbeResult]:
        path = request.path if request.path.startswith("/") else "/" + request.path
        results: dict[int, ProbeResult] = {}
        urls: list[tuple[int, str]] = []
        for n, iid in enumerate(request.instance_ids):
            inst = self.instances.instances.get(iid)
            if inst is None:
                results[n] = ProbeResult(instance_id=iid, healthy=False, error="unknown instance")
            elif not inst.running:
                results[n] = ProbeResult(instance_id=iid, healthy=False, state=inst.state,
                                         error=_not_running_reason(inst))
            else:
                urls.append((n, f"http://127.0.0.1:{inst.port}{path}"))
        outcomes = await probe_urls([u for _, u in urls], request.timeout_s)
        for (n, _), (healthy, status, latency, error) in zip(urls, outcomes, strict=True):
            iid = request.instance_ids[n]
            inst = self.instances.instances.get(iid)
            state = inst.state if inst is not None else None
            if not healthy and inst is not None and not inst.running:  # died during the probe
                error = _not_running_reason(inst)
            results[n] = ProbeResult(instance_id=iid, healthy=healthy, status_code=status,
                                     latency_ms=latency, error=error, state=state)
        return [results[n] for n in range(len(request.instance_ids))]

    async def stats(self, instance_ids: list[str], reader: str = DEFAULT_READER) -> list[InstanceStats]:
        return self.instances.stats(instance_ids, reader)

    async def logs(self, instance_id: str, tail: int = 100) -> str:
        return logfiles.tail(self.instances.require(instance_id).log_path, tail)

    async def follow_logs(self, instance_id: str, tail: int = 0) -> AsyncIterator[str]:
        path = self.instances.require(instance_id).log_path
        async for chunk in logfiles.follow(path, tail):
            yield chunk

    async def previous_instances(self, deployment: str) -> list[PreviousInstance]:
        return self.instances.previous.list(deployment)

    async def previous_logs(self, deployment: str, instance_id: str, tail: int = 100) -> str:
        return self.instances.previous.tail(deployment, instance_id, tail)

    async def set_router(self, config: RouterConfig) -> RouterInfo:
        return await self.routers.set(config)

    async def get_router(self, deployment: str, window_s: float | None = None) -> RouterInfo:
        return await self.routers.get(deployment, window_s)

    async def delete_router(self, deployment: str) -> None:
        await self.routers.delete(deployment)
