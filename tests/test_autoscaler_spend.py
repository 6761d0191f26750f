"""The autoscaler's spend counts the instances a decision just added from the moment they run, each at
the price of the resources its deployment declares."""

from __future__ import annotations

import pytest

from coderunner.models.autoscaler import AutoscalerStatus
from coderunner.models.sandbox import Resources
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests.autoscaler_helpers import rps_policy, until
from tests.cli_helpers import acoderunner
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


async def test_spend_prices_the_declared_resources(cr: CodeRunner, cli_env: dict[str, str], name: str
                                                   ) -> None:
    """One instance declaring 2 CPUs and 1 GiB, at 3600 per vCPU-hour and 1800 per GiB-hour: each
    second costs 2 x 1 + 1 x 0.5 = 2.5, not the flat price (0 here). Spend from the first sync to the
    last is exactly that rate over the time between them, and `cost` shows what the rate is made of."""
    declared = Resources(cpu=2, memory_mb=1024)
    await deployed(cr, spec(name, 1).model_copy(update={"resources": declared}))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(min_r=1, max_r=1, vcpu_hour_price=3600.0, gib_hour_price=1800.0))
    try:

        async def three_syncs() -> AutoscalerStatus | None:
            st = await auto.status(name)
            first = st.decisions[0].at_s if st.decisions else None
            return st if first is not None and (st.spend.last_at_s or 0) - first >= 2 else None

        st = await until(three_syncs, 60, "three syncs")
        sp = st.spend
        assert (sp.pricing, sp.last_resources, sp.last_instances) == ("resources", declared, 1)
        assert st.spend.last_at_s is not None
        assert st.spend.amount == pytest.approx(2.5 * (st.spend.last_at_s - st.decisions[0].at_s))
        shown = await acoderunner("cost", name, env=cli_env)
        assert shown.returncode == 0, shown.stderr
        rate = "rate now: 1 \u00d7 (2 vCPU \u00d7 3600 + 1 GiB \u00d7 1800) /h = 9000/h"
        assert rate in shown.stdout, shown.stdout
    finally:
        await auto.disable(name)
        await cr.delete(name)
