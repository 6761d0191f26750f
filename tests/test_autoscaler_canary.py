"""A canary rollout in progress is not disturbed: the autoscaler scales the stable group only.

Needs the canary work (issue 3: `rollout` update, workflows/rollout.py)."""

from __future__ import annotations

import asyncio

from coderunner.models.rollout import RolloutStrategy
from coderunner.models.sandbox import InstanceGroup
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests.autoscaler_helpers import SYNC_S, load, replicas, rps_policy, until
from tests.test_deployment_workflow import deployed, spec


async def test_canary_in_progress_is_not_disturbed(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    # 20 % to the canary, then wait for a human: the rollout sits still while load grows
    strategy = RolloutStrategy.model_validate({"steps": [{"kind": "set_weight", "weight": 20},
                                                         {"kind": "pause"},
                                                         {"kind": "set_weight", "weight": 100}]})
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
    await until(lambda: _canary_at(cr, name, 20), 30, "canary at 20 %")
    before = await cr.rollouts.status(name)
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(target=20, max_r=3))
    async with load(desc.router_url or "", rps=100):
        await until(lambda: _stable_at_least(cr, name, 2), 2 * SYNC_S + 10, "stable scale-up")
        await asyncio.sleep(2 * SYNC_S)
    after = await cr.rollouts.status(name)
    assert after.phase == before.phase and after.canary_weight == 20 and after.outcome is None
    assert after.canary_instances == before.canary_instances  # the canary group untouched
    desc = await cr.describe(name)
    canary = [i for i in desc.instances if i.group == InstanceGroup.CANARY]
    assert [i.instance_id for i in canary] == before.canary_instances and all(i.healthy for i in canary)
    st = await auto.status(name)
    assert all(d.current == d.ready or d.direction != "down" for d in st.decisions)
    await asyncio.sleep(3 * SYNC_S)  # load gone: scale-down is held while the canary runs
    assert await replicas(cr, name) >= 2
    held = (await auto.status(name)).decisions[-1].limited_by
    assert held in ("canary in progress", "stabilization window"), held
    await auto.disable(name)
    await cr.rollouts.abort(name, "test over")
    await cr.delete(name)


async def _canary_at(cr: CodeRunner, name: str, weight: int) -> bool:
    try:
        return (await cr.rollouts.status(name)).canary_weight == weight
    except Exception:  # the rollout child may not answer queries yet
        return False


async def _stable_at_least(cr: CodeRunner, name: str, n: int) -> bool:
    desc = await cr.describe(name)
    return sum(1 for i in desc.instances if i.group == InstanceGroup.STABLE and i.healthy) >= n
