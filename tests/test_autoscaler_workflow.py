"""AutoscalerWorkflow against a real Temporal dev server, a real sandbox host and real HTTP load."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from coderunner.models import search_attributes as sa
from coderunner.models.autoscaler import BudgetSettings, autoscaler_id
from coderunner.store.repository import Store
from coderunner.store.spend import SpendStore
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests.autoscaler_helpers import SYNC_S, load, replicas, rps_policy, serving, until
from tests.test_deployment_workflow import deployed, spec

BOOT_S = 5.0  # generous for instance start + health wait on a busy 2-core machine


async def test_load_step_scales_up_then_down_after_the_window(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    window_s = 4
    await auto.enable(name, rps_policy(target=20, max_r=4, down_window_s=window_s))
    async with load(desc.router_url or "", rps=100):
        started = time.monotonic()
        await until(lambda: _more_than(cr, name, 1), 2 * SYNC_S + BOOT_S, "scale-up")
        reacted = time.monotonic() - started
        await until(lambda: _at_least_serving(cr, name, 3), 15, "3+ instances serving")
        await asyncio.sleep(1)
    stopped = time.monotonic()
    peak = await replicas(cr, name)
    await until(lambda: _less_than(cr, name, peak), window_s + 10, "scale-down")
    waited = time.monotonic() - stopped

    async def down_decided() -> bool:  # recorded once the deployment's scale update returns
        return any(d.direction == "down" for d in (await auto.status(name)).decisions)

    await until(down_decided, 10, "the scale-down decision")
    st = await auto.status(name)
    down = next(d for d in st.decisions if d.direction == "down")
    high = [d for d in st.decisions if d.at_s < down.at_s and (d.recommended or 0) >= down.current]
    assert high, "no recommendation for the peak before the scale-down"
    held = down.at_s - high[-1].at_s
    assert held >= window_s, f"scaled down {held:.1f}s after the last high recommendation (window {window_s})"
    await until(lambda: _equals(cr, name, 1), 10, "back at min")
    await asyncio.sleep(3 * SYNC_S)
    assert await replicas(cr, name) == 1  # never below min
    ups = [d for d in st.decisions if d.direction == "up"]
    assert any(p.ratio and p.ratio > 1.1 for d in ups for p in d.proposals), "ratios kept with the decision"
    print(f"scale-up reaction {reacted:.2f}s; scale-down {waited:.2f}s after load stop, {held:.2f}s after "
          f"the last high recommendation (window {window_s}s)")
    await auto.disable(name)
    await cr.delete(name)


async def test_override_with_ttl_then_released(cr: CodeRunner, store: Store, name: str) -> None:
    await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(down_window_s=2))
    asked = time.monotonic()
    result = await cr.scale(name, 3, reason="launch", for_s=4)  # `coderunner scale … --for` path
    assert "override" in result.message and result.replicas == 3
    st = await auto.status(name)
    assert st.override and st.override.replicas == 3 and st.override_remaining_s is not None
    await asyncio.sleep(2.5)
    assert await replicas(cr, name) == 3, "override not honoured while active (no load: autoscaler wants 1)"
    await until(lambda: _equals(cr, name, 1), 4 + 3 * SYNC_S + 3, "release after the TTL")
    assert time.monotonic() - asked >= 4 - 0.2  # the TTL runs from when the override was set
    assert (await auto.status(name)).override is None

    async def recorded() -> bool:  # the audit write follows the scale-down the deployment already shows
        kinds = {e.kind for e in store.list_events(name, 100)}
        return {"override", "override_expired"} <= kinds

    await until(recorded, 10, "override events in the audit log")
    await auto.disable(name)
    await cr.delete(name)


async def test_pause_holds_and_resume_decides(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(target=20, max_r=3))
    await auto.pause(name, reason="investigating")
    async with load(desc.router_url or "", rps=80):
        await asyncio.sleep(4 * SYNC_S)
        assert await replicas(cr, name) == 1, "paused autoscaler scaled"
        st = await auto.status(name)
        assert st.paused and st.pause_reason == "investigating"
        await auto.resume(name)
        await until(lambda: _more_than(cr, name, 1), 2 * SYNC_S + BOOT_S, "scale-up after resume")
    await auto.disable(name)
    await cr.delete(name)


async def test_budget_alerts_at_75_and_90_then_cap(cr: CodeRunner, store: Store, name: str) -> None:
    hooks: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        hooks.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        desc = await deployed(cr, spec(name, 1))
        auto = Autoscaling(cr)
        # 1 instance at 36000/h = 10 per second; budget 60: 75 % after ~4.5 s, 90 % ~5.4 s, 100 % ~6 s
        policy = rps_policy(target=20, max_r=3, instance_hour_price=36000.0, budget_action="cap-current")
        await auto.enable(name, policy, BudgetSettings(monthly=60, webhook_url=f"http://127.0.0.1:{port}/hook"))
        await until(lambda: _level(auto, name, 100), 20, "budget exhausted")
        async with load(desc.router_url or "", rps=80):
            await asyncio.sleep(3 * SYNC_S)
            assert await replicas(cr, name) == 1, "budget cap-current let it grow"
            st = await auto.status(name)
            assert st.decisions[-1].limited_by == "budget exhausted (cap-current)"
        events = store.list_events(name, 200)
        alerts = [json.loads(e.details_json)["level"] for e in events if e.kind == "budget_alert"]
        assert sorted(alerts) == [75, 90, 100]  # each once
        assert sorted(h["level"] for h in hooks) == [75, 90, 100]
        wf = await cr.client.get_workflow_handle(autoscaler_id(name)).describe()
        assert wf.typed_search_attributes.get(sa.BUDGET_LEVEL) == 100
        rows = SpendStore(store).history(name)
        assert rows and rows[0].amount >= 60 and rows[0].level == 100
        await auto.disable(name)
        await cr.delete(name)
    finally:
        await runner.cleanup()


async def _level(auto: Autoscaling, name: str, level: int) -> bool:
    return (await auto.status(name)).spend.level >= level


async def _more_than(cr: CodeRunner, name: str, n: int) -> bool:
    return await replicas(cr, name) > n


async def _less_than(cr: CodeRunner, name: str, n: int) -> bool:
    return await replicas(cr, name) < n


async def _equals(cr: CodeRunner, name: str, n: int) -> bool:
    return await replicas(cr, name) == n and await serving(cr, name) == n


async def _at_least_serving(cr: CodeRunner, name: str, n: int) -> bool:
    return await serving(cr, name) >= n
