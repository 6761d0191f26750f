"""History of a deployment whose canary rollout waits, paused, for a human: bounded per run?

    python bench/paused_rollout_history.py [--seconds 40] [--sweep 0.1] [--can-after 250]

Deploys the demo app (2 instances), rolls v2 out to 10 %, pauses it, and lets the deployment sweep
health every `--sweep` seconds for `--seconds`, on a dev server that suggests continue-as-new after
`--can-after` events. Prints, per run: events and bytes; overall: events per sweep, and what that
means without continue-as-new at the default 10 s sweep (hours until Temporal's 51,200-event limit
terminates the deployment — the issue-8 baseline) against the largest run measured here. Checks the
rollout is still paused at 10 % at the end. Starts its own dev server, sandbox host and worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEMO_APP, bench_stack
from coderunner.models.deployment import DeploymentSpec, DeploymentTimings, workflow_id_for
from coderunner.models.rollout import AnalysisSettings, RolloutPhase, RolloutStrategy
from starter.sdk import CodeRunner
from starter.tools.harness import settled

HISTORY_LIMIT = 51_200
DEFAULT_SWEEP_S = 10.0


async def run_sizes(cr: CodeRunner, name: str, runs: list[str]) -> list[tuple[str, int, int, int]]:
    """(run id, events, bytes, health sweeps) per run, from the server."""
    rows = []
    for run_id in runs:
        handle = cr.client.get_workflow_handle(workflow_id_for(name), run_id=run_id)
        info = (await handle.describe()).raw_description.workflow_execution_info
        history = await handle.fetch_history()
        sweeps = sum(
            1
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == "check_instances"
        )
        rows.append((run_id, info.history_length, info.history_size_bytes, sweeps))
    return rows


async def main(seconds: float, sweep_s: float, can_after: int) -> None:
    args = ["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={can_after}"]
    async with bench_stack(server_args=args) as stack:
        cr, name = stack.cr, "paused"
        timings = DeploymentTimings(sweep_interval_s=sweep_s, health_deadline_s=20, drain_s=0.1)
        spec = DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=2, env={"VERSION": "v1"})
        await cr.deploy(spec, timings)
        await settled(cr, name)
        strategy = RolloutStrategy.from_shorthand(
            "10,100", "3600s", 10.0, AnalysisSettings(inconclusive_limit=10_000)
        )
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
        await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
        await cr.rollouts.pause(name, reason="bench: waiting for a human")
        await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
        runs: list[str] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            run_id = (await cr.handle(name).describe()).run_id or ""
            if not runs or runs[-1] != run_id:
                runs.append(run_id)
            await asyncio.sleep(0.1)
        status = await cr.rollouts.status(name)
        rows = await run_sizes(cr, name, runs)
        await cr.delete(name)

    print(
        f"paused rollout, sweep every {sweep_s:g}s for {seconds:g}s, "
        f"continue-as-new suggested after {can_after} events"
    )
    for run_id, events, size, sweeps in rows:
        print(f"  run {run_id[:8]}: {events:5d} events, {size / 1024:7.1f} KiB, {sweeps:4d} sweeps")
    total_events = sum(r[1] for r in rows)
    total_sweeps = max(1, sum(r[3] for r in rows))
    per_sweep = total_events / total_sweeps
    hours = HISTORY_LIMIT / per_sweep * DEFAULT_SWEEP_S / 3600
    largest = max(r[1] for r in rows)
    print(
        f"runs: {len(rows)} (continue-as-new {len(rows) - 1} times); largest run {largest} events "
        f"= {largest / HISTORY_LIMIT:.1%} of the {HISTORY_LIMIT} limit"
    )
    print(
        f"events per sweep: {per_sweep:.1f} -> one run without continue-as-new reaches the limit after "
        f"{hours:.1f} h at the default {DEFAULT_SWEEP_S:g}s sweep"
    )
    print(
        f"rollout at the end: {status.phase.value} at {status.canary_weight}% "
        f"({'state kept' if status.phase == RolloutPhase.PAUSED and status.canary_weight == 10 else 'LOST'})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--sweep", type=float, default=0.1)
    parser.add_argument("--can-after", type=int, default=250)
    ns = parser.parse_args()
    asyncio.run(main(ns.seconds, ns.sweep, ns.can_after))
