"""What a dead supervisor left behind, found and stopped before `up` starts a new stack.

A supervisor killed with SIGKILL cannot stop its children: the Temporal dev server keeps the SQLite
file, the sandbox host keeps its lock and its app instances, the worker keeps polling. A second `up`
must not start a second set next to them (two Temporal servers on one SQLite file, a sandbox host that
cannot get its lock), and it must not forget them either (then `down` could never stop them). So `up`
and `down` stop them: first the children recorded in `stack.json` (pid + start time), then any process
whose command line names this state directory the way the supervisor's children do — the one a
supervisor started just before it died, too late to record it. Stopping beats adopting here: the
children's pipes and restart bookkeeping died with their supervisor, and every piece resumes from
the state directory (the sandbox host re-adopts nothing it stopped; the deployments' sweeps replace
the instances).
"""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path
from typing import Any

import psutil

from coderunner.config.home import HomeLayout
from starter.stack.processes import ProcessRecord, terminate

# the children in reverse start order: the worker first, the Temporal server last
STOP_ORDER = ("worker", "sandbox", "codec", "temporal")


def _marks(home: Path) -> list[tuple[str, str]]:
    """(flag, value) pairs that appear in the command line of exactly this home's stack processes."""
    return [("--home", str(home)), ("--db-filename", str(HomeLayout(home).temporal_db))]


def _names_home(cmdline: list[str], marks: list[tuple[str, str]]) -> bool:
    return any(
        flag == mark_flag and value == mark_value
        for flag, value in itertools.pairwise(cmdline)
        for mark_flag, mark_value in marks
    )


def _kind(cmdline: list[str]) -> str:
    """Which child (or the supervisor) a matching command line is, for the stop order and the report."""
    text = " ".join(cmdline)
    for name, needle in (
        ("supervisor", "starter.stack.supervisor"),
        ("sandbox", "coderunner.hosts.host"),
        ("codec", "coderunner.codec.server"),
        ("temporal", "--db-filename"),
    ):
        if needle in text:
            return name
    return "worker"


def stray_processes(home: Path) -> list[tuple[str, psutil.Process]]:
    """Live processes of this home's stack, by command line; never this process or its parents."""
    marks, mine = _marks(home), {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found: list[tuple[str, psutil.Process]] = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmdline = proc.info["cmdline"] or []
            if (
                proc.pid in mine
                or proc.info["status"] == psutil.STATUS_ZOMBIE
                or not _names_home(cmdline, marks)
            ):
                continue
            found.append((_kind(cmdline), proc))
        except psutil.Error:
            continue
    return found


def stop_leftovers(
    home: Path, stack: dict[str, Any] | None, sandbox_signal: signal.Signals = signal.SIGTERM
) -> list[str]:
    """Stop the children a dead supervisor left, recorded or not; the names of what was stopped.
    The sandbox host gets `sandbox_signal` (SIGUSR1: exit and leave apps and routers serving).

    Call only when no live supervisor owns the home (a live one stops its own children).
    """
    stopped: list[str] = []
    recorded = (stack or {}).get("processes") or {}
    for name in sorted(recorded, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else -1):
        sig = sandbox_signal if name == "sandbox" else signal.SIGTERM
        if terminate(ProcessRecord(**recorded[name]), grace_s=15.0, sig=sig):
            stopped.append(name)
    strays = stray_processes(home)
    for kind, proc in sorted(strays, key=lambda s: STOP_ORDER.index(s[0]) if s[0] in STOP_ORDER else -1):
        record = ProcessRecord(name=kind, pid=proc.pid, create_time=proc.create_time())
        if terminate(record, grace_s=15.0, sig=sandbox_signal if kind == "sandbox" else signal.SIGTERM):
            stopped.append(kind)
    return stopped
