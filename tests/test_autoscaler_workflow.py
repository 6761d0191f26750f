"""AutoscalerWorkflow against a real Temporal dev server, a real sandbox host and real HTTP load."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from coderunner.models import search_attributes as sa
from coderunner.models.autoscaler import BudgetSettings, DecisionRecord, autoscaler_id
from coderunner.store.repository import Store
from coderunner.store.spend import SpendStore
from starter.sdk import CodeRunner
from starter.sdk.autoscaling import Autoscaling
from tests import history
from tests.autoscaler_helpers import load, replicas, rps_policy, serving, until
from tests.polling import GENEROUS_S
from tests.test_deployment_workflow import deployed, spec

BOOT_S = GENEROUS_S  # a deadline is only a timeout: speed (reaction time) is measured in bench/


async def test_load_step_scales_up_then_down_after_the_window(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    window_s = 4
    await auto.enable(name, rps_policy(target=20, max_r=4, down_window_s=window_s))
    async with load(desc.router_url or "", rps=100):
        await until(lambda: _more_than(cr, name, 1), BOOT_S, "scale-up")
        await until(lambda: _at_least_serving(cr, name, 3), BOOT_S, "3+ instances serving")
        await until(lambda: _decided(auto, name, lambda d: d.current >= 3), BOOT_S,
                    "a decision at 3+ under load")
    peak = await replicas(cr, name)
    await until(lambda: _less_than(cr, name, peak), BOOT_S, "scale-down")

    async def down_decided() -> bool:  # recorded once the deployment's scale update returns
        return any(d.direction == "down" for d in (await auto.status(name)).decisions)

    await until(down_decided, BOOT_S, "the scale-down decision")
    st = await auto.status(name)
    down = next(d for d in st.decisions if d.direction == "down")
    before = [d for d in st.decisions if d.seq < down.seq]
    high = [d for d in before if (d.recommended or 0) >= max(d.current, down.current)]
    assert high, "no recommendation for the peak before the scale-down"
    # the stabilization window, seen in the decisions' own clock: the scale-down came a whole window
    # after the last high recommendation, and any sync between them held (a loaded machine may sync
    # less often than the window: then the first sync after it may scale down at once, rightly)
    assert down.at_s - high[-1].at_s >= window_s, (high[-1].line(), down.line())
    held = [d for d in before if d.seq > high[-1].seq]
    assert all(d.direction == "none" and d.limited_by == "stabilization window" for d in held), [
        (d.line(), d.limited_by) for d in held]
    await until(lambda: _equals(cr, name, 1), BOOT_S, "back at min")
    seq = (await auto.status(name)).decisions[-1].seq
    await until(lambda: _decided(auto, name, lambda d: d.seq >= seq + 3), BOOT_S,
                "three more decisions at min")
    st = await auto.status(name)
    assert await replicas(cr, name) == 1  # never below min
    at_min = [d for d in st.decisions if d.seq > seq]
    assert len(at_min) >= 3 and all(d.desired == 1 for d in at_min), [d.line() for d in at_min]
    ups = [d for d in st.decisions if d.direction == "up"]
    assert any(p.ratio and p.ratio > 1.1 for d in ups for p in d.proposals), "ratios kept with the decision"
    await auto.disable(name)
    await cr.delete(name)


async def test_override_with_ttl_then_released(cr: CodeRunner, store: Store, name: str) -> None:
    await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(down_window_s=2))
    result = await cr.scale(name, 3, reason="launch", for_s=4)  # `coderunner scale … --for` path
    assert "override" in result.message and result.replicas == 3
    st = await auto.status(name)
    override = st.override
    assert override and override.replicas == 3 and st.override_remaining_s is not None
    assert override.expires_at_s == override.set_at_s + 4  # the TTL runs from when the override was set
    pinned_from = st.decisions[-1].seq
    # counted in syncs, not a sleep: two syncs with no load (the autoscaler wants 1) keep the pin
    await until(lambda: _decided(auto, name, lambda d: d.seq >= pinned_from + 2), BOOT_S,
                "two syncs under the override")
    assert await replicas(cr, name) == 3, "override not honoured while active (no load: autoscaler wants 1)"
    await until(lambda: _equals(cr, name, 1), BOOT_S, "release after the TTL")
    assert (await auto.status(name)).override is None
    # the release decision is recorded once the deployment's scale update has returned
    await until(lambda: _decided(auto, name, lambda d: d.seq > pinned_from and d.limited_by != "override"),
                BOOT_S, "the release decision recorded")
    decisions = [d for d in (await auto.status(name)).decisions if d.seq >= pinned_from]
    pinned = [d for d in decisions if d.limited_by == "override"]
    released = [d for d in decisions if d.limited_by != "override"]
    # pinned at 3 while the autoscaler itself recommended fewer (no load)
    assert len(pinned) >= 3 and all(d.desired == 3 and (d.recommended or 0) < 3 for d in pinned), decisions
    assert released and released[0].desired == 1 and released[0].direction == "down", decisions
    # ordered by the workflow's own clock: every pinned decision before the expiry, the release after it
    assert all(d.at_s < (override.expires_at_s or 0) for d in pinned), (override, decisions)
    assert released[0].at_s >= (override.expires_at_s or 0) and released[0].seq > pinned[-1].seq

    async def recorded() -> bool:  # the audit write follows the scale-down the deployment already shows
        kinds = {e.kind for e in store.list_events(name, 100)}
        return {"override", "override_expired"} <= kinds

    await until(recorded, BOOT_S, "override events in the audit log")
    await auto.disable(name)
    await cr.delete(name)


async def test_pause_holds_and_resume_decides(cr: CodeRunner, name: str) -> None:
    desc = await deployed(cr, spec(name, 1))
    auto = Autoscaling(cr)
    await auto.enable(name, rps_policy(target=20, max_r=3))
    await auto.pause(name, reason="investigating")
    await until(lambda: _paused(auto, name), BOOT_S, "the pause applied")
    decided = len((await auto.status(name)).decisions)
    syncs = await _syncs(cr, name)
    async with load(desc.router_url or "", rps=80):
        # counted in syncs (metrics gathered, in the workflow's history), not a sleep
        await until(lambda: _syncs_at_least(cr, name, syncs + 4), BOOT_S, "four syncs while paused")
        assert await replicas(cr, name) == 1, "paused autoscaler scaled"
        st = await auto.status(name)
        assert st.paused and st.pause_reason == "investigating"
        assert len(st.decisions) == decided, [d.line() for d in st.decisions]  # syncs, but no decision
        await auto.resume(name)
        await until(lambda: _more_than(cr, name, 1), BOOT_S, "scale-up after resume")
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
        await until(lambda: _level(auto, name, 100), BOOT_S, "budget exhausted")
        seq = (await auto.status(name)).decisions[-1].seq
        async with load(desc.router_url or "", rps=80):
            # three decisions under load (counted, not slept for) that would have scaled up
            await until(lambda: _decided(auto, name, lambda d: d.seq >= seq + 3 and (d.recommended or 0) > 1),
                        BOOT_S, "three decisions under load")
            assert await replicas(cr, name) == 1, "budget cap-current let it grow"
            st = await auto.status(name)
            capped = [d for d in st.decisions if d.seq > seq and (d.recommended or 0) > 1]
            assert capped, [d.line() for d in st.decisions]
            assert all(d.desired == 1 and d.limited_by == "budget exhausted (cap-current)" for d in capped), [
                d.line() for d in capped]
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


async def _decided(auto: Autoscaling, name: str, check: Callable[[DecisionRecord], bool]) -> bool:
    return any(check(d) for d in (await auto.status(name)).decisions)


async def _paused(auto: Autoscaling, name: str) -> bool:
    return (await auto.status(name)).paused


async def _syncs(cr: CodeRunner, name: str) -> int:
    """Syncs of the autoscaler's current run: its completed gather_metrics activities."""
    acts = history.activities(await history.events(cr.client, autoscaler_id(name)))
    return sum(1 for a in acts if a.name == "autoscale_gather_metrics" and a.completed)


async def _syncs_at_least(cr: CodeRunner, name: str, n: int) -> bool:
    return await _syncs(cr, name) >= n


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
