"""One deployment's router: an HAProxy process of its own, outside the sandbox host.

The router is the data plane, so it must not share the fate of the control plane: it runs in its own
session (a SIGKILL of the host, the worker or Temporal never reaches it) and keeps its request ring,
weights and servers in its own memory. The host only drives it: weights and servers are changed
live through the runtime API (connections in flight are never dropped; a removed server is put in
maintenance, so it drains, and deleted once idle), and stats are read from its request ring. A host
that restarts re-attaches to the running router by pid + start time, as it adopts instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from coderunner.hosts import haproxy_api
from coderunner.hosts.haproxy_api import RuntimeApiError
from coderunner.hosts.haproxy_config import BACKEND, Limits, Server, render, server_line
from coderunner.hosts.instance import same_process
from coderunner.hosts.provider import SandboxError
from coderunner.hosts.traffic import Describe, parse_events, summarize
from coderunner.models.sandbox import RouterBackend, RouterInfo

log = logging.getLogger("coderunner.hosts.router")

INSTANCE_HEADER = "X-CodeRunner-Instance"
HAPROXY_FIX = ("haproxy not found: run `make install` (it installs the Debian package) "
               "or `apt-get install haproxy`")
START_TIMEOUT_S = 10.0
MAX_SOCKET_PATH = 97  # HAProxy's limit (sun_path minus its temporary suffix)


class RouterUnavailable(SandboxError):
    status = 503
    kind = "router_unavailable"


def haproxy_binary() -> str:
    found = os.environ.get("CODERUNNER_HAPROXY") or shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if found is None:
        raise RouterUnavailable(HAPROXY_FIX)
    return found


class PortTaken(OSError):
    """The router's port is bound by something else."""


