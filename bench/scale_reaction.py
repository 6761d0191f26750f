"""Scale reaction: load step -> a new instance serving through the router, as a multiple of the sync interval.

    python bench/scale_reaction.py [--runs 5] [--sync 2] [--rps 100]

Each run deploys one demo instance, enables an rps-driven autoscaler (target 20 rps per instance,
no scale-up window), waits for its first decision, then steps the load from 0 to --rps and probes
the router every 20 ms until a response comes from an instance other than the first. The reaction
splits into decision (load start -> the autoscaler's scale-up decision, workflow time) and the rest
(scale update: create + health wait + router). Starts its own Temporal dev server, sandbox host and
worker (bench.common).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import DEMO_APP, bench_stack
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import DecisionRecord
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from starter.sdk.autoscaling import Autoscaling
from starter.tools.loadgen import run_load


def policy(sync_s: int) -> AutoscalePolicy:
    return AutoscalePolicy.model_validate({
        "name": "bench-rps", "min_replicas": 1, "max_replicas": 4, "sync_interval_s": sync_s,
        "metrics": [{"metric": "rps", "target": 20}],
        "scale_up": {"stabilization_window_s": 0, "policies": [{"type": "Pods", "value": 4, "period_s": 1}]},
        "scale_down": {"stabilization_window_s": 600},
    })


async def first_new_backend(url: str, first: str, timeout_s: float = 60) -> float:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                served = (await http.get(url + "/")).headers.get("X-CodeRunner-Instance")
                if served and served != first:
                    return time.monotonic()
            await asyncio.sleep(0.02)
    raise TimeoutError("no new instance served within the timeout")


async def until_decided(auto: Autoscaling, name: str,
                        match: Callable[[DecisionRecord], bool]) -> DecisionRecord:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [d for d in (await auto.status(name)).decisions if match(d)]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise TimeoutError("no matching autoscaler decision")


async def one_run(stack, n: int, sync_s: int, rps: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    cr, name = stack.cr, f"react{n}"
    await cr.deploy(DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=1),
                    DeploymentTimings(sweep_interval_s=5, health_deadline_s=60, drain_s=0.2))
    desc = await cr.wait_settled(name, timeout_s=60)
    auto = Autoscaling(cr)
    await auto.enable(name, policy(sync_s))
    await until_decided(auto, name, lambda d: True)  # the loop is running
    url, first = desc.router_url or "", desc.instances[0].instance_id
    started_wall, started = time.time(), time.monotonic()
    load = asyncio.create_task(run_load(url, rps, 60))
    try:
        served_at = await first_new_backend(url, first)
    finally:
        load.cancel()
        with contextlib.suppress(BaseException):
            await load
    up = await until_decided(auto, name, lambda d: d.direction == "up")  # recorded once the scale returns
    decision_s = up.at_s - started_wall
    await auto.disable(name)
    await cr.delete(name)
    return served_at - started, decision_s


async def main(runs: int, sync_s: int, rps: float) -> None:
    async with bench_stack() as stack:
        results = [await one_run(stack, n, sync_s, rps) for n in range(runs)]
    total = [r[0] for r in results]
    decision = [r[1] for r in results]
    for n, (t, d) in enumerate(results):
        print(f"run {n}: new instance serving after {t:.2f}s = {t / sync_s:.2f} x sync "
              f"(decision after {d:.2f}s, scale+boot+route {t - d:.2f}s)")
    print(f"sync interval {sync_s}s, load step 0 -> {rps:g} rps, target 20 rps/instance, {runs} runs")
    med = statistics.median(total)
    print(f"reaction: median {med:.2f}s = {med / sync_s:.2f} x sync, "
          f"mean {statistics.mean(total) / sync_s:.2f} x, max {max(total) / sync_s:.2f} x sync")
    print(f"decision part: median {statistics.median(decision):.2f}s = "
          f"{statistics.median(decision) / sync_s:.2f} x sync")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sync", type=int, default=2, help="autoscaler sync interval, seconds")
    parser.add_argument("--rps", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.sync, args.rps))
