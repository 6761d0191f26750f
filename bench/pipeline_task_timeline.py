"""Where a pipeline task's orchestration time goes, round after round in one process.

    python bench/pipeline_task_timeline.py [--rounds 4] [--chain 20]

Runs a chain of `true` commands (pool of one) `--rounds` times on one throwaway stack and reads each
run's history: per task, the workflow task's schedule-to-start (matching), its processing (the
worker), the activity's schedule-to-start (0 when dispatched eagerly) and run time (the dev step).
Printed per round, with each figure against round 0 (the baseline, same process). Why it exists:
`pipeline_makespan.py` measures ~26 ms a task in the first chain of a process and 52-53 ms in every
later one; this shows which part grows (each workflow task's schedule-to-start, one by one).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import median

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_stack
from bench.pipeline_makespan import OUT, chain_tasks, write_project
from starter.sdk.pipelines import Pipelines

# per kind: (the event that closes the interval, the event that opens it)
INTERVALS = {
    "workflow task schedule-to-start": (EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
                                        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
    "workflow task processing": (EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
                                 EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    "activity schedule-to-start": (EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
                                   EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    "activity run": (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                     EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED),
}


def intervals(events: list[HistoryEvent]) -> dict[str, list[float]]:
    """Seconds per interval kind, in history order (a chain has one task in flight at a time)."""
    opened: dict[int, float] = {}
    found: dict[str, list[float]] = {name: [] for name in INTERVALS}
    for event in events:
        at = event.event_time.ToDatetime().timestamp()
        for name, (end, start) in INTERVALS.items():
            if event.event_type == end and start in opened:
                found[name].append(at - opened[start])
        opened[event.event_type] = at
    return found


async def main(rounds: int, chain: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="timeline-", dir=OUT))
    plan = write_project(root / "chain", chain_tasks(chain), "timeline-chain", 1)
    baseline: dict[str, float] = {}
    async with bench_stack() as stack:
        for n in range(rounds):
            home = stack.cr.settings.model_copy(update={"home": root / f"home-{n}"})  # its own cache
            pipes = Pipelines(stack.cr.client, home)
            workflow_id = await pipes.run(plan, f"r{n}")
            result = await pipes.wait(workflow_id)
            history = await stack.cr.client.get_workflow_handle(workflow_id).fetch_history()
            found = intervals(list(history.events))
            medians = {name: median(values) for name, values in found.items() if values}
            baseline = baseline or medians
            print(f"round {n}: {result.makespan_s / chain * 1000:.0f} ms a task")
            for name, value in medians.items():
                ratio = f"{value / baseline[name]:.1f}x round 0" if baseline[name] > 0 else "round 0: 0"
                print(f"  {name}: median {value * 1000:.1f} ms ({ratio})")
            waits = " ".join(f"{v * 1000:.0f}" for v in found["workflow task schedule-to-start"])
            print(f"  each workflow task's schedule-to-start, ms: {waits}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--chain", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.chain))
