"""Shared pieces of the autoscaler tests: an rps-driven policy with second-scale timings, load, polling.

CPU of the demo app is hard to provoke on a shared 2-core machine, so the tests steer on requests
per second per instance, which real HTTP load through the router controls exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from coderunner.models.autoscale import AutoscalePolicy
from starter.sdk import CodeRunner
from starter.tools.loadgen import LoadReport, run_load
from tests import polling

T = TypeVar("T")
SYNC_S = 1


def rps_policy(target: float = 20, min_r: int = 1, max_r: int = 4, down_window_s: int = 4, **extra: object
               ) -> AutoscalePolicy:
    return AutoscalePolicy.model_validate({
        "name": "test-rps", "min_replicas": min_r, "max_replicas": max_r,
        "metrics": [{"metric": "rps", "target": target}], "sync_interval_s": SYNC_S,
        "scale_up": {"stabilization_window_s": 0, "policies": [{"type": "Pods", "value": 4, "period_s": 1}]},
        "scale_down": {"stabilization_window_s": down_window_s,
                       "policies": [{"type": "Percent", "value": 100, "period_s": 1}]},
        **extra,
    })


@contextlib.asynccontextmanager
async def load(url: str, rps: float, duration_s: float = 300) -> AsyncIterator[asyncio.Task[LoadReport]]:
    """Real HTTP through the router in the background; cancelled when the block ends.

    A load that failed, or ran out before the block ended, fails the test: a block that asserts
    something "under load" must really have had load all along.
    """
    task = asyncio.create_task(run_load(url, rps, duration_s))
    try:
        yield task
    finally:
        if task.done():
            report = task.result()  # raises the load's own error, if it had one
            raise AssertionError(f"the load ended before the block did: {report.summary()}")
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()  # an error raised while cancelling


async def replicas(cr: CodeRunner, name: str) -> int:
    return (await cr.describe(name)).spec.replicas


async def serving(cr: CodeRunner, name: str) -> int:
    return sum(1 for i in (await cr.describe(name)).instances if i.healthy)


async def until(check: Callable[[], Awaitable[T]], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """tests.polling.until for a truthy check; `timeout_s` is only a floor under the generous deadline,
    so a slow machine slows the test down instead of failing it (speed is measured in bench/)."""
    return await polling.until(check, bool, what, max(timeout_s, polling.GENEROUS_S), every_s)
