"""Canary rollouts driven by real HTTP load: promotion, and each way analysis aborts or pauses."""

from __future__ import annotations

import itertools

from prometheus_client import generate_latest

from coderunner.models.deployment import DeploymentStatus
from coderunner.models.rollout import RolloutPhase, WindowVerdict
from coderunner.store.repository import Store
from coderunner.telemetry.metrics import REGISTRY
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess, settled
from starter.tools.load_process import load
from tests.rollout_helpers import (
    INTERVAL_S,
    deployed_v1,
    event_kinds,
    fast_strategy,
    router_stats,
)
from tests.test_deployment_workflow import host_instances


async def test_healthy_rollout_walks_every_step_then_retires_v1(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    desc = await deployed_v1(cr, name)
    async with load(desc.router_url or ""):
        started = await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=fast_strategy(),
                                          scale_down_delay_s=1.0)
        assert started.workflow_id == f"rollout/{name}/v2" and started.weights == [10, 25, 50, 75, 100]
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.PROMOTED, status.outcome
    assert status.windows and all(w.verdict != WindowVerdict.UNHEALTHY for w in status.windows)
    for weight in (10, 25, 50, 75):  # issue 16: no weight was left without a healthy window at it
        assert any(w.weight == weight and w.verdict == WindowVerdict.HEALTHY for w in status.windows), weight
    results = await activity_results(cr, status.workflow_id)
    assert results and all(b"latency_ms_samples" not in r for r in results)  # statistics, not raw samples
    assert all(b"p95_ms" in r for r in results)
    desc = await settled(cr, name)
    assert desc.spec.version == "v2" and desc.previous_version == "v1"
    assert desc.last_rollout and desc.last_rollout.phase == RolloutPhase.PROMOTED
    weights = [e for e in desc.events if e.kind == "canary_weight"]
    assert [e.message.split(" at ")[1].split("%")[0] for e in weights] == ["10", "25", "50", "75", "100"]
    for before, after in itertools.pairwise(weights):  # each 1 s pause step was honoured
        assert (after.at - before.at).total_seconds() >= 1.0
    assert {i.version for i in desc.instances} == {"v2"} and len(desc.instances) == 2
    assert all(iid.startswith(f"{name}-v2-") for iid in await host_instances(sandbox_host, name))
    metrics = generate_latest(REGISTRY).decode()  # the worker runs in this process: its /metrics registry
    assert f'coderunner_rollout_promotions_total{{deployment="{name}"}} 1.0' in metrics
    assert f'coderunner_canary_analysis_verdicts_total{{deployment="{name}",verdict="healthy"}}' in metrics
    await cr.delete(name)


async def activity_results(cr: CodeRunner, workflow_id: str) -> list[bytes]:
    """The decoded (decrypted) results of the analysis activities in a workflow's history."""
    history = await cr.client.get_workflow_handle(workflow_id).fetch_history()
    codec = cr.client.data_converter.payload_codec
    assert codec is not None
    payloads = [p for e in history.events if e.HasField("activity_task_completed_event_attributes")
                for p in e.activity_task_completed_event_attributes.result.payloads]
    return [p.data for p in await codec.decode(payloads) if b"canary" in p.data]


