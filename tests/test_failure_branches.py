"""Failure branches the happy-path tests never reach, each injected by replacing one activity under its
name on a dedicated worker (tests/injection.py), with the outcome the README promises asserted.

- a rolling restart whose surge instance never becomes healthy stops and keeps the old instances;
- that failure's text reaches Temporal history only encrypted;
- store writes that fail are retried until they land, each audit event recorded once;
- a canary that cannot grow at a later step aborts the rollout: traffic back on stable, canary removed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.sandbox import SandboxActivities
from activities.store import StoreActivities
from coderunner.hosts.provider import RouterNotFound
from coderunner.models.activity_io import Ack, AuditEventInput, HealthWaitRequest
from coderunner.models.autoscaler import BudgetAlert, BudgetSettings
from coderunner.models.deployment import DeploymentStatus
from coderunner.models.rollout import RolloutPhase
from coderunner.models.sandbox import ProbeResult, RouterConfig, RouterInfo
from coderunner.store.repository import Store
from starter.sdk.autoscaling import Autoscaling
from starter.sdk.errors import OperationError
from starter.tools.harness import HostProcess
from tests.autoscaler_helpers import rps_policy
from tests.cleanup import removed_after
from tests.injection import injected_worker
from tests.polling import until
from tests.rollout_helpers import fast_strategy, router_weights
from tests.test_deployment_workflow import deployed, host_instances, spec

MARKER = "injected-fault-7d1c"  # must never appear in history as plaintext


async def test_restart_whose_surge_fails_keeps_old_instances_and_encrypts_the_reason(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    armed = asyncio.Event()
    real = SandboxActivities(sandbox_host.client())

    @activity.defn(name="wait_instance_healthy")
    async def surge_never_healthy(req: HealthWaitRequest) -> ProbeResult:
        if armed.is_set():
            raise ApplicationError(f"{MARKER}: surge never healthy", non_retryable=True)
        return await real.wait_instance_healthy(req)

    async with injected_worker(home, temporal_env, sandbox_host, store, [surge_never_healthy]) as cr:
        async with removed_after(cr, name):
            before = await deployed(cr, spec(name, 2))
            old = sorted(i.instance_id for i in before.instances)
            armed.set()
            with pytest.raises(OperationError, match="restart stopped, old instances kept") as err:
                await cr.restart(name, reason="new config")
            assert f"{name}-v1-2" in str(err.value) and MARKER in str(err.value)  # the client decrypts
            after = await cr.describe(name)
            assert sorted(i.instance_id for i in after.instances) == old
            assert all(i.healthy for i in after.instances) and len(after.instances) == 2
            assert after.status == DeploymentStatus.RUNNING
            assert await host_instances(sandbox_host, name) == old  # the surge instance was destroyed
            assert sorted(await router_weights(sandbox_host, name)) == old
            history = await cr.handle(name).fetch_history()
            raw = b"".join(event.SerializeToString() for event in history.events)
            assert b"restart stopped" not in raw and MARKER.encode() not in raw
            failed = [e for e in history.events if e.HasField("activity_task_failed_event_attributes")]
            assert failed, "no failed activity in the history"
            assert {e.activity_task_failed_event_attributes.failure.message for e in failed} == {
                "Encoded failure"
            }
    await real.provider.aclose()  # type: ignore[attr-defined]


async def test_store_writes_are_retried_until_they_land_once(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    real = StoreActivities(store)
    attempts: collections.Counter[str] = collections.Counter()

    @activity.defn(name="record_event")
    async def flaky_record_event(event: AuditEventInput) -> Ack:
        attempts[event.event_key or ""] += 1
        if activity.info().attempt < 3:
            raise RuntimeError(f"{MARKER}: database is locked")
        return await real.record_event(event)

    async with injected_worker(home, temporal_env, sandbox_host, store, [flaky_record_event]) as cr:
        async with removed_after(cr, name):
            await deployed(cr, spec(name, 1))
            await cr.scale(name, 2, reason="more")
            kinds = await until(
                lambda: asyncio.to_thread(lambda: [e.kind for e in store.list_events(name, 50)]),
                lambda k: "scaled" in k,
                "the scale's audit event in the store",
            )
            counts = collections.Counter(kinds)
            assert counts["deploy"] == counts["deployed"] == counts["scaled"] == 1, counts
            assert attempts and min(attempts.values()) >= 3, attempts  # every event failed twice first


async def test_canary_that_cannot_grow_at_a_later_step_aborts_back_to_stable(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    real = SandboxActivities(sandbox_host.client())
    replicas = 4  # canaries: 1 at 25 %, 2 at 50 %; the second canary is ordinal 5

    @activity.defn(name="wait_instance_healthy")
    async def second_canary_never_healthy(req: HealthWaitRequest) -> ProbeResult:
        if "-v2-" in req.instance_id and int(req.instance_id.rsplit("-", 1)[1]) > replicas:
            raise ApplicationError(f"{req.instance_id}: {MARKER}", non_retryable=True)
        return await real.wait_instance_healthy(req)

    # no traffic in these tests: without the evidence gate the steps move on by time alone
    strategy = fast_strategy("25,50,100", "2s", inconclusive_limit=10_000, healthy_windows_per_step=0)
    async with injected_worker(home, temporal_env, sandbox_host, store, [second_canary_never_healthy]) as cr:
        async with removed_after(cr, name):
            desc = await deployed(cr, spec(name, replicas))
            stable = sorted(i.instance_id for i in desc.instances)
            await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
            reached = await cr.rollouts.wait(name, lambda s: s.canary_weight == 25)
            assert reached.phase == RolloutPhase.PROGRESSING  # the first step did grow
            status = await cr.rollouts.wait(name)
            assert status.phase == RolloutPhase.ABORTED, status
            desc = await until(lambda: cr.describe(name), lambda d: d.rollout is None, "the rollout closed")
            assert desc.last_rollout and desc.last_rollout.outcome
            assert "canary could not grow for 50%" in desc.last_rollout.outcome
            assert f"{name}-v2-5" in desc.last_rollout.outcome
            assert desc.spec.version == "v1" and desc.status == DeploymentStatus.RUNNING
            assert sorted(i.instance_id for i in desc.instances) == stable
            assert await host_instances(sandbox_host, name) == stable  # canaries destroyed
            weights = await router_weights(sandbox_host, name)
            assert sorted(weights) == stable and all(w > 0 for w in weights.values())
    await real.provider.aclose()  # type: ignore[attr-defined]


async def test_refused_weight_aborts_the_rollout_and_keeps_the_deployment_serving(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    real = SandboxActivities(sandbox_host.client())

    @activity.defn(name="set_router")
    async def refuse_canary_weights(config: RouterConfig) -> RouterInfo:
        if any(b.weight > 1 for b in config.backends):  # a canary split: per-mille weights
            raise ApplicationError(f"router refused weights: {MARKER}", non_retryable=True)
        return await real.set_router(config)

    # no traffic in these tests: without the evidence gate the steps move on by time alone
    strategy = fast_strategy("25,50,100", "2s", inconclusive_limit=10_000, healthy_windows_per_step=0)
    try:
        async with injected_worker(home, temporal_env, sandbox_host, store, [refuse_canary_weights]) as cr:
            desc = await deployed(cr, spec(name, 2))
            stable = sorted(i.instance_id for i in desc.instances)
            await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
            child = cr.client.get_workflow_handle(f"rollout/{name}/v2")
            await until(
                child.describe,
                lambda d: d.status != WorkflowExecutionStatus.RUNNING,
                "the rollout workflow closed",
            )
            execution = (await cr.handle(name).describe()).status
            assert execution == WorkflowExecutionStatus.RUNNING, f"deployment workflow {execution.name}"
            assert (await cr.rollouts.status(name)).phase == RolloutPhase.ABORTED
            desc = await until(lambda: cr.describe(name), lambda d: d.rollout is None, "the rollout closed")
            assert desc.spec.version == "v1" and desc.status == DeploymentStatus.RUNNING
            assert await host_instances(sandbox_host, name) == stable
            assert sorted(await router_weights(sandbox_host, name)) == stable
            await cr.delete(name, reason="test cleanup")
    finally:
        await scrub_host(sandbox_host, name)
        await real.provider.aclose()  # type: ignore[attr-defined]


async def scrub_host(host: HostProcess, name: str) -> None:
    """What a dead deployment workflow left behind on the host: its instances and router."""
    async with host.client() as client:
        for instance in await client.list_instances(name):
            await client.destroy_instance(instance.instance_id)
        with contextlib.suppress(RouterNotFound):
            await client.delete_router(name)


async def test_refused_budget_webhook_neither_stops_alerts_nor_decisions(
    home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    calls: list[int] = []

    @activity.defn(name="autoscale_budget_webhook")
    async def refused_webhook(alert: BudgetAlert) -> Ack:
        calls.append(alert.level)
        raise ApplicationError(f"webhook refused the alert: 403 {MARKER}", non_retryable=True)

    async with injected_worker(home, temporal_env, sandbox_host, store, [refused_webhook]) as cr:
        async with removed_after(cr, name):
            await deployed(cr, spec(name, 1))
            auto = Autoscaling(cr)
            # 1 instance at 36000/h = 10 per second: budget 60 is spent in about 6 s
            policy = rps_policy(target=20, max_r=3, instance_hour_price=36000.0, budget_action="cap-current")
            await auto.enable(name, policy, BudgetSettings(monthly=60, webhook_url="http://127.0.0.1:9/hook"))
            try:
                exhausted = await until(
                    lambda: auto.status(name), lambda s: s.spend.level >= 100, "the budget exhausted"
                )
                decided = len(exhausted.decisions)
                later = await until(
                    lambda: auto.status(name),
                    lambda s: len(s.decisions) >= decided + 2,
                    "two more decisions after the refused webhooks",
                )
                assert later.spend.level == 100
                assert sorted(calls) == [75, 90, 100]  # each alert tried once: refused is not retried
                alerts = [
                    json.loads(e.details_json)["level"]
                    for e in store.list_events(name, 200)
                    if e.kind == "budget_alert"
                ]
                assert sorted(alerts) == [75, 90, 100]  # the alerts themselves are not lost
            finally:
                await auto.disable(name)
