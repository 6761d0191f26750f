"""Spawning, watching and stopping instance processes.

Each instance is a session leader (start_new_session) so the host dying does not take it down and a
restarted host can adopt it. Its env is built from scratch — spec.env + PORT/HOME/TMPDIR — so nothing
of the host (credentials, PATH) leaks into an app. One poll loop reaps every child instead of a
thread or watcher per process, which keeps 1,000 instances cheap.

Unless its spec says `isolation: none`, an instance runs under bubblewrap (hosts/isolation.py) with
the limits of its `resources` (hosts/limits.py); an instance the kernel killed for exceeding its
memory is reported with that reason.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from pathlib import Path

import psutil

from coderunner.hosts import isolation, logfiles
from coderunner.hosts.adoption import load_instances
from coderunner.hosts.cpu import DEFAULT_READER, CpuMeter
from coderunner.hosts.instance import Instance, descendants, exit_status, same_process, signal_instance
from coderunner.hosts.limits import CgroupLayout, InstanceCgroup, child_setup, detect_cgroups, rlimits
from coderunner.hosts.previous import PreviousLogs
from coderunner.hosts.provider import InstanceNotFound, InvalidRequest
from coderunner.models.sandbox import (
    InstanceInfo,
    InstanceSpec,
    InstanceState,
    InstanceStats,
    Isolation,
)

log = logging.getLogger("coderunner.hosts.processes")

REAP_INTERVAL_S = 0.2
KILL_WAIT_S = 5.0
UID_BASE = 200_000  # instance uids (root host): UID_BASE + 1000 * slot(state dir) + n
UIDS_PER_HOST = 1000
TOTAL_MEMORY = psutil.virtual_memory().total


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


def build_env(spec_env: dict[str, str], port: int, own_dir: Path, tmp: Path | None = None) -> dict[str, str]:
    return {"HOME": str(own_dir), "TMPDIR": str(tmp or own_dir), **spec_env, "PORT": str(port)}


def exit_reason(inst: Instance, cgroup: InstanceCgroup | None) -> str | None:
    """Why the kernel ended an instance, when a limit did: memory (counted by its cgroup) or CPU time."""
    if cgroup is not None and cgroup.oom_kills() > 0:
        return f"killed: out of memory (limit {inst.memory_mb} MiB)"
    if inst.exit_code == -signal.SIGXCPU and inst.cpu_seconds:
        return f"killed: CPU time limit ({inst.cpu_seconds} s)"
    return None


def tree_usage(inst: Instance) -> tuple[float, int]:
    """CPU seconds used so far and resident memory of the instance's whole process tree (bwrap, the
    app and its children); `CpuMeter` turns the seconds into a percent per reader."""
    assert inst.proc is not None
    tree = {inst.proc.pid: inst.proc}
    for proc in descendants(inst.proc.pid):
        tree[proc.pid] = inst.tree.get(proc.pid) or proc
    cpu_s, rss = 0.0, 0
    for proc in tree.values():
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            cpu_s += times.user + times.system
            rss += proc.memory_info().rss
    inst.tree = tree
    return cpu_s, rss


class InstanceManager:
    """The host's table of instances; the only code that starts or signals their processes."""

    def __init__(self, sandbox_dir: Path) -> None:
        self.instances_dir = sandbox_dir / "instances"
        self.instances_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.previous = PreviousLogs(sandbox_dir)
        # hidden from every sandbox: the whole state dir (keys, tokens, databases, all instances)
        parent = sandbox_dir.resolve().parent
        self.state_dir = parent if parent != Path("/") else sandbox_dir.resolve()
        self.instances: dict[str, Instance] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.cpu = CpuMeter()  # one measurement per reader: the sweep and the autoscaler never share
        self.cgroups: CgroupLayout | None = detect_cgroups(sandbox_dir)
        self.bwrap = isolation.bwrap_path()
        self.sandbox_problem = isolation.check_bwrap(self.bwrap)
        self.uid_base = UID_BASE + UIDS_PER_HOST * (
            int(hashlib.sha256(str(self.state_dir).encode()).hexdigest(), 16) % 1000)
        log.info("sandboxing: %s; limits: %s", self.sandbox_problem or f"bubblewrap ({self.bwrap})",
                 f"cgroup v{self.cgroups.version} + rlimits" if self.cgroups else
                 "rlimits only (no writable cgroup: memory is RLIMIT_DATA, processes RLIMIT_NPROC)")

    def adopt(self) -> None:
        """Load every instance dir left by a previous host (adopted if alive, else lost)."""
        for inst in load_instances(self.instances_dir):
            self.instances[inst.instance_id] = inst
            if not inst.running:
                self._release(inst)

    def cgroup(self, inst: Instance) -> InstanceCgroup | None:
        return InstanceCgroup(self.cgroups, inst.instance_id) if self.cgroups else None

    def _release(self, inst: Instance) -> None:
        """After an instance ended: kill leftovers in its cgroup and remove the group."""
        group = self.cgroup(inst)
        if group is not None:
            group.remove()

    def _free_uid(self) -> int:
        taken = {i.uid for i in self.instances.values()}
        for uid in range(self.uid_base, self.uid_base + UIDS_PER_HOST):
            if uid not in taken:
                return uid
        raise InvalidRequest(f"more than {UIDS_PER_HOST} instances on this host: destroy some first")

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
        sandboxed = spec.isolation == Isolation.SANDBOX
        if sandboxed and self.sandbox_problem:
            raise InvalidRequest(f"isolation: {self.sandbox_problem}")
        if not sandboxed:
            log.warning("%s runs UNCONFINED (isolation: none): it can read the state dir, keys and "
                        "tokens, and every other instance", spec.instance_id)
        directory = self.instances_dir / spec.instance_id
        own_home = directory / "home"
        cwd = Path(spec.working_dir).expanduser() if spec.working_dir else own_home
        if spec.working_dir and not cwd.is_dir():
            raise InvalidRequest(f"working_dir: {spec.working_dir!r} is not a directory")
        argv = resolve_command(spec.command, cwd)
        uid = self._free_uid() if sandboxed and isolation.privileged() else None
        own_home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if uid is not None:
            os.chown(own_home, uid, uid)
        port = free_port(self.used_ports())
        inst = Instance(
            instance_id=spec.instance_id, deployment=spec.deployment, version=spec.version,
            group=spec.group, port=port, pid=None, create_time=None, started_at=datetime.now(UTC),
            directory=directory, isolation=spec.isolation, uid=uid, memory_mb=spec.resources.memory_mb,
            cpu_seconds=spec.resources.cpu_seconds,
        )
        group = self.cgroup(inst)
        info_r, info_w = os.pipe() if sandboxed else (-1, -1)
        try:
            if group is not None:
                group.create(spec.resources)
            if sandboxed:
                assert self.bwrap is not None
                argv = isolation.bwrap_argv(self.bwrap, state_dir=self.state_dir, home=own_home, cwd=cwd,
                                            command=argv, uid=uid, info_fd=info_w,
                                            max_processes=spec.resources.max_processes)
            limits = rlimits(spec.resources, own_uid=uid is not None, memory_by_cgroup=group is not None)
            setup: Callable[[], None] = child_setup(group.procs_files if group else [], limits)
            env = build_env(spec.env, port, own_home, Path("/tmp") if sandboxed else None)
            with (directory / "output.log").open("ab") as out:
                popen = subprocess.Popen(
                    argv, cwd=cwd if not sandboxed else "/", env=env, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                    pass_fds=(info_w,) if sandboxed else (),
                    preexec_fn=setup,  # only syscalls between fork and exec (see child_setup)
                )
            pid = popen.pid
            if sandboxed:
                os.close(info_w)
                info_w = -1
                inner = isolation.read_child_pid(info_r)
                info_r = -1
                if inner is None:
                    try:
                        popen.wait(5)
                    except subprocess.TimeoutExpired:
                        popen.kill()
                        popen.wait()
                    last = logfiles.tail(directory / "output.log", 3).strip()[:300]
                    raise InvalidRequest(
                        f"command: the sandbox did not start (exit code {popen.returncode}): {last}")
                pid = inner  # the sandbox's init: killing it ends everything inside
        except (OSError, subprocess.SubprocessError) as exc:
            self._undo(directory, group)
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise InvalidRequest(f"command: cannot start {spec.command[0]!r}: {why}") from exc
        except InvalidRequest:
            self._undo(directory, group)
            raise
        finally:
            for fd in (info_r, info_w):
                if fd >= 0:
                    os.close(fd)
        proc = psutil.Process(pid)
        proc.cpu_percent(None)  # prime, so the first stats() call measures since start
        inst.pid, inst.create_time, inst.popen, inst.proc = pid, proc.create_time(), popen, proc
        inst.save()
        return inst

    def _undo(self, directory: Path, group: InstanceCgroup | None) -> None:
        if group is not None:
            group.remove()
        shutil.rmtree(directory, ignore_errors=True)

    def _check(self, inst: Instance) -> bool:
        """Record the exit of a running instance; True once it is no longer running."""
        if not inst.running:
            return True
        exited, code = exit_status(inst)
        if not exited:
            return False
        if inst.isolation == Isolation.SANDBOX and same_process(inst.pid, inst.create_time) is not None:
            signal_instance(inst, signal.SIGKILL, force=True)  # bwrap was killed alone: no orphans
        inst.state = InstanceState.STOPPED if inst.stop_requested else InstanceState.EXITED
        inst.exit_code = isolation.decode_exit(code) if inst.isolation == Isolation.SANDBOX else code
        inst.exit_reason = exit_reason(inst, self.cgroup(inst))
        inst.save()
        self._release(inst)
        log.info("%s %s (exit code %s%s)", inst.instance_id, inst.state.value, inst.exit_code,
                 f"; {inst.exit_reason}" if inst.exit_reason else "")
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
                self.previous.keep(inst)  # `logs --previous` reads it after the directory is gone
                shutil.rmtree(inst.directory, ignore_errors=True)
                log.info("destroyed %s", instance_id)

    async def stop_all(self, grace_s: float = 5.0) -> None:
        running = [i.instance_id for i in self.instances.values() if i.running]
        await asyncio.gather(*(self.stop(i, grace_s) for i in running))
        for parent in (self.cgroups.parents.values() if self.cgroups else []):
            with contextlib.suppress(OSError):  # still holds a group of an instance that outlived us
                parent.rmdir()

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
                cpu_s, rss = tree_usage(inst)
                cpu = self.cpu.read(iid, reader, cpu_s, time.time(), inst.proc.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            out.append(InstanceStats(instance_id=iid, cpu_percent=cpu, memory_bytes=rss,
                                     memory_percent=100.0 * rss / TOTAL_MEMORY))
        return out
