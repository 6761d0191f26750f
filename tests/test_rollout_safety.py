"""Real-stack checks of the rollout's judgement and controls (issue 8 defects 3-4, issue 16).

- no traffic: the canary pauses at its first weight with a message that says what is missing,
  and never reaches 100 %; a trickle of traffic (fewer than min_requests a window) likewise;
- a step shorter than one analysis window is refused at the edge, and when it reaches the
  workflow anyway the step is extended (and the user told) until the window it needs;
- controls that no longer apply are refused with the reason (pause/resume/promote during an abort,
  pause and abort once the promotion is committed);
- a rollout continues-as-new (the test server suggests it at 300 events) carrying its state.
"""

from __future__ import annotations

import pytest

from coderunner.models.rollout import AnalysisSettings, RolloutPhase, RolloutStrategy, WindowVerdict
from coderunner.models.rollout_api import RolloutRequest
from coderunner.store.repository import Store
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.tools.harness import settled
from starter.tools.load_process import load
from tests.rollout_helpers import deployed_v1, event_kinds, fast_strategy
from workflows.deployment import DeploymentWorkflow

# 2 s steps, 1 s windows; inconclusive windows never pause by themselves here: only the gate does
GATED = fast_strategy("10,50,100", "2s", inconclusive_limit=10_000)


def weights_set(events: list) -> list[str]:
    return [e.message.split(" at ")[1].split("%")[0] for e in events if e.kind == "canary_weight"]


async def test_zero_traffic_pauses_at_the_first_weight_never_reaching_100(cr: CodeRunner, name: str) -> None:
    await deployed_v1(cr, name)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=GATED)
    status = await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED, timeout_s=60)
    assert status.canary_weight == 10 and status.windows_total >= 1
    assert status.paused_reason and "canary got 0 requests" in status.paused_reason
    assert "send traffic" in status.paused_reason and f"coderunner promote {name}" in status.paused_reason
    assert status.windows and all(w.verdict == WindowVerdict.INCONCLUSIVE for w in status.windows)
    desc = await cr.describe(name)
    assert weights_set(desc.events) == ["10"] and desc.spec.version == "v1"
    # a resume grants another window; with still no traffic it pauses again, still at 10 %
    seen = status.windows_total
    await cr.rollouts.resume(name, reason="one more look")
    status = await cr.rollouts.wait(
        name, lambda s: s.phase == RolloutPhase.PAUSED and s.windows_total > seen, timeout_s=60)
    assert status.canary_weight == 10
    assert weights_set((await cr.describe(name)).events) == ["10"]
    await cr.rollouts.abort(name, reason="test over")
    await cr.delete(name)


async def test_trickle_traffic_pauses_and_says_how_little_came(cr: CodeRunner, name: str) -> None:
    desc = await deployed_v1(cr, name)
    async with load(desc.router_url or "", rps=30):  # 10 % of 30 rps: ~3 canary requests a window
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=GATED)
        status = await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED, timeout_s=60)
    assert status.canary_weight == 10 and status.paused_reason
    assert "too little evidence at 10%" in status.paused_reason and "min_requests" in status.paused_reason
    assert sum(w.result.canary.requests for w in status.windows) > 0
    assert weights_set((await cr.describe(name)).events) == ["10"]
    await cr.rollouts.abort(name, reason="test over")
    await cr.delete(name)


async def test_a_step_shorter_than_a_window_is_refused_or_extended(cr: CodeRunner, store: Store,
                                                                   name: str) -> None:
    with pytest.raises(ValueError, match=r"step_duration 0.3s is shorter than the 1s the analysis needs"):
        fast_strategy("10,100", "0.3s")
    short = RolloutStrategy.model_validate({
        "steps": [{"kind": "set_weight", "weight": 10}, {"kind": "pause", "duration_s": 0.3},
                  {"kind": "set_weight", "weight": 100}],
        "analysis": AnalysisSettings(interval_s=3.0, min_requests=10, inconclusive_limit=10_000)})
    desc = await deployed_v1(cr, name)
    with pytest.raises(UserError, match="shorter than"):
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=short)
    # a client that skips the check: the workflow extends the 0.3 s step to the 3 s window it needs
    async with load(desc.router_url or "", rps=200):
        await cr.handle(name).execute_update(DeploymentWorkflow.rollout, RolloutRequest(
            version="v2", env={"VERSION": "v2"}, strategy=short, scale_down_delay_s=0.2))
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome
    at_ten = [w for w in status.windows if w.weight == 10]
    assert at_ten and at_ten[-1].verdict == WindowVerdict.HEALTHY
    await settled(cr, name)
    extended = [e for e in store.list_events(name, limit=200) if e.kind == "rollout_step_extended"]
    assert len(extended) == 1
    assert "needs 1 healthy analysis window (3s each) at 10%" in extended[0].details_json
    await cr.delete(name)


