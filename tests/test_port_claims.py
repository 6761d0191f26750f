"""Two stacks on one machine: a stack's ports stay its own while one of its processes restarts. A
second `up` planned while the first stack's worker was down took the worker's metrics port, and that
worker could never start again (seen as two embedded-stack tests failing together under load)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from coderunner.config.home import HomeLayout
from coderunner.config.ports import free_port
from starter.stack import port_claims
from starter.stack.control import PREFERRED, plan_ports
from starter.stack.processes import ProcessRecord


def _stack_up(home: Path, supervisor: psutil.Process) -> None:
    """A stack whose supervisor is `supervisor` (alive or not), as `up` leaves it."""
    layout = HomeLayout(home)
    layout.stack_file.parent.mkdir(parents=True, exist_ok=True)
    record = ProcessRecord(name="supervisor", pid=supervisor.pid, create_time=supervisor.create_time())
    layout.stack_file.write_text(json.dumps({"supervisor": record.model_dump()}))


@pytest.fixture
def live_process() -> Iterator[psutil.Process]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait()


def test_a_port_another_live_stack_claims_is_not_planned_even_when_free(
    tmp_path: Path, live_process: psutil.Process
) -> None:
    metrics = free_port()  # the point is a FREE port that another stack claims (its worker is down)
    preferred = {**PREFERRED, "metrics_port": metrics}
    first, second = tmp_path / "a", tmp_path / "b"
    _stack_up(first, live_process)
    port_claims.claim(first, {metrics})  # its worker is down: nothing listens on the port right now
    try:
        taken = port_claims.claimed_by_others(second)
        assert metrics in taken
        assert metrics not in plan_ports(taken, preferred).values()  # before: the second stack took it
        assert metrics not in port_claims.claimed_by_others(first)  # a stack's own claim is not a rival
    finally:
        port_claims.release(first)
    assert metrics not in port_claims.claimed_by_others(second)  # `down` gave it back


def test_a_claim_whose_stack_is_gone_counts_for_nothing_and_is_removed(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = psutil.Process(ended.pid)
    record = ProcessRecord(name="supervisor", pid=gone.pid, create_time=gone.create_time())
    ended.wait()
    home = tmp_path / "gone"
    layout = HomeLayout(home)
    layout.stack_file.parent.mkdir(parents=True, exist_ok=True)
    layout.stack_file.write_text(json.dumps({"supervisor": record.model_dump()}))
    claim = port_claims.CLAIMS_DIR / "0000000000000000.json"  # written by an `up` that has ended too
    port_claims.CLAIMS_DIR.mkdir(mode=0o700, exist_ok=True)
    claim.write_text(json.dumps({"home": str(home), "ports": [40001], "by": record.model_dump()}))
    assert 40001 not in port_claims.claimed_by_others(tmp_path / "other")
    assert not claim.exists()