class Router:
    """Handle on one router process; `directory` holds its config, API socket and log."""

    def __init__(self, deployment: str, port: int, directory: Path, limits: Limits = Limits()) -> None:
        self.deployment = deployment
        self.port = port
        self.directory = directory
        self.limits = limits
        self.backends: list[RouterBackend] = []
        self.pid: int | None = None
        self.create_time: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = asyncio.Lock()

    @property
    def socket_path(self) -> Path:
        """`<directory>/api.sock`, or, where that is longer than a UNIX socket path may be, a
        private 0700 directory under the temp dir named by a hash of the router's directory."""
        near = self.directory / "api.sock"
        if len(str(near)) <= MAX_SOCKET_PATH:
            return near
        private = Path(tempfile.gettempdir()) / f"coderunner-{os.getuid()}"
        private.mkdir(mode=0o700, exist_ok=True)
        digest = hashlib.sha256(str(self.directory.resolve()).encode()).hexdigest()[:20]
        return private / f"{digest}.sock"

    @property
    def config_path(self) -> Path:
        return self.directory / "haproxy.cfg"

    @property
    def log_path(self) -> Path:
        return self.directory / "haproxy.log"

    def alive(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            return False
        return self.pid is not None and same_process(self.pid, self.create_time) is not None

    def adopt(self, pid: int, create_time: float) -> bool:
        """Re-attach to a router a previous host started, if it is still that very process."""
        if same_process(pid, create_time) is None:
            return False
        self.pid, self.create_time = pid, create_time
        return True

    def _write_config(self, servers: list[Server]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(render(self.port, self.socket_path, servers, self.limits))
        os.replace(tmp, self.config_path)

    async def spawn(self, servers: list[Server]) -> None:
        """Start HAProxy with `servers` already in its config (no request ever sees an empty router).

        Raises PortTaken if the port is bound elsewhere, RouterUnavailable if HAProxy is missing or
        does not come up."""
        binary = haproxy_binary()
        self._write_config(servers)
        self.socket_path.unlink(missing_ok=True)
        proc = self._launch(binary)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not await self._answers():
            if proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-600:]
                if "cannot bind socket" in tail or "Address already in use" in tail:
                    raise PortTaken(f"router {self.deployment}: port {self.port} is taken")
                raise RouterUnavailable(f"router {self.deployment}: haproxy exited: {tail.strip()[-300:]}")
            if time.monotonic() > deadline:
                _kill(proc.pid)
                raise RouterUnavailable(f"router {self.deployment}: haproxy did not start in time")
            await asyncio.sleep(0.02)
        self._proc = proc
        self.pid, self.create_time = proc.pid, psutil.Process(proc.pid).create_time()
        log.info("router %s: haproxy pid %s on 127.0.0.1:%s", self.deployment, proc.pid, self.port)

    async def _answers(self) -> bool:
        """Ready = the runtime API answers (HAProxy binds its listeners before it serves the API;
        probing the public port instead would count as a request)."""
        if not self.socket_path.exists():
            return False
        try:
            await haproxy_api.command(self.socket_path, "show info", timeout_s=1.0)
        except RuntimeApiError:
            return False
        return True

    def _launch(self, binary: str) -> subprocess.Popen[bytes]:
        """HAProxy in the foreground (-db) in a session of its own, so it outlives the host; HOME
        under the host's home so test harnesses find it like an instance."""
        with self.log_path.open("ab") as out:
            return subprocess.Popen(
                [binary, "-db", "-f", str(self.config_path)], cwd=self.directory, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={"HOME": str(self.directory), "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin")})

    async def apply(self, backends: list[RouterBackend], servers: list[Server]) -> None:
        """Make the running router serve exactly `servers`, live; rewrite its config to match."""
        async with self._lock:
            self._write_config(servers)
            actual = await haproxy_api.servers(self.socket_path)
            problems = await haproxy_api.apply(self.socket_path, reconcile(actual, servers))
            self.backends = list(backends)
        for problem in problems:
            log.info("router %s: %s", self.deployment, problem)

    async def info(self, window_s: float | None, describe: Describe) -> RouterInfo:
        try:
            text = await haproxy_api.request_log(self.socket_path)
            total = await haproxy_api.total_requests(self.socket_path)
        except RuntimeApiError as exc:
            raise RouterUnavailable(f"router {self.deployment} is not answering: {exc}") from exc
        now_ms = int(time.time() * 1000)
        stats = summarize(list(parse_events(text)), now_ms, window_s,
                          [b.instance_id for b in self.backends], describe)
        return RouterInfo(deployment=self.deployment, port=self.port, backends=self.backends,
                          window_s=window_s, stats=stats, total_requests=total)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Soft stop (SIGUSR1: stop listening, finish requests in flight), then SIGKILL."""
        if self.pid is None or not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR1)
        for _ in range(max(1, int(grace_s / 0.05))):
            if not self.alive():
                break
            await asyncio.sleep(0.05)
        if self.alive():
            _kill(self.pid)
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(1)
        self.socket_path.unlink(missing_ok=True)  # it may live outside `directory` (see socket_path)


def reconcile(actual: dict[str, haproxy_api.ServerState], desired: list[Server]) -> list[str]:
    """Runtime API commands that turn `actual` into `desired` without touching live connections.

    New servers are added (HAProxy adds them in maintenance, so they are enabled after), changed
    ones get their weight/port/state set, and servers no longer wanted go to maintenance (they
    drain) and are deleted — HAProxy refuses the delete while connections remain, and the next
    reconcile tries again."""
    out: list[str] = []
    wanted = {s.name: s for s in desired}
    for s in desired:
        ref = f"{BACKEND}/{s.name}"
        have = actual.get(s.name)
        if have is None:
            out += [f"add server {ref} {server_line(s)}", f"enable health {ref}"]
            if s.enabled:
                out.append(f"enable server {ref}")
            continue
        if have.port != s.port:
            out.append(f"set server {ref} addr 127.0.0.1 port {s.port}")
        if have.weight != s.weight:
            out.append(f"set server {ref} weight {s.weight}")
        if s.enabled and have.in_maintenance:
            out.append(f"enable server {ref}")
        elif not s.enabled and not have.in_maintenance:
            out.append(f"disable server {ref}")
    for name, have in actual.items():
        if name not in wanted:
            if not have.in_maintenance:
                out.append(f"disable server {BACKEND}/{name}")
            out.append(f"del server {BACKEND}/{name}")
    return out


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