async def test_controls_that_no_longer_apply_are_refused_with_the_reason(cr: CodeRunner, name: str) -> None:
    await deployed_v1(cr, name)
    manual = fast_strategy("10,100", "300s", inconclusive_limit=10_000, healthy_windows_per_step=0)
    # during an abort (the canary is kept 4 s): resume, pause and promote are refused
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=manual, abort_cleanup_s=4)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    await cr.rollouts.pause(name, reason="look")
    status = await cr.rollouts.abort(name, reason="bad build")
    assert status.phase == RolloutPhase.ABORTING
    for control, call in (("resume", cr.rollouts.resume(name)), ("pause", cr.rollouts.pause(name)),
                          ("promote", cr.rollouts.promote(name, full=True))):
        with pytest.raises(UserError, match="aborting") as refused:
            await call
        assert "bad build" in str(refused.value), control
    with pytest.raises(UserError, match="already aborting"):
        await cr.rollouts.abort(name, reason="again")
    assert (await cr.rollouts.wait(name)).phase == RolloutPhase.ABORTED
    await settled(cr, name)

    # once the promotion is committed (4 s scale-down delay): pause and abort are refused
    await cr.rollouts.start(name, "v3", env={"VERSION": "v3"}, strategy=manual, scale_down_delay_s=4)
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    with pytest.raises(UserError, match="not paused: nothing to resume"):
        await cr.rollouts.resume(name)
    await cr.rollouts.promote(name, full=True, reason="ship")
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PROMOTING)
    with pytest.raises(UserError, match="promotion is committed"):
        await cr.rollouts.pause(name)
    with pytest.raises(UserError, match=r"too late to abort.*undo"):
        await cr.rollouts.abort(name, reason="changed my mind")
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.PROMOTED
    desc = await settled(cr, name)
    assert desc.spec.version == "v3" and "rollout_paused" in event_kinds(desc)
    await cr.delete(name)


async def test_rollout_continues_as_new_carrying_its_state(cr: CodeRunner, name: str) -> None:
    """Windows every 0.3 s at 10 % with no end in sight: the history passes the test server's
    300-event suggestion, the rollout continues-as-new, and step, weight and windows carry over."""
    await deployed_v1(cr, name)
    settings = AnalysisSettings(interval_s=0.3, min_requests=10, inconclusive_limit=10_000)
    long = RolloutStrategy.from_shorthand("10,100", "600s", 0.3, settings)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=long, scale_down_delay_s=0.2)
    status = await cr.rollouts.wait(name, lambda s: s.runs >= 2, timeout_s=120)
    assert status.canary_weight == 10 and status.step == 2 and status.phase == RolloutPhase.PROGRESSING
    carried = status.windows_total
    assert carried >= 10
    status = await cr.rollouts.wait(name, lambda s: s.windows_total > carried, timeout_s=30)
    assert [w.number for w in status.windows] == sorted(w.number for w in status.windows)
    handle = cr.client.get_workflow_handle(status.workflow_id)
    assert len((await handle.fetch_history()).events) < 300  # this run's history, not the whole story
    await cr.rollouts.promote(name, full=True, reason="enough")
    status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.PROMOTED and status.runs >= 2
    assert (await settled(cr, name)).spec.version == "v2"
    await cr.delete(name)


async def test_a_zero_length_step_without_traffic_waits_for_its_window_then_pauses(
    cr: CodeRunner, name: str
) -> None:
    """`pause 0` reaching the workflow: it holds for the window it needs (no busy loop), then pauses."""
    await deployed_v1(cr, name)
    zero = RolloutStrategy.model_validate({
        "steps": [{"kind": "set_weight", "weight": 10}, {"kind": "pause", "duration_s": 0},
                  {"kind": "set_weight", "weight": 100}],
        "analysis": AnalysisSettings(interval_s=1.0, min_requests=10, inconclusive_limit=10_000)})
    await cr.handle(name).execute_update(DeploymentWorkflow.rollout, RolloutRequest(
        version="v2", env={"VERSION": "v2"}, strategy=zero))
    status = await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED, timeout_s=60)
    assert status.canary_weight == 10 and status.windows_total >= 1
    assert status.paused_reason and "canary got 0 requests" in status.paused_reason
    await cr.rollouts.abort(name, reason="test over")
    await cr.delete(name)
