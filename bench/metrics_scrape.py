"""Cost of the live-state read at scrape time: /metrics with N deployments, vs the store-only gauges.

    python bench/metrics_scrape.py [--counts 1,5,10] [--runs 15]

Each scrape of a worker's /metrics reads every live deployment (describe query, rollout/autoscaler
status, one router window; coderunner/telemetry/live.py). This prints the median time of that read
for N running deployments next to the store-only refresh measured in the same run (the baseline the
worker had before), and the ratio. Starts its own Temporal dev server, sandbox host and worker.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEMO_APP, bench_stack
from coderunner.config.home import HomeLayout
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.store.repository import Store
from coderunner.telemetry.live import LiveSource
from starter.tools.harness import settled

TIMINGS = DeploymentTimings(sweep_interval_s=5.0, health_deadline_s=20.0, drain_s=0.2, stop_grace_s=1.0)


async def median_s(fn: Callable[[], Awaitable[object]], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def main(counts: list[int], runs: int) -> None:
    async with bench_stack() as stack:
        store = Store(url=f"sqlite:///{HomeLayout(stack.home).app_db}")
        provider = stack.host.client()
        live = LiveSource(stack.env.client, provider)
        names: list[str] = []
        print(f"{'deployments':>11}  {'store only':>10}  {'live read':>10}  {'ratio':>6}  per deployment")
        for count in counts:
            while len(names) < count:
                name = f"scrape{len(names)}"
                spec = DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=1)
                await stack.cr.deploy(spec, TIMINGS)
                names.append(name)
            for name in names:
                await settled(stack.cr, name, 60)

            async def store_only() -> None:
                await asyncio.to_thread(store.list_deployments)
                await asyncio.to_thread(store.count_by_status)

            async def live_read() -> None:
                await live.refresh(names)

            base = await median_s(store_only, runs)
            read = await median_s(live_read, runs)
            print(f"{count:>11}  {base * 1000:>8.1f}ms  {read * 1000:>8.1f}ms  {read / base:>5.1f}x  "
                  f"{read / count * 1000:.1f}ms")
        for name in names:
            await stack.cr.delete(name, reason="bench done")
        await provider.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,5,10")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.counts.split(",")], args.runs))
