"""The host's routers, persisted in `<sandbox_dir>/routers.json` so their ports are stable.

Users and load tests point at a deployment's router URL, so it must survive a host restart: the port
is chosen once, saved with the backends, and re-opened by the next host before any request.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from coderunner.hosts.processes import free_port
from coderunner.hosts.provider import InvalidRequest, RouterNotFound
from coderunner.hosts.router import Lookup, Router, new_client_session
from coderunner.models.sandbox import RouterConfig, RouterInfo

log = logging.getLogger("coderunner.hosts.routers")


class RouterManager:
    def __init__(self, sandbox_dir: Path, lookup: Lookup, used_ports: Callable[[], set[int]]) -> None:
        self.path = sandbox_dir / "routers.json"
        self.routers: dict[str, Router] = {}
        self._lookup = lookup
        self._used_ports = used_ports
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_client_session()
        return self._session

    async def restore(self) -> None:
        """Re-open every persisted router on its saved port (a new one only if that is taken)."""
        for deployment, saved in self._load().items():
            config = RouterConfig(deployment=deployment, backends=saved.get("backends", []))
            await self._open(config, int(saved["port"]))
        self._save()

    async def _open(self, config: RouterConfig, port: int | None) -> Router:
        for candidate in ([port] if port else []) + [None, None, None]:
            chosen = candidate or free_port(self._taken())
            router = Router(config.deployment, chosen, config.backends, self._lookup, self.session)
            try:
                await router.start()
            except OSError as exc:
                log.warning("router %s: port %s unavailable (%s)", config.deployment, chosen, exc)
                continue
            self.routers[config.deployment] = router
            log.info("router %s on 127.0.0.1:%s (%d backends)", config.deployment, chosen,
                     len(config.backends))
            return router
        raise OSError(f"router {config.deployment}: no port could be bound")

    def _taken(self) -> set[int]:
        return self._used_ports() | {r.port for r in self.routers.values()}

    async def set(self, config: RouterConfig) -> RouterInfo:
        ids = [b.instance_id for b in config.backends]
        if len(ids) != len(set(ids)):
            raise InvalidRequest("backends: an instance_id appears more than once")
        router = self.routers.get(config.deployment)
        if router is None:
            router = await self._open(config, None)
        else:
            router.set_backends(config.backends)
        self._save()
        return router.info(window_s=None)

    def get(self, deployment: str, window_s: float | None = None) -> RouterInfo:
        router = self.routers.get(deployment)
        if router is None:
            raise RouterNotFound(f"no router for deployment {deployment!r}")
        return router.info(window_s)

    async def delete(self, deployment: str) -> None:
        router = self.routers.pop(deployment, None)
        if router is not None:
            await router.close()
            self._save()
            log.info("router %s closed", deployment)

    async def close(self) -> None:
        """Close every router but keep routers.json: the next host re-opens them."""
        for router in list(self.routers.values()):
            await router.close()
        self.routers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", self.path, exc)
            return {}
        return dict(data.get("routers", {}))

    def _save(self) -> None:
        data = {"routers": {
            name: {"port": r.port, "backends": [b.model_dump() for b in r.backends]}
            for name, r in self.routers.items()
        }}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)
