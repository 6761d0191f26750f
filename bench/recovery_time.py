"""Recovery time: a worker killed -9 -> the interrupted deployment making progress again.

    python bench/recovery_time.py [--kills 20] [--variants baseline,current]

Two worker processes serve one deployment (so a worker is always there to take over, as with N
replicas or a supervisor's restart). Each round starts a scale (1 -> 3 or 3 -> 1: create, health
wait, router, drain, destroy), waits a random 0.05-1.5 s, then kills -9 the worker that started the
deployment's latest task (workflow or activity) and starts a replacement. Recovery is the time from
the kill to the next activity completed in the deployment's history, i.e. the workflow moving
again. p50/p95 per variant; `baseline` runs workers with the options as they were before they were
sized to the work (bench/recovery_worker.py) and Temporal's default 10 s workflow task timeout,
`current` with today's (workflows/options.py), in the same run.
Starts its own Temporal dev server and sandbox host (bench.common); stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

import starter.sdk.deployments as sdk_deployments
from bench.common import DEMO_APP, bench_stack
from coderunner.config.home import HomeLayout
from coderunner.config.settings import Settings
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings, workflow_id_for
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess

REPO = Path(__file__).resolve().parents[1]
BASELINE_TASK_TIMEOUT = timedelta(seconds=10)  # Temporal's default workflow task timeout
TIMINGS = DeploymentTimings(sweep_interval_s=1.0, health_deadline_s=30.0, drain_s=0.2, stop_grace_s=1.0)
STARTED = {EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED}


class Workers:
    """Worker processes on one task queue; every one is killed when the block ends."""

    def __init__(self, env: dict[str, str], baseline: bool, log_dir: Path) -> None:
        self.env, self.baseline, self.log_dir = env, baseline, log_dir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        argv = [sys.executable, "-m", "bench.recovery_worker", *(["--baseline"] if self.baseline else [])]
        with (self.log_dir / f"worker-{len(self.procs)}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv, env=self.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.procs[proc.pid] = proc

    def kill9(self, pid: int) -> None:
        proc = self.procs.pop(pid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def any_pid(self) -> int:
        return next(iter(self.procs))

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        for pid in list(self.procs):
            self.kill9(pid)


async def latest_worker_pid(client: Client, name: str, known: set[int]) -> int | None:
    """The pid of the worker that started the deployment's latest task (identity is pid@host)."""
    history = await client.get_workflow_handle(workflow_id_for(name)).fetch_history()
    for event in reversed(history.events):
        if event.event_type in STARTED:
            attrs = (
                event.workflow_task_started_event_attributes
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
                else event.activity_task_started_event_attributes
            )
            pid = int(attrs.identity.split("@")[0] or 0) if "@" in attrs.identity else 0
            return pid if pid in known else None
    return None


async def progress_after(client: Client, name: str, since: float, timeout_s: float = 90) -> float:
    """Server time of the first activity completed after `since` (the deployment's run may change)."""
    deadline = time.monotonic() + timeout_s
    handle = client.get_workflow_handle(workflow_id_for(name))
    while time.monotonic() < deadline:
        history = await handle.fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                at = event.event_time.seconds + event.event_time.nanos / 1e9
                if at > since:
                    return at
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no progress within {timeout_s}s of the kill")


async def run_variant(
    client: Client, home: Path, host: HostProcess, baseline: bool, kills: int, rng: random.Random
) -> list[float]:
    queue = f"recovery-{'baseline' if baseline else 'current'}"
    env = {
        **os.environ,
        "CODERUNNER_HOME": str(home),
        "CODERUNNER_SANDBOX_URL": host.url,
        "CODERUNNER_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "CODERUNNER_TASK_QUEUE": queue,
        "CODERUNNER_DATABASE_URL": f"sqlite:///{HomeLayout(home).app_db}",
    }
    env.pop("CODERUNNER_METRICS_PORT", None)
    settings = Settings(home=home, temporal_address="-", task_queue=queue, sandbox_url=host.url)
    cr = CodeRunner(client, settings)
    name = f"recovery-{'b' if baseline else 'c'}"
    times: list[float] = []
    with Workers(env, baseline, home / "logs") as workers:
        workers.start()
        workers.start()
        current_task_timeout = sdk_deployments.WORKFLOW_TASK_TIMEOUT
        if baseline:  # the deployment is started with the workflow task timeout of its variant
            sdk_deployments.WORKFLOW_TASK_TIMEOUT = BASELINE_TASK_TIMEOUT
        try:
            await cr.deploy(DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=1), TIMINGS)
        finally:
            sdk_deployments.WORKFLOW_TASK_TIMEOUT = current_task_timeout
        await cr.wait_settled(name, timeout_s=120)
        for n in range(kills):
            target = 3 if n % 2 == 0 else 1
            op = asyncio.create_task(cr.scale(name, target, reason=f"bench round {n}"))
            await asyncio.sleep(rng.uniform(0.05, 1.5))
            victim = await latest_worker_pid(client, name, set(workers.procs)) or workers.any_pid()
            killed_at = time.time()
            workers.kill9(victim)
            workers.start()
            recovered = await progress_after(client, name, killed_at)
            times.append(recovered - killed_at)
            await asyncio.wait_for(op, 120)
            await cr.wait_settled(name, timeout_s=120)
            print(f"  {queue} kill {n + 1:2d}: progress after {times[-1]:.2f}s", flush=True)
        await cr.delete(name, reason="bench done")
    return times


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[-1] if len(xs) > 1 else xs[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--variants", default="baseline,current")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    async with bench_stack() as stack:  # its in-process worker polls another queue: only ours serve
        (stack.home / "logs").mkdir(exist_ok=True)
        for variant in args.variants.split(","):
            results[variant] = await run_variant(
                stack.env.client,
                stack.home,
                stack.host,
                variant == "baseline",
                args.kills,
                random.Random(args.seed),
            )
    print(f"\nkill -9 -> progress, {args.kills} kills at random points, two workers (seconds):")
    for variant, xs in results.items():
        print(f"  {variant:<9} p50 {statistics.median(xs):5.2f}  p95 {p95(xs):5.2f}  max {max(xs):5.2f}")
    if {"baseline", "current"} <= results.keys():
        b, c = results["baseline"], results["current"]
        print(
            f"  current/baseline: p50 {statistics.median(c) / statistics.median(b):.2f}x, "
            f"p95 {p95(c) / p95(b):.2f}x (goal: p95 <= 5 s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
