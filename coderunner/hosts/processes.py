"""Spawning, watching and stopping instance processes.

Each instance is a session leader (start_new_session) so the host dying does not take it down and a
restarted host can adopt it. Its env is built from scratch — spec.env + PORT/HOME/TMPDIR — so nothing
of the host (credentials, PATH) leaks into an app. One poll loop reaps every child instead of a
thread or watcher per process, which keeps 1,000 instances cheap.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path

import psutil

from coderunner.hosts.adoption import load_instances
from coderunner.hosts.cpu import DEFAULT_READER, CpuMeter
from coderunner.hosts.instance import Instance, exit_status, signal_instance
from coderunner.hosts.provider import InstanceNotFound, InvalidRequest
from coderunner.models.sandbox import InstanceInfo, InstanceSpec, InstanceState, InstanceStats

log = logging.getLogger("coderunner.hosts.processes")

REAP_INTERVAL_S = 0.2
KILL_WAIT_S = 5.0


def free_port(exclude: AbstractSet[int] = frozenset()) -> int:
    """An unused 127.0.0.1 port, avoiding ones the host already handed out but that may not be
    bound yet (an app still starting)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in exclude:
            return port
    raise OSError("no free port found")


def resolve_command(argv: list[str], cwd: Path) -> list[str]:
    """Resolve argv[0] on the *host's* PATH now, since the instance gets no PATH of its own."""
    exe = argv[0]
    if exe in ("python", "python3"):
        resolved: str | None = sys.executable
    elif os.path.isabs(exe):
        resolved = exe if os.access(exe, os.X_OK) else None
    elif os.sep in exe:
        candidate = cwd / exe
        resolved = str(candidate) if os.access(candidate, os.X_OK) else None
    else:
        resolved = shutil.which(exe)
    if resolved is None:
        raise InvalidRequest(f"command: {exe!r} not found or not executable")
    return [resolved, *argv[1:]]


def build_env(spec_env: dict[str, str], port: int, own_dir: Path) -> dict[str, str]:
    return {"HOME": str(own_dir), "TMPDIR": str(own_dir), **spec_env, "PORT": str(port)}


class InstanceManager:
    """The host's table of instances; the only code that starts or signals their processes."""

    def __init__(self, sandbox_dir: Path) -> None:
        self.instances_dir = sandbox_dir / "instances"
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self.instances: dict[str, Instance] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.cpu = CpuMeter()  # one measurement per reader: the sweep and the autoscaler never share

    def adopt(self) -> None:
        """Load every instance dir left by a previous host (adopted if alive, else lost)."""
        for inst in load_instances(self.instances_dir):
            self.instances[inst.instance_id] = inst

    def _lock(self, instance_id: str) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def require(self, instance_id: str) -> Instance:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise InstanceNotFound(f"instance {instance_id!r} not found")
        return inst

    def used_ports(self) -> set[int]:
        return {i.port for i in self.instances.values()}

    async def create(self, spec: InstanceSpec) -> InstanceInfo:
        async with self._lock(spec.instance_id):
            existing = self.instances.get(spec.instance_id)
            if existing is not None:
                return existing.info()
            inst = self._spawn(spec)
            self.instances[inst.instance_id] = inst
            log.info("started %s (deployment=%s version=%s) pid=%s port=%s", inst.instance_id,
                     inst.deployment, inst.version, inst.pid, inst.port)
            return inst.info()

    def _spawn(self, spec: InstanceSpec) -> Instance:
        own_dir = self.instances_dir / spec.instance_id
        cwd = Path(spec.working_dir).expanduser() if spec.working_dir else own_dir
        if spec.working_dir and not cwd.is_dir():
            raise InvalidRequest(f"working_dir: {spec.working_dir!r} is not a directory")
        argv = resolve_command(spec.command, cwd)
        own_dir.mkdir(parents=True, exist_ok=True)
        port = free_port(self.used_ports())
        try:
            with (own_dir / "output.log").open("ab") as out:
                popen = subprocess.Popen(
                    argv, cwd=cwd, env=build_env(spec.env, port, own_dir), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            shutil.rmtree(own_dir, ignore_errors=True)
            raise InvalidRequest(f"command: cannot start {spec.command[0]!r}: {exc.strerror}") from exc
        proc = psutil.Process(popen.pid)
        inst = Instance(
            instance_id=spec.instance_id, deployment=spec.deployment, version=spec.version,
            group=spec.group, port=port, pid=popen.pid, create_time=proc.create_time(),
            started_at=datetime.now(UTC), directory=own_dir, popen=popen, proc=proc,
        )
        inst.save()
        return inst

    def _check(self, inst: Instance) -> bool:
        """Record the exit of a running instance; True once it is no longer running."""
        if not inst.running:
            return True
        exited, code = exit_status(inst)
        if not exited:
            return False
        inst.state = InstanceState.STOPPED if inst.stop_requested else InstanceState.EXITED
        inst.exit_code = code
        inst.save()
        log.info("%s %s (exit code %s)", inst.instance_id, inst.state.value, code)
        return True

    async def watch(self) -> None:
        """Reap exited children and notice adopted processes that died, until cancelled."""
        while True:
            for inst in list(self.instances.values()):
                self._check(inst)
            await asyncio.sleep(REAP_INTERVAL_S)

    async def _wait_exit(self, inst: Instance, timeout_s: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not self._check(inst):
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def stop(self, instance_id: str, grace_s: float = 5.0) -> InstanceInfo:
        inst = self.require(instance_id)
        async with self._lock(instance_id):
            if self._check(inst):
                return inst.info()
            inst.stop_requested = True
            signal_instance(inst, signal.SIGTERM)
            if not await self._wait_exit(inst, max(grace_s, 0.0)):
                log.info("%s ignored SIGTERM for %.1fs: SIGKILL", inst.instance_id, grace_s)
                signal_instance(inst, signal.SIGKILL)
                await self._wait_exit(inst, KILL_WAIT_S)
            return inst.info()

    async def destroy(self, instance_id: str, grace_s: float = 5.0) -> None:
        if instance_id not in self.instances:
            return
        await self.stop(instance_id, grace_s)
        async with self._lock(instance_id):
            inst = self.instances.pop(instance_id, None)
            if inst is not None:
                shutil.rmtree(inst.directory, ignore_errors=True)
                log.info("destroyed %s", instance_id)

    async def stop_all(self, grace_s: float = 5.0) -> None:
        running = [i.instance_id for i in self.instances.values() if i.running]
        await asyncio.gather(*(self.stop(i, grace_s) for i in running))

    def list(self, deployment: str | None = None) -> list[InstanceInfo]:
        return [i.info() for i in self.instances.values() if deployment in (None, i.deployment)]

    def stats(
        self, instance_ids: builtins.list[str], reader: str = DEFAULT_READER
    ) -> builtins.list[InstanceStats]:
        """CPU (since this reader's previous call), memory; running instances only."""
        self.cpu.keep_only(self.instances.keys())
        out: list[InstanceStats] = []
        for iid in instance_ids:
            inst = self.instances.get(iid)
            if inst is None or not inst.running or inst.proc is None:
                continue
            try:
                with inst.proc.oneshot():
                    out.append(InstanceStats(
                        instance_id=iid, cpu_percent=self.cpu.read_process(iid, reader, inst.proc),
                        memory_bytes=inst.proc.memory_info().rss,
                        memory_percent=inst.proc.memory_percent(),
                    ))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out
