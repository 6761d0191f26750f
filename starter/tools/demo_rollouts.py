"""`coderunner demo`, part two: a sick v2 rolled back by analysis, then a healthy v3 promoted.

Live HTTP load runs through the router the whole time, so the verdicts are about real answers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import typer

from coderunner.models.rollout import AnalysisSettings, RolloutStrategy
from starter.sdk.client import CodeRunner
from starter.views.rollouts import watch
from starter.views.tables import description, statuses

# 3 s windows at 150 rps: ~45 canary requests per window at 10 %; 40 % errors make the evidence decisive
# in the first window, so the sick build is stopped at 10 %. (With 20 % a window that drew few errors —
# 5 of 39, then 6 of 41 — left the evidence short of the abort when the step ended, the rollout paused
# for a person, and the demo waited on it.) 8 s steps = 2-3 windows each
DEMO_RPS = 150.0
DEMO_STRATEGY = RolloutStrategy.from_shorthand("10,25,50,75,100", "8s", "3s",
                                               AnalysisSettings(min_requests=10))


@contextlib.asynccontextmanager
async def steady_load(url: str, rps: float = 100.0) -> AsyncIterator[collections.Counter[str]]:
    """GETs at `rps` until the block ends; counts answers by status (what users would have seen)."""
    seen: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()

    async def one(http: httpx.AsyncClient) -> None:
        try:
            seen[str((await http.get(url + "/")).status_code)] += 1
        except httpx.HTTPError as err:
            seen[type(err).__name__] += 1

    async def drive() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            pending: set[asyncio.Task[None]] = set()
            while not stop.is_set():
                task = asyncio.create_task(one(http))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(1 / rps)
            await asyncio.gather(*pending)

    driver = asyncio.create_task(drive())
    try:
        yield seen
    finally:
        stop.set()
        await driver


async def rollout_stories(cr: CodeRunner, name: str, say: Callable[[str], None]) -> None:
    router = (await cr.describe(name)).router_url or ""
    say(f"canary rollout of a sick v2 (ERROR_RATE=0.4) under {DEMO_RPS:g} rps of live traffic")
    typer.echo("  coderunner rollout demo --version v2 --set ERROR_RATE=0.4 --steps 10,25,50,75,100 "
               "--step-duration 8s --analysis-interval 3s --watch")
    async with steady_load(router, DEMO_RPS) as seen:
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2", "ERROR_RATE": "0.4"},
                                strategy=DEMO_STRATEGY, abort_cleanup_s=1.0, actor="demo",
                                reason="demo: sick build")
        await watch(cr.rollouts, name, live=False)
    typer.echo(f"  users saw: {statuses(seen)} (the 500s came from the canary's share only)")
    await _settled(cr, name)
    typer.echo(description(await cr.describe(name), events=5))

    say("canary rollout of a healthy v3: 10 → 25 → 50 → 75 → 100, then v1 drains")
    typer.echo("  coderunner rollout demo --version v3 --steps 10,25,50,75,100 --step-duration 8s "
               "--analysis-interval 3s --watch")
    async with steady_load(router, DEMO_RPS) as seen:
        await cr.rollouts.start(name, "v3", env={"VERSION": "v3"}, strategy=DEMO_STRATEGY,
                                scale_down_delay_s=3.0, actor="demo", reason="demo: good build")
        final = await watch(cr.rollouts, name, live=False)
    typer.echo(f"  users saw: {statuses(seen)}; rollout {final.phase.value}")
    await _settled(cr, name)
    typer.echo(description(await cr.describe(name), events=5))
    typer.echo("  try: coderunner rollout status demo · coderunner undo demo (back to v1 at once)")


async def _settled(cr: CodeRunner, name: str) -> None:
    for _ in range(100):
        if (await cr.describe(name)).rollout is None:
            return
        await asyncio.sleep(0.2)
