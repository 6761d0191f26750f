"""Machine-wide claims on the ports of the stacks that are up.

A stack binds its ports again each time its supervisor restarts a crashed worker, sandbox host or
codec server. Were another stack's `up` to plan while such a process is down, it would find the port
free, take it, and leave the first stack's process unable to start again: two stacks on one machine
(two projects, or a test suite running two at once) raced exactly so. `up` therefore plans under a
machine-wide lock, skips the ports that other live stacks claim, and claims its own; `down` gives them
back. A claim whose stack is gone (no live supervisor and no live `up` that wrote it) counts for
nothing and is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil

from coderunner.config.home import HomeLayout
from starter.stack.processes import ProcessRecord

CLAIMS_DIR = Path(tempfile.gettempdir()) / f"coderunner-port-claims-{os.getuid()}"


def _claim_file(home: Path) -> Path:
    return CLAIMS_DIR / f"{hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]}.json"


@contextlib.contextmanager
def planning() -> Iterator[None]:
    """One `up` at a time reads the claims, picks its ports and writes its claim."""
    CLAIMS_DIR.mkdir(mode=0o700, exist_ok=True)
    with open(CLAIMS_DIR / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _alive(claim: dict) -> bool:
    """The claiming stack is up (its supervisor lives) or still coming up (the `up` that wrote it lives)."""
    if ProcessRecord(**claim["by"]).alive() is not None:
        return True
    stack_file = HomeLayout(Path(claim["home"])).stack_file
    try:
        supervisor = json.loads(stack_file.read_text()).get("supervisor")
    except (OSError, ValueError):
        return False
    return isinstance(supervisor, dict) and ProcessRecord(**supervisor).alive() is not None


def claimed_by_others(home: Path) -> set[int]:
    """Ports claimed by other stacks that are up; dead claims are removed on the way."""
    ports: set[int] = set()
    mine = _claim_file(home)
    for path in CLAIMS_DIR.glob("*.json"):
        if path == mine:
            continue
        try:
            claim = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(claim):
            ports |= set(claim["ports"])
        else:
            path.unlink(missing_ok=True)
    return ports


def claim(home: Path, ports: set[int]) -> None:
    me = psutil.Process()
    by = ProcessRecord(name="up", pid=me.pid, create_time=me.create_time()).model_dump()
    record = {"home": str(home.resolve()), "ports": sorted(ports), "by": by}
    CLAIMS_DIR.mkdir(mode=0o700, exist_ok=True)
    _claim_file(home).write_text(json.dumps(record))


def release(home: Path) -> None:
    _claim_file(home).unlink(missing_ok=True)
