"""The autoscaler's spend counts the instances a decision just added from the moment they run."""

from __future__ import annotations

from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests.autoscaler_helpers import rps_policy, until
from tests.test_deployment_workflow import deployed, spec


async def test_spend_counts_the_instances_a_decision_added(cr: CodeRunner, name: str) -> None:
    """min 3 over a deployment of 1: the first sync scales to 3. A sync interval of an hour means no
    second observation comes to correct it: the instances charged until then must already be 3."""
    await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(min_r=3, max_r=4, sync_interval_s=3600))
    try:

        async def applied() -> bool:
            return any(d.applied == 3 for d in (await auto.status(name)).decisions)

        await until(applied, 60, "the scale-up to min_replicas")
        spend = (await auto.status(name)).spend
        assert spend.last_instances == 3, spend  # was 1: the scale-up went uncharged until next sync
    finally:
        await auto.disable(name)
        await cr.delete(name)
