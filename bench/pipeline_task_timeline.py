"""Where a pipeline task's orchestration time goes, round by round: our server config vs its defaults.

The baseline is the server's default dynamic config; ours is coderunner/config/temporal_server.py.

    python bench/pipeline_task_timeline.py [--rounds 4] [--chain 20]

Runs a chain of `true` commands (pool of one) `--rounds` times on a throwaway stack per config and
reads each run's history: per task, the workflow task's schedule-to-start (transfer queue + matching),
its processing (the worker), the activity's schedule-to-start (0 when dispatched eagerly) and run time
(the dev step). Printed per round, the project's figures against the baseline's for the same round.
Why it exists: a chain ran at ~26 ms a task in the first rounds of a process and 52-53 ms in every
later one. The growth was each workflow task's schedule-to-start (2 ms -> ~28 ms), and the server's
own metrics placed it in the history shard's transfer-queue reads, which the default config limits
to 20 a second (history.transferProcessorMaxPollRPS) once a ~2 s burst is spent.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from statistics import median

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_stack, run_main
from bench.pipeline_makespan import OUT, chain_tasks, write_project
from coderunner.config.temporal_server import DYNAMIC_CONFIG
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


async def rounds_on(config: Mapping[str, int], plan: Path, root: Path, rounds: int,
                    chain: int) -> list[tuple[float, dict[str, list[float]]]]:
    """(seconds a task, intervals) per round, on one stack whose server runs `config`."""
    found = []
    async with bench_stack(server_config=config) as stack:
        for n in range(rounds):
            home = stack.cr.settings.model_copy(update={"home": root / f"home-{n}"})  # its own cache
            pipes = Pipelines(stack.cr.client, home)
            workflow_id = await pipes.run(plan, f"r{n}")
            result = await pipes.wait(workflow_id)
            history = await stack.cr.client.get_workflow_handle(workflow_id).fetch_history()
            found.append((result.makespan_s / chain, intervals(list(history.events))))
    return found


async def main(rounds: int, chain: int) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="timeline-", dir=OUT))
    plan = write_project(root / "chain", chain_tasks(chain), "timeline-chain", 1)
    baseline = await rounds_on({}, plan, root / "default", rounds, chain)
    ours = await rounds_on(DYNAMIC_CONFIG, plan, root / "ours", rounds, chain)
    shutil.rmtree(root, ignore_errors=True)
    print(f"server config: {dict(DYNAMIC_CONFIG)} against the server's defaults (baseline)")
    for n, ((base_task, base), (task, found)) in enumerate(zip(baseline, ours, strict=True)):
        print(f"round {n}: {task * 1000:.0f} ms a task, baseline {base_task * 1000:.0f} "
              f"({task / base_task:.2f}x)")
        for name, values in found.items():
            if values and base[name]:
                print(f"  {name}: median {median(values) * 1000:.1f} ms, "
                      f"baseline {median(base[name]) * 1000:.1f} ms")
        for label, each in (("", found), ("baseline ", base)):
            waits = " ".join(f"{v * 1000:.0f}" for v in each["workflow task schedule-to-start"])
            print(f"  {label}each workflow task's schedule-to-start, ms: {waits}")


if __name__ == "__main__":
    run_main(__doc__, main, rounds=4, chain=20)
