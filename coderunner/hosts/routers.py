"""The host's routers: one HAProxy process per deployment, recorded in `<sandbox_dir>/routers.json`.

Users and load tests point at a deployment's router URL, so the router must outlive the host: the
port is chosen once and saved with the backends, the router process's pid and start time are saved
too, and the next host re-attaches to it (or, if the router itself died meanwhile, starts a new one
on the same port from the saved state). While the host runs it also watches its routers and
restarts one that died, on the same port, with the same servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coderunner.hosts.haproxy_config import Server, haproxy_weights
from coderunner.hosts.instance import Instance
from coderunner.hosts.processes import free_port
from coderunner.hosts.provider import InvalidRequest, RouterNotFound
from coderunner.hosts.router import PortTaken, Router
from coderunner.models.sandbox import InstanceGroup, RouterBackend, RouterConfig, RouterInfo

log = logging.getLogger("coderunner.hosts.routers")

Lookup = Callable[[str], Instance | None]
WATCH_INTERVAL_S = 0.5
MAX_LABELS = 2000  # version/group of instances gone from every router, kept for stats still in rings


class RouterManager:
    def __init__(self, sandbox_dir: Path, lookup: Lookup, used_ports: Callable[[], set[int]]) -> None:
        self.path = sandbox_dir / "routers.json"
        self.root = sandbox_dir / "routers"
        self.routers: dict[str, Router] = {}
        self._lookup = lookup
        self._used_ports = used_ports
        self._known: dict[str, tuple[str | None, InstanceGroup | None]] = {}

    async def restore(self) -> None:
        """Re-attach to every recorded router still running; restart the others on their port."""
        saved = self._load()
        for deployment, entry in saved.get("routers", {}).items():
            backends = [RouterBackend.model_validate(b) for b in entry.get("backends", [])]
            router = Router(deployment, int(entry["port"]), self.root / deployment)
            router.backends = backends
            if router.adopt(int(entry.get("pid") or 0), float(entry.get("create_time") or 0)):
                log.info("router %s re-attached: pid %s on port %s", deployment, router.pid, router.port)
                self.routers[deployment] = router
                with contextlib.suppress(Exception):  # instances may have died meanwhile
                    await router.apply(backends, self._servers(backends))
            else:
                await self._start(deployment, backends, router.port)
        self._known.update({k: (v[0], InstanceGroup(v[1]) if v[1] else None)
                            for k, v in saved.get("labels", {}).items()})
        self._save()

    async def _start(self, deployment: str, backends: list[RouterBackend], port: int | None) -> Router:
        """A new router process, on `port` if given and free, else on a fresh port."""
        for candidate in ([port] if port else []) + [None, None, None]:
            router = Router(deployment, candidate or free_port(self._taken()), self.root / deployment)
            try:
                await router.spawn(self._servers(backends))
            except PortTaken as exc:
                log.warning("%s", exc)
                continue
            router.backends = list(backends)
            self.routers[deployment] = router
            return router
        raise OSError(f"router {deployment}: no port could be bound")

    def _taken(self) -> set[int]:
        return self._used_ports() | {r.port for r in self.routers.values()}

    def _servers(self, backends: list[RouterBackend]) -> list[Server]:
        """Instance ids + weights -> HAProxy servers; an instance that is not running is kept but
        disabled, so it drains and gets nothing new."""
        weights = haproxy_weights({b.instance_id: b.weight for b in backends})
        servers: list[Server] = []
        for b in backends:
            inst = self._lookup(b.instance_id)
            if inst is None or inst.port is None:
                continue
            self._known.pop(b.instance_id, None)  # re-insert: the newest labels are kept longest
            self._known[b.instance_id] = (inst.version, inst.group)
            servers.append(Server(b.instance_id, inst.port, weights[b.instance_id], enabled=inst.running))
        return servers

    def describe(self, instance_id: str) -> tuple[str | None, InstanceGroup | None]:
        """Version and group of an instance, remembered after it is gone so stats still label it."""
        inst = self._lookup(instance_id)
        if inst is not None:
            return inst.version, inst.group
        return self._known.get(instance_id, (None, None))

    async def set(self, config: RouterConfig) -> RouterInfo:
        ids = [b.instance_id for b in config.backends]
        if len(ids) != len(set(ids)):
            raise InvalidRequest("backends: an instance_id appears more than once")
        router = self.routers.get(config.deployment)
        if router is None:
            router = await self._start(config.deployment, config.backends, None)
        else:
            await router.apply(config.backends, self._servers(config.backends))
        self._save()
        return await router.info(None, self.describe)

    async def get(self, deployment: str, window_s: float | None = None) -> RouterInfo:
        router = self.routers.get(deployment)
        if router is None:
            raise RouterNotFound(f"no router for deployment {deployment!r}")
        return await router.info(window_s, self.describe)

    async def delete(self, deployment: str) -> None:
        router = self.routers.pop(deployment, None)
        if router is not None:
            await router.stop()
            shutil.rmtree(router.directory, ignore_errors=True)
            self._save()
            log.info("router %s closed", deployment)

    async def watch(self) -> None:
        """Restart any router that died, on its port with its servers (the data plane heals even
        if nothing else touches it)."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            for deployment, router in list(self.routers.items()):
                if router.alive() or self.routers.get(deployment) is not router:
                    continue
                log.warning("router %s (pid %s) died; restarting it on port %s",
                            deployment, router.pid, router.port)
                try:
                    await self._start(deployment, router.backends, router.port)
                    self._save()
                except Exception:
                    log.exception("router %s could not be restarted", deployment)

    async def close(self, stop_routers: bool) -> None:
        """Forget the routers; stop their processes only if `stop_routers` (a full `down`).

        routers.json is kept either way: the next host re-attaches to or re-opens them."""
        if stop_routers:
            await asyncio.gather(*(r.stop() for r in self.routers.values()))
        self.routers.clear()

    def _load(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}

    def _save(self) -> None:
        for stale in list(self._known)[:-MAX_LABELS]:
            del self._known[stale]
        data = {
            "routers": {
                name: {"port": r.port, "pid": r.pid, "create_time": r.create_time,
                       "backends": [b.model_dump() for b in r.backends]}
                for name, r in self.routers.items()
            },
            "labels": {k: [v[0], v[1].value if v[1] else None] for k, v in self._known.items()},
        }
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)
