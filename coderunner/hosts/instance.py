"""One app instance as the host tracks it, and its `meta.json` on disk.

meta.json is what lets a restarted host find (adopt) instances that outlived the previous host, so it
holds identity (pid + psutil create_time, to survive pid reuse) and state — never the env, which may
hold secrets that must not land on disk. It sits next to `output.log` in the instance's directory,
which the app cannot write: the app's writable dir is `home/` below it (a sandboxed app that could
rewrite meta.json could make the next host adopt, and later kill, any process it likes).

For a sandboxed instance the recorded pid is the sandbox's init (bwrap's child, pid 1 of the
instance's PID namespace, as the host sees it); the app runs below it. Killing that init ends every
process in the sandbox, so it is the instance's identity for adoption and for SIGKILL. A graceful
stop signals the processes below it instead (an init ignores SIGTERM); the app's exit ends the
namespace, and bwrap (our child) exits with the app's status.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from coderunner.models.sandbox import InstanceGroup, InstanceInfo, InstanceState, Isolation

META_FILE = "meta.json"
LOG_FILE = "output.log"
HOME_DIR = "home"


@dataclass
class Instance:
    instance_id: str
    deployment: str
    version: str
    group: InstanceGroup
    port: int
    pid: int | None
    create_time: float | None
    started_at: datetime
    directory: Path
    state: InstanceState = InstanceState.RUNNING
    exit_code: int | None = None
    adopted: bool = False
    isolation: Isolation = Isolation.SANDBOX
    uid: int | None = None  # the instance's own user (root host, sandboxed), else None
    memory_mb: int | None = None
    cpu_seconds: int | None = None
    exit_reason: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)  # set when our child
    proc: psutil.Process | None = field(default=None, repr=False)  # cached for stats()
    tree: dict[int, psutil.Process] = field(default_factory=dict, repr=False)  # descendants, cached
    stop_requested: bool = False

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_FILE

    @property
    def home(self) -> Path:
        """The app's only writable directory (and its $HOME, cwd by default)."""
        return self.directory / HOME_DIR

    @property
    def running(self) -> bool:
        return self.state == InstanceState.RUNNING

    def info(self) -> InstanceInfo:
        return InstanceInfo(
            instance_id=self.instance_id,
            deployment=self.deployment,
            version=self.version,
            group=self.group,
            port=self.port,
            pid=self.pid,
            state=self.state,
            exit_code=self.exit_code,
            started_at=self.started_at,
            adopted=self.adopted,
            log_path=str(self.log_path),
            exit_reason=self.exit_reason,
            isolation=self.isolation,
        )

    def meta(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "deployment": self.deployment,
            "version": self.version,
            "group": self.group.value,
            "port": self.port,
            "pid": self.pid,
            "create_time": self.create_time,
            "started_at": self.started_at.isoformat(),
            "state": self.state.value,
            "exit_code": self.exit_code,
            "isolation": self.isolation.value,
            "uid": self.uid,
            "memory_mb": self.memory_mb,
            "cpu_seconds": self.cpu_seconds,
            "exit_reason": self.exit_reason,
        }

    def save(self) -> None:
        """Atomic write (tmp + rename) so a host killed mid-write never leaves a torn meta.json."""
        tmp = self.directory / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(self.meta(), indent=1))
        os.replace(tmp, self.directory / META_FILE)

    @classmethod
    def from_meta(cls, directory: Path, meta: dict[str, Any]) -> Instance:
        return cls(
            instance_id=meta["instance_id"],
            deployment=meta["deployment"],
            version=meta["version"],
            group=InstanceGroup(meta.get("group", InstanceGroup.STABLE)),
            port=int(meta["port"]),
            pid=meta.get("pid"),
            create_time=meta.get("create_time"),
            started_at=datetime.fromisoformat(meta["started_at"]),
            directory=directory,
            state=InstanceState(meta.get("state", InstanceState.RUNNING)),
            exit_code=meta.get("exit_code"),
            # written before sandboxing existed: those instances ran unconfined
            isolation=Isolation(meta.get("isolation", Isolation.NONE)),
            uid=meta.get("uid"),
            memory_mb=meta.get("memory_mb"),
            cpu_seconds=meta.get("cpu_seconds"),
            exit_reason=meta.get("exit_reason"),
        )


def same_process(pid: int | None, create_time: float | None) -> psutil.Process | None:
    """The live process with this pid *and* start time, or None (gone, zombie or pid reused)."""
    if pid is None or create_time is None:
        return None
    try:
        proc = psutil.Process(pid)
        # 1 s slack: psutil derives create_time from the wall-clock boot time, which NTP can nudge;
        # the same pid being reused within a second of the original start is not a real risk.
        if abs(proc.create_time() - create_time) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def signal_instance(inst: Instance, sig: signal.Signals, force: bool = False) -> None:
    """Signal the instance's processes, only while we know the pid is still ours (a reaped or reused
    pid is never signalled; `force`: our bwrap child ended but its sandbox's init still runs).
    Unconfined: its whole process group (it is a session leader). Sandboxed: SIGKILL goes to the
    sandbox's init, which takes everything inside with it, even a process that left the group;
    other signals go to every process below the init."""
    if inst.pid is None:
        return
    if inst.popen is not None and not force:
        if inst.popen.returncode is not None:
            return
    elif same_process(inst.pid, inst.create_time) is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if inst.isolation == Isolation.SANDBOX:
            if sig == signal.SIGKILL:
                os.kill(inst.pid, sig)
                return
            for proc in descendants(inst.pid):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(sig)
        elif os.getpgid(inst.pid) == inst.pid:
            os.killpg(inst.pid, sig)
        else:
            os.kill(inst.pid, sig)


def exit_status(inst: Instance) -> tuple[bool, int | None]:
    """(exited, exit_code) without blocking; reaps our own children, polls adopted ones."""
    if inst.popen is not None:
        code = inst.popen.poll()
        return code is not None, code
    return same_process(inst.pid, inst.create_time) is None, None