async def test_error_canary_aborted_within_three_intervals(
    cr: CodeRunner, sandbox_host: HostProcess, store: Store, name: str
) -> None:
    desc = await deployed_v1(cr, name)
    # 25 % of 400 rps: ~100 canary requests a window, so 20 % errors reads as > 10 % in all but
    # ~0.6 % of windows (binomial); at 60 a window one rollout in ~15 needed a third window
    async with load(desc.router_url or "", rps=400) as seen:
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2", "ERROR_RATE": "0.2"},
                                strategy=fast_strategy("25,100", "60s"), abort_cleanup_s=0.5)
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.ABORTED
    desc = await settled(cr, name)
    onset = next(e.at for e in desc.events if e.kind == "canary_weight")
    assert status.rolled_back_at is not None
    rollback_s = (status.rolled_back_at - onset).total_seconds()
    judged = [(w.verdict.value, w.result.canary.requests) for w in status.windows]
    assert rollback_s <= 3 * INTERVAL_S, f"rolled back {rollback_s:.2f}s after traffic began: {judged}"
    # the sequential error test aborts on the first window with strong evidence, not after a fixed 2
    assert status.windows[-1].verdict == WindowVerdict.UNHEALTHY and status.windows[-1].result.conclusive
    assert "sequential test" in (status.outcome or "")
    assert seen["500"] > 0 and set(seen) <= {"200", "500"}, seen  # 500s only from the canary (below)
    assert "error rate" in (status.outcome or "")
    stable = [b for b in await router_stats(sandbox_host, name, 120) if b.version == "v1"]
    assert sum(b.requests for b in stable) > 100 and sum(b.errors for b in stable) == 0
    assert all(iid.startswith(f"{name}-v1-") for iid in await host_instances(sandbox_host, name))
    assert desc.spec.version == "v1" and desc.status == DeploymentStatus.RUNNING
    kinds = event_kinds(desc)
    assert kinds.index("rollout_aborted") < kinds.index("recovered")
    aborted = next(e for e in desc.events if e.kind == "rollout_aborted")
    assert "error rate" in aborted.message and "window" in aborted.message  # the measured evidence
    audit = [e.kind for e in store.list_events(name, limit=100)]
    assert "rollout_aborted" in audit and "recovered" in audit
    handle = cr.client.get_workflow_handle(status.workflow_id)
    from coderunner.models import search_attributes as sa

    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.ROLLOUT_PHASE) == "aborted" and attrs.get(sa.CANARY_WEIGHT) == 0
    metrics = generate_latest(REGISTRY).decode()
    assert f'coderunner_rollout_rollbacks_total{{deployment="{name}"}} 1.0' in metrics
    assert f'coderunner_canary_weight{{deployment="{name}"}} 0.0' in metrics
    await cr.delete(name)


async def test_latency_canary_aborted_on_p95(cr: CodeRunner, name: str) -> None:
    desc = await deployed_v1(cr, name)
    async with load(desc.router_url or ""):
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2", "LATENCY_MS": "400"},
                                strategy=fast_strategy("10,100", "60s"), abort_cleanup_s=0)
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.ABORTED
    assert "p95 latency" in (status.outcome or "")
    assert all((w.result.canary.p95_ms or 0) > 200 for w in status.windows[-2:])
    await cr.delete(name)


async def test_slightly_slower_canary_flagged_by_baseline_comparison(cr: CodeRunner, name: str) -> None:
    """60 ms slower stays under the 200 ms p95 limit: only the Mann-Whitney comparison catches it."""
    desc = await deployed_v1(cr, name)
    async with load(desc.router_url or ""):
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2", "LATENCY_MS": "60"},
                                strategy=fast_strategy("10,100", "60s"), abort_cleanup_s=0)
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.ABORTED
    last = status.windows[-1].result
    assert last.canary.p95_ms is not None and last.canary.p95_ms < 200
    assert last.comparison is not None and last.comparison.canary_slower
    assert last.comparison.p_value is not None and last.comparison.p_value < 0.01
    assert "Mann-Whitney" in (status.outcome or "")
    await cr.delete(name)


async def test_crash_on_start_aborted_before_any_traffic(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    desc = await deployed_v1(cr, name)
    async with load(desc.router_url or "", rps=50):
        await cr.rollouts.start(name, "v2", env={"CRASH_ON_START": "1"}, strategy=fast_strategy())
        status = await cr.rollouts.wait(name, timeout_s=60)
    assert status.phase == RolloutPhase.ABORTED and "never became healthy" in (status.outcome or "")
    assert status.canary_weight == 0 and status.windows == []
    desc = await settled(cr, name)
    assert "canary_weight" not in event_kinds(desc)
    stats = await router_stats(sandbox_host, name, 120)
    assert all(b.version == "v1" for b in stats if b.requests)  # not one request reached v2
    assert all(iid.startswith(f"{name}-v1-") for iid in await host_instances(sandbox_host, name))
    await cr.delete(name)


async def test_too_little_traffic_pauses_for_a_human(cr: CodeRunner, name: str) -> None:
    await deployed_v1(cr, name)
    await cr.rollouts.start(name, "v2", env={"VERSION": "v2"},
                            strategy=fast_strategy("10,100", "60s", inconclusive_limit=2))
    status = await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED, timeout_s=30)
    assert [w.verdict for w in status.windows] == [WindowVerdict.INCONCLUSIVE] * 2
    assert status.canary_weight == 10 and status.paused_reason and "inconclusive" in status.paused_reason
    desc = await cr.describe(name)
    assert desc.spec.version == "v1" and desc.rollout and desc.rollout.phase == RolloutPhase.PAUSED
    await cr.rollouts.abort(name, reason="test over")
    await cr.delete(name)
