"""Record CanaryRolloutWorkflow histories for the replay test: `python -m tests.record_rollout_histories`.

One history per path a rollout can take: promoted under healthy load, aborted by analysis (a sick
canary under load), aborted by a person, and paused + resumed (then promoted in full). `undo` is a
DeploymentWorkflow update that never touches the rollout child, so it has no child history.
`rollout_*.json` were recorded before the `workflow.patched` changes (they replay the legacy paths),
`rollout_patched_*.json` after them (`--prefix rollout_patched_`).
Re-record only when a change is *meant* to be incompatible (and then guard running workflows with
`workflow.patched`). Recorded without the payload codec so the files replay anywhere.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from coderunner.models.deployment import DeploymentSpec, DeploymentTimings
from coderunner.models.rollout import AnalysisSettings, RolloutPhase, RolloutStrategy
from starter.sdk import CodeRunner
from starter.tools.harness import DEMO_APP
from starter.tools.load_process import load
from tests.recording import recording_stack

HISTORIES = Path(__file__).parent / "histories"
TIMINGS = DeploymentTimings(sweep_interval_s=0.5, health_deadline_s=20, drain_s=0.1)
ANALYSIS = AnalysisSettings(interval_s=1.0, min_requests=10, failure_limit=2, inconclusive_limit=10_000)
WALK = RolloutStrategy.from_shorthand("25,100", "2s", 1.0, ANALYSIS)
MANUAL = RolloutStrategy.from_shorthand("10,50,100", "300s", 1.0, ANALYSIS)
TIMED = RolloutStrategy.from_shorthand("50,100", "2s", "10m", AnalysisSettings(healthy_windows_per_step=0))

Scenario = Callable[[CodeRunner, str], Awaitable[None]]


async def promoted(cr: CodeRunner, name: str) -> None:
    desc = await cr.describe(name)
    async with load(desc.router_url or "", rps=200):
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=WALK, scale_down_delay_s=0.5)
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome


async def aborted_by_analysis(cr: CodeRunner, name: str) -> None:
    desc = await cr.describe(name)
    async with load(desc.router_url or "", rps=300):
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2", "ERROR_RATE": "0.3"},
                                strategy=RolloutStrategy.from_shorthand("25,100", "60s", 1.0, ANALYSIS),
                                abort_cleanup_s=0.2)
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.ABORTED, status.outcome


async def aborted_by_person(cr: CodeRunner, name: str) -> None:
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, abort_cleanup_s=0.2)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    await cr.rollouts.promote(name, reason="record")  # one step: into the 10 % pause... then 50 %
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 50)
    await cr.rollouts.abort(name, reason="record: wrong build")
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.ABORTED, status.outcome


async def paused_resumed(cr: CodeRunner, name: str) -> None:
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.5)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10 and s.phase == RolloutPhase.PROGRESSING)
    await cr.rollouts.pause(name, reason="record: looking")
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
    await cr.rollouts.resume(name, reason="record")
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PROGRESSING)
    await cr.rollouts.promote(name, full=True, reason="record")
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome


async def stepped_by_timers(cr: CodeRunner, name: str) -> None:
    """No traffic and no windows: each step ends when its timer fires (the TIMER_CLOCK replay test)."""
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=TIMED, scale_down_delay_s=0.5)
    status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome


SCENARIOS: dict[str, Scenario] = {
    "promoted": promoted,
    "aborted_by_analysis": aborted_by_analysis,
    "aborted_by_person": aborted_by_person,
    "paused_resumed": paused_resumed,
    "stepped_by_timers": stepped_by_timers,
}


async def record(only: list[str], prefix: str = "rollout_") -> None:
    async with recording_stack() as (_, cr):
        for key, scenario in SCENARIOS.items():
            if only and key not in only:
                continue
            name = f"rec-{key.replace('_', '-')}"
            spec = DeploymentSpec(name=name, command=["python", str(DEMO_APP)], replicas=2)
            await cr.deploy(spec, TIMINGS)
            await cr.wait_settled(name)
            await scenario(cr, name)
            link = await cr.rollouts.link(name)
            history = await cr.client.get_workflow_handle(link.workflow_id).fetch_history()
            out = HISTORIES / f"{prefix}{key}.json"
            out.write_text(history.to_json())
            print(f"wrote {out} ({len(history.events)} events)")
            await cr.delete(name, reason="recorded")


if __name__ == "__main__":
    # `--prefix rollout_patched_` records today's (patched) paths beside the pre-patch recordings
    args = sys.argv[1:]
    prefix = "rollout_"
    if args[:1] == ["--prefix"]:
        prefix, args = args[1], args[2:]
    asyncio.run(record(args, prefix))
