"""Per-instance resource limits: a cgroup per instance where the kernel lets us make one, rlimits always.

Memory, processes and CPU share are enforced by a cgroup (v2, or the v1 `memory`, `pids` and `cpu`
hierarchies) created under the host's own cgroup: the kernel kills an instance that exceeds its
memory and counts it (`oom_kill`), so the host can report "out of memory" rather than a bare exit
code, and a fork bomb meets `pids.max` inside its own group, never the machine's process table.
Open files, CPU seconds and core dumps are rlimits, set in the child between fork and exec. When no
cgroup can be made (an unprivileged host without delegation), memory falls back to RLIMIT_DATA (an
allocation fails instead of a kill) and processes to RLIMIT_NPROC for the instance's own uid.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coderunner.models.sandbox import Resources

log = logging.getLogger("coderunner.hosts.limits")

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
MIB = 1024 * 1024


def _own_cgroups() -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup ("" is the v2 hierarchy)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    return found


def _writable_dir(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


@dataclass(frozen=True)
class CgroupLayout:
    """Where this host's instance groups live: one parent per controller hierarchy."""

    version: int  # 1 or 2
    parents: dict[str, Path]  # controller (v1) or "" (v2) -> the host's parent group directory

    def group_dirs(self, instance_id: str) -> dict[str, Path]:
        return {name: parent / instance_id for name, parent in self.parents.items()}


def detect_cgroups(sandbox_dir: Path) -> CgroupLayout | None:
    """A writable place for per-instance cgroups, or None. The parent is named after the sandbox dir,
    so two hosts on one machine (tests, several stacks) never share groups."""
    tag = "coderunner-" + hashlib.sha256(str(sandbox_dir.resolve()).encode()).hexdigest()[:12]
    own = _own_cgroups()
    if (CGROUP_ROOT / "cgroup.controllers").is_file():  # a pure v2 mount
        base = CGROUP_ROOT / own.get("", "/").lstrip("/")
        enabled = (base / "cgroup.subtree_control").read_text().split() if base.is_dir() else []
        if _writable_dir(base) and {"memory", "pids"} <= set(enabled):
            return CgroupLayout(2, {"": base / tag})
        return None
    parents: dict[str, Path] = {}
    for name in V1_CONTROLLERS:
        base = CGROUP_ROOT / name / own.get(name, "/").lstrip("/")
        if _writable_dir(base):
            parents[name] = base / tag
    return CgroupLayout(1, parents) if {"memory", "pids"} <= set(parents) else None


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError as exc:
        log.debug("cannot write %s=%s: %s", path, value, exc)
        return False


class InstanceCgroup:
    """The cgroup(s) of one instance: created with its limits before spawn, removed after it ends."""

    def __init__(self, layout: CgroupLayout, instance_id: str) -> None:
        self.layout = layout
        self.dirs = layout.group_dirs(instance_id)

    def create(self, res: Resources) -> None:
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        memory, quota = res.memory_mb * MIB, int(res.cpu * CPU_PERIOD_US)
        if self.layout.version == 2:
            d = self.dirs[""]
            _write(d / "memory.max", str(memory))
            _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(res.max_processes))
            _write(d / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        _write(self.dirs["memory"] / "memory.limit_in_bytes", str(memory))
        _write(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory))  # no escape into swap
        _write(self.dirs["pids"] / "pids.max", str(res.max_processes))
        if "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(quota))

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def oom_kills(self) -> int:
        """How many times the kernel killed a process of this group for exceeding its memory."""
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        key = "" if self.layout.version == 2 else "memory"
        try:
            text = (self.dirs[key] / name).read_text()
        except (OSError, KeyError):
            return 0
        for line in text.splitlines():
            field, _, value = line.partition(" ")
            if field == "oom_kill":
                return int(value)
        return 0

    def memory_bytes(self) -> int | None:
        name = "memory.current" if self.layout.version == 2 else "memory.usage_in_bytes"
        key = "" if self.layout.version == 2 else "memory"
        try:
            return int((self.dirs[key] / name).read_text())
        except (OSError, KeyError, ValueError):
            return None

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            with contextlib.suppress(OSError, ValueError):
                found.update(int(p) for p in Path(procs).read_text().split())
        return sorted(found)

    def remove(self, attempts: int = 20) -> None:
        """Kill whatever is left in the group, then remove it (rmdir fails while a task remains)."""
        for _ in range(attempts):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            busy = False
            for directory in self.dirs.values():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    busy = busy or exc.errno == errno.EBUSY
            if not busy:
                return
            time.sleep(0.05)
        log.warning("cgroup of %s still busy; left in place", next(iter(self.dirs.values())).name)


def remove_host_cgroups(sandbox_dir: Path) -> None:
    """Remove every instance group a host on `sandbox_dir` made, and its parent (tests' clean-up,
    and a host starting over a state dir whose instances are all gone)."""
    layout = detect_cgroups(sandbox_dir)
    if layout is None:
        return
    for parent in layout.parents.values():
        for group in [p for p in parent.glob("*") if p.is_dir()]:
            InstanceCgroup(layout, group.name).remove()
        with contextlib.suppress(OSError):
            parent.rmdir()


Limit = tuple[int, int, int]  # (resource, soft, hard)


def rlimits(res: Resources, *, own_uid: bool, memory_by_cgroup: bool) -> list[Limit]:
    """(resource, soft, hard) for the child. NPROC only for an instance's own uid: counted per uid,
    it would otherwise count the host user's processes too. CPU time: SIGXCPU at the limit (so the
    exit says why), SIGKILL a second later for an app that ignores it."""
    out = [(resource.RLIMIT_NOFILE, res.open_files, res.open_files), (resource.RLIMIT_CORE, 0, 0)]
    if res.cpu_seconds is not None:
        out.append((resource.RLIMIT_CPU, res.cpu_seconds, res.cpu_seconds + 1))
    if own_uid:
        out.append((resource.RLIMIT_NPROC, res.max_processes, res.max_processes))
    if not memory_by_cgroup:
        out.append((resource.RLIMIT_DATA, res.memory_mb * MIB, res.memory_mb * MIB))
    if os.geteuid() == 0:
        return out
    clamped = []  # without privileges a limit cannot rise above the host's own hard limit
    for which, soft, hard in out:
        ceiling = resource.getrlimit(which)[1]
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)
        clamped.append((which, soft, hard))
    return clamped


def child_setup(procs_files: list[str], limits: list[Limit]) -> Callable[[], None]:
    """The function run in the child after fork, before exec: join the cgroups (before any process
    of the instance exists, so none escapes them) and set the rlimits, which every descendant
    inherits. Only syscalls: no logging, no locks. The umask goes back to the usual 022: the host's own
    077 (its key files) would make the directories bwrap creates for the sandbox (e.g. the path to a
    checkout under /tmp) unreadable to the app's own user."""
    payload = b"0"  # "the writing process", in v1 and v2 alike

    def setup() -> None:
        os.umask(0o022)
        for procs in procs_files:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, payload)
            finally:
                os.close(fd)
        for which, soft, hard in limits:
            resource.setrlimit(which, (soft, hard))

    return setup
