"""The embedded stack after crashes: a restart backoff that forgives healthy runs, and an `up` after
the supervisor was killed -9 that stops what it left instead of starting a second stack beside it.

Real processes: `coderunner up` in a temporary state directory, kills with SIGKILL, `coderunner down`.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from coderunner.config.home import HomeLayout
from starter.stack.leftovers import stray_processes
from starter.stack.supervisor import FIRST_DELAY_S, HEALTHY_ENV, MAX_DELAY_S, restart_delay
from tests.cli_helpers import coderunner
from tests.test_embedded_stack import recorded, stack_env

HEALTHY_S = 2.0


@pytest.mark.parametrize(
    ("previous", "ran", "expected"),
    [
        (None, 0.1, FIRST_DELAY_S),  # first crash
        (FIRST_DELAY_S, 0.1, 2 * FIRST_DELAY_S),  # crash loop doubles
        (8.0, 1.0, 16.0),
        (16.0, 1.0, MAX_DELAY_S),  # capped
        (MAX_DELAY_S, 1.0, MAX_DELAY_S),
        (16.0, HEALTHY_S, FIRST_DELAY_S),  # ran healthily: starts over
        (MAX_DELAY_S, 3600.0, FIRST_DELAY_S),
    ],
)
def test_restart_delay(previous: float | None, ran: float, expected: float) -> None:
    assert restart_delay(previous, ran, healthy_after_s=HEALTHY_S) == expected


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path_factory.mktemp("restarts") / "state"
    env = {**stack_env(home), HEALTHY_ENV: str(HEALTHY_S)}
    try:
        started = coderunner("up", env=env, timeout=180)
        assert started.returncode == 0, started.stderr
        yield home, env
    finally:
        coderunner("down", env=env)
        for _, proc in stray_processes(home):  # never leave a process behind, even on failure
            proc.kill()


def _wait(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_backoff_resets_after_a_healthy_run(stack: tuple[Path, dict[str, str]]) -> None:
    """Five kills, each after the worker ran longer than the healthy period: each restart is immediate."""
    home, _ = stack
    seen = time.monotonic()  # the worker runs since before this moment (`up` waited for it)
    for _ in range(5):
        before = recorded(home)["worker"]
        # the supervisor times a run on the monotonic clock from the spawn: so does this wait (the wall
        # clock and a process's create time can jump against it on a loaded VM)
        _wait(lambda s=seen: time.monotonic() - s > HEALTHY_S + 0.5, 30, "a healthy run")
        os.kill(before.pid, signal.SIGKILL)
        _wait(
            lambda b=before: recorded(home)["worker"].pid != b.pid and recorded(home)["worker"].alive(),
            60,
            "the worker restarted",
        )
        seen = time.monotonic()  # seen alive after its spawn: its run is at least this long
    log = (HomeLayout(home).logs / "supervisor.log").read_text()
    delays = [float(d) for d in re.findall(r"worker exited .*restarting in ([\d.]+)s", log)]
    assert len(delays) == 5, log
    assert delays == [FIRST_DELAY_S] * 5, delays  # before the fix: 1, 2, 4, 8, 16


def _temporal_servers(home: Path) -> list[psutil.Process]:
    return [p for kind, p in stray_processes(home) if kind == "temporal"]


def test_up_after_supervisor_sigkill_stops_the_leftovers(stack: tuple[Path, dict[str, str]]) -> None:
    home, env = stack
    old = recorded(home)
    supervisor = psutil.Process(old["worker"].pid).parent()
    assert supervisor is not None
    supervisor.kill()
    supervisor.wait(10)
    assert all(r.alive() for r in old.values()), "the children outlive a SIGKILLed supervisor"

    again = coderunner("up", env=env, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "stopped what a killed supervisor left running" in again.stdout
    assert all(r.alive() is None for r in old.values()), "the old children still run"
    new = recorded(home)
    assert all(r.alive() for r in new.values())
    assert len(_temporal_servers(home)) == 1  # one Temporal server on the SQLite file
    health = coderunner("stack", env=env)
    assert health.returncode == 0 and "DOWN" not in health.stdout, health.stdout + health.stderr
    log = (HomeLayout(home).logs / "supervisor.log").read_text()
    assert "exited" not in log.split("started temporal")[-1], log  # nothing crash-loops (sandbox lock)

    # a supervisor killed again, then `down` alone: it still stops everything of this home
    psutil.Process(new["worker"].pid).parent().kill()  # type: ignore[union-attr]
    time.sleep(0.5)
    down = coderunner("down", env=env)
    assert down.returncode == 0, down.stderr
    assert all(r.alive() is None for r in new.values())
    assert stray_processes(home) == []
