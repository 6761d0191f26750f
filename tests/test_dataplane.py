"""The data plane outlives the control plane: steady load through a deployment's router while the
worker, the Temporal server and the sandbox host are each killed with SIGKILL during a rollout step,
and then while the whole control plane is stopped with `down --keep-apps` and started again.

The embedded stack (`coderunner up` on a private home) is used because its supervisor restarts the
killed processes, exactly as a user's stack would; the session fixtures cannot be killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from coderunner.models.rollout import RolloutPhase
from coderunner.models.rollout_api import RolloutStatus
from starter.sdk import CodeRunner
from starter.tools.harness import instances_under, routers_under
from starter.tools.loadgen import LoadReport, run_load
from tests.cli_helpers import coderunner
from tests.rollout_helpers import fast_strategy
from tests.test_deployment_workflow import deployed, spec
from tests.test_embedded_stack import recorded, stack_env

pytestmark = pytest.mark.timeout(420)
T = TypeVar("T")
RPS = 50


@contextlib.contextmanager
def steady_load(url: str, seconds: float) -> Iterator[list[LoadReport]]:
    """Open-loop load in a thread of its own, so nothing the test awaits can stall it."""
    out: list[LoadReport] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(run_load(url, RPS, seconds))))
    thread.start()
    try:
        yield out
    finally:
        thread.join(seconds + 60)


async def retrying(call: Callable[[], Awaitable[T]], timeout_s: float = 120) -> T:
    """Calls through Temporal fail while it is down; retry them until it is back."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def kill9_and_wait_restart(home: Path, victim: str) -> None:
    old = recorded(home)[victim]
    os.kill(old.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = recorded(home).get(victim)
        if now is not None and now.pid != old.pid and now.alive():
            return
        assert time.monotonic() < deadline, f"the supervisor did not restart {victim}"
        await asyncio.sleep(0.2)


async def test_control_plane_sigkills_during_rollout_drop_no_request(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = stack_env(home)
    try:
        up = coderunner("up", env=env, timeout=180)
        assert up.returncode == 0, up.stderr
        cr = await CodeRunner.connect(str(home))
        name = "steady"
        desc = await deployed(cr, spec(name, 2))
        router_pids = [p.pid for p in routers_under(home)]

        # `down --keep-apps` and `up`: the whole control plane goes away and comes back
        apps = sorted(p.pid for p in instances_under(home))
        with steady_load(desc.router_url or "", seconds=25) as report:
            await asyncio.sleep(2)
            down = await asyncio.to_thread(coderunner, "down", "--keep-apps", env=env)
            assert down.returncode == 0, down.stderr
            assert sorted(p.pid for p in instances_under(home)) == apps
            again = await asyncio.to_thread(coderunner, "up", env=env, timeout=180)
            assert again.returncode == 0, again.stderr
        load = report[0]
        assert load.counts == {"200": load.sent}, load.summary()
        assert [p.pid for p in routers_under(home)] == router_pids
        cr = await CodeRunner.connect(str(home))
        settled = await retrying(lambda: cr.wait_settled(name, timeout_s=30))
        assert sorted(i.pid or 0 for i in settled.instances) == apps and settled.replacements == 0

        # SIGKILLs of the worker, Temporal and the host, one after another, during a rollout step
        strategy = fast_strategy("25,50,100", "12s", inconclusive_limit=10_000)
        with steady_load(desc.router_url or "", seconds=75) as report:
            await asyncio.sleep(3)
            await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy,
                                    scale_down_delay_s=0.5)
            await cr.rollouts.wait(name, lambda s: s.canary_weight == 25, timeout_s=60)
            for victim in ("worker", "temporal", "sandbox"):  # one after another, mid-step
                await kill9_and_wait_restart(home, victim)
                await asyncio.sleep(2)

            async def ended() -> RolloutStatus:
                return await cr.rollouts.wait(name, timeout_s=150)

            status = await retrying(ended, timeout_s=200)
        assert status.phase == RolloutPhase.PROMOTED, status.outcome
        load = report[0]
        assert load.sent >= RPS * 60 and load.counts == {"200": load.sent}, load.summary()
        assert {k.split("-")[1] for k in load.by_instance} == {"v1", "v2"}  # the rollout moved traffic
        assert [p.pid for p in routers_under(home)] == router_pids  # never restarted: same process

        await cr.delete(name)
    finally:
        coderunner("down", env=env)
    assert routers_under(home) == []  # a full `down` stops the routers too
