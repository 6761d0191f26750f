"""Rollback latency: fault onset (the router first sends traffic to a sick canary) -> 100 % stable.

    python bench/rollback_latency.py [--runs 10] [--interval 1] [--rps 200] [--weight 25]

Each run rolls out a new version with ERROR_RATE=0.2 under live load (a separate load process, so
it does not compete with the in-process worker). A watcher polls the router's config every 10 ms:
onset is the first poll with canary weight > 0, recovery the first later poll where every canary
backend has weight 0. Reported in seconds and in analysis intervals (the sequential error test
aborts on the first window with strong evidence, so the floor is one interval plus the router write;
the old rule, failure_limit=2, needed two); bench/canary_judgement.py compares the rules offline.
Starts its own Temporal dev server, sandbox host and worker.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEMO_APP, bench_stack
from coderunner.hosts.client import SandboxClient
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.models.rollout import AnalysisSettings, RolloutPhase, RolloutStrategy
from starter.tools.harness import settled
from starter.tools.load_process import load

TIMINGS = DeploymentTimings(sweep_interval_s=5.0, health_deadline_s=20.0, drain_s=0.2, stop_grace_s=1.0)


async def watch_router(host: SandboxClient, name: str, version: str,
                       done: asyncio.Event) -> tuple[float, float]:
    """(onset, recovery) in monotonic seconds, from the router's own backend weights."""
    onset = recovery = None
    prefix = f"{name}-{version}-"
    while not done.is_set() and recovery is None:
        backends = (await host.get_router(name)).backends
        canary = [b.weight for b in backends if b.instance_id.startswith(prefix)]
        now = time.monotonic()
        if onset is None and any(w > 0 for w in canary):
            onset = now
        elif onset is not None and all(w == 0 for w in canary):
            recovery = now
        await asyncio.sleep(0.01)
    if onset is None or recovery is None:
        raise RuntimeError(f"no rollback seen for {version}")
    return onset, recovery


async def main(runs: int, interval: float, rps: float, weight: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    settings = AnalysisSettings(min_requests=10, failure_limit=2, inconclusive_limit=5)
    strategy = RolloutStrategy.from_shorthand(f"{weight},100", "600s", interval, settings)
    async with bench_stack() as stack:
        cr, name = stack.cr, "rollback"
        spec = DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=2, env={"VERSION": "v1"})
        await cr.deploy(spec, TIMINGS)
        desc = await cr.wait_settled(name, timeout_s=60)
        latencies: list[float] = []
        windows: list[int] = []
        async with stack.host.client() as host, load(desc.router_url or "", rps=rps):
            for run in range(runs):
                version = f"v{run + 2}"
                done = asyncio.Event()
                watcher = asyncio.create_task(watch_router(host, name, version, done))
                await cr.rollouts.start(name, version, env={"VERSION": version, "ERROR_RATE": "0.2"},
                                        strategy=strategy, abort_cleanup_s=0.2)
                status = await cr.rollouts.wait(name, timeout_s=120)
                done.set()
                onset, recovery = await watcher
                if status.phase != RolloutPhase.ABORTED:
                    raise RuntimeError(f"{version} was not aborted: {status.phase}")
                latencies.append(recovery - onset)
                windows.append(status.windows_total)
                took = recovery - onset
                served = [w.result.canary.requests for w in status.windows]
                print(f"run {run + 1:>2}: {version} rolled back {took:.2f}s after onset "
                      f"({took / interval:.2f} intervals, {status.windows_total} windows; canary requests "
                      f"per window {served})", flush=True)
                await settled(cr, name)
        await cr.delete(name)
    ordered = sorted(latencies)
    print(f"\nrollback latency over {runs} runs, analysis interval {interval:g}s, canary {weight}% of "
          f"{rps:g} rps, sequential error test:")
    print(f"  p50 {statistics.median(ordered):.2f}s  mean {statistics.mean(ordered):.2f}s  "
          f"max {ordered[-1]:.2f}s  min {ordered[0]:.2f}s")
    print(f"  in analysis intervals: p50 {statistics.median(ordered) / interval:.2f}  "
          f"max {ordered[-1] / interval:.2f}  (acceptance: <= 3)")
    print(f"  windows judged per rollout: {sorted(windows)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--weight", type=int, default=25)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.interval, args.rps, args.weight))
