"""A canary rollout in progress is not disturbed: the autoscaler scales the stable group only.

Needs the canary work (issue 3: `rollout` update, workflows/rollout.py)."""

from __future__ import annotations

from coderunner.models.autoscaler import DecisionRecord
from coderunner.models.rollout import RolloutStrategy
from coderunner.models.sandbox import InstanceGroup
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests.autoscaler_helpers import load, replicas, rps_policy, until
from tests.polling import GENEROUS_S
from tests.test_deployment_workflow import deployed, spec


async def test_canary_in_progress_is_not_disturbed(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    # 20 % to the canary, then wait for a human: the rollout sits still while load grows
    strategy = RolloutStrategy.model_validate({"steps": [{"kind": "set_weight", "weight": 20},
                                                         {"kind": "pause"},
                                                         {"kind": "set_weight", "weight": 100}]})
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
    before = await cr.rollouts.wait(name, lambda r: r.canary_weight == 20, GENEROUS_S)
    assert len(before.canary_instances) == 1, before.canary_instances  # 20 % of 1 replica: one canary
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(target=20, max_r=3))
    async with load(desc.router_url or "", rps=100):
        await until(lambda: _stable_at_least(cr, name, 2), GENEROUS_S, "stable scale-up")
        await until(lambda: _decided(auto, name, 2), GENEROUS_S, "two more decisions under load")
    after = await cr.rollouts.status(name)
    assert after.phase == before.phase and after.canary_weight == 20 and after.outcome is None
    assert after.canary_instances == before.canary_instances  # the canary group untouched
    desc = await cr.describe(name)
    canary = [i for i in desc.instances if i.group == InstanceGroup.CANARY]
    assert [i.instance_id for i in canary] == before.canary_instances and all(i.healthy for i in canary)
    st = await auto.status(name)
    ups = [d for d in st.decisions if d.direction == "up"]
    assert ups, [d.line() for d in st.decisions]  # the stable group grew by the autoscaler's decision
    # load gone: the HPA wants fewer, and once its stabilization window has passed it is the canary
    # rule alone that holds the scale-down (one outcome, counted in decisions, not a sleep)
    held = await until(lambda: _canary_hold(auto, name), GENEROUS_S, "a scale-down held by the canary")
    assert held is not None
    assert held.desired == held.current >= 2 and (held.recommended or 0) < held.current, held.line()
    assert await replicas(cr, name) >= 2
    downs = [d.line() for d in (await auto.status(name)).decisions if d.direction == "down"]
    assert downs == [], downs  # not one scale-down while the canary runs
    await auto.disable(name)
    await cr.rollouts.abort(name, "test over")
    await cr.delete(name)


async def _decided(auto: Autoscaling, name: str, more: int) -> bool:
    """`more` decisions after the first scale-up."""
    decisions = (await auto.status(name)).decisions
    ups = [d.seq for d in decisions if d.direction == "up"]
    return bool(ups) and decisions[-1].seq >= ups[0] + more


async def _canary_hold(auto: Autoscaling, name: str) -> DecisionRecord | None:
    held = [d for d in (await auto.status(name)).decisions if d.limited_by == "canary in progress"]
    return held[-1] if held else None


async def _stable_at_least(cr: CodeRunner, name: str, n: int) -> bool:
    desc = await cr.describe(name)
    return sum(1 for i in desc.instances if i.group == InstanceGroup.STABLE and i.healthy) >= n
