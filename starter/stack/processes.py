"""Process bookkeeping for the embedded stack: start detached, identify by pid + create time, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from pydantic import BaseModel

from coderunner.config.home import open_private_log


class ProcessRecord(BaseModel):
    """A pid alone can be reused after a reboot; pid + create time names exactly one process."""

    name: str
    pid: int
    create_time: float

    def alive(self) -> psutil.Process | None:
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except psutil.Error:
            pass
        return None


def spawn(
    name: str, argv: list[str], log: Path, env: dict[str, str] | None = None, detach: bool = False
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    out = open_private_log(log)
    proc = subprocess.Popen(
        argv,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=detach,
    )
    out.close()
    return proc, ProcessRecord(name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time())


def terminate(record: ProcessRecord, grace_s: float = 10.0, sig: signal.Signals = signal.SIGTERM) -> bool:
    """`sig` (SIGTERM), then SIGKILL after the grace period; True if the process was running."""
    proc = record.alive()
    if proc is None:
        return False
    try:
        proc.send_signal(sig)
        proc.wait(grace_s)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except psutil.NoSuchProcess:
        pass
    return True


def wait_until(check: Callable[[], object], timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return False
