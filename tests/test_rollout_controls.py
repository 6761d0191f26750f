"""Steering a rollout: pause, resume, promote (one step / full), abort with a reason, undo, refusals,
and a scale during a rollout keeping the canary's share of traffic."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from coderunner.models.rollout import RolloutPhase, RolloutStrategy
from coderunner.models.rollout_api import RolloutRequest
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.tools.harness import HostProcess, settled
from tests.rollout_helpers import deployed_v1, event_kinds, fast_strategy, router_weights
from tests.test_deployment_workflow import host_instances
from workflows.deployment import DeploymentWorkflow

# long steps and no load: only the human moves this rollout (inconclusive windows never pause it)
MANUAL = fast_strategy("10,25,50,75,100", "300s", inconclusive_limit=10_000)


async def test_pause_resume_promote_step_promote_full_then_undo(
    cr: CodeRunner, sandbox_host: HostProcess, name: str
) -> None:
    await deployed_v1(cr, name)
    rollouts = cr.rollouts
    await rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=MANUAL, scale_down_delay_s=0.5)
    await rollouts.wait(name, lambda s: s.canary_weight == 10 and s.phase == RolloutPhase.PROGRESSING)

    await rollouts.pause(name, reason="looking at dashboards")
    status = await rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
    assert status.paused_reason and "looking at dashboards" in status.paused_reason
    await rollouts.resume(name)
    await rollouts.wait(name, lambda s: s.phase == RolloutPhase.PROGRESSING)

    status = await rollouts.promote(name, reason="metrics fine")
    status = await rollouts.wait(name, lambda s: s.step == 4)  # set 10, pause, set 25, its pause
    assert status.canary_weight == 25

    # scale during the rollout: stable grows, the canary keeps 25 % of the weight
    await cr.scale(name, 3, reason="more traffic")
    weights = await router_weights(sandbox_host, name)
    canary = sum(w for iid, w in weights.items() if f"-{'v2'}-" in iid)
    stable = sum(w for iid, w in weights.items() if "-v1-" in iid)
    assert len([i for i in weights if "-v1-" in i]) == 3
    assert canary / (canary + stable) == pytest.approx(0.25, abs=0.01)

    status = await rollouts.promote(name, full=True, reason="ship it")
    status = await rollouts.wait(name)
    assert status.phase == RolloutPhase.PROMOTED
    desc = await settled(cr, name)
    assert desc.spec.version == "v2" and len(desc.instances) == 3
    kinds = event_kinds(desc)
    for kind in ("rollout_paused", "rollout_resumed", "rollout_promote", "promoted", "rollout_promoted"):
        assert kind in kinds, kinds
    with pytest.raises(UserError, match="no rollout in progress"):
        await rollouts.promote(name)

    result = await rollouts.undo(name, reason="customers complain")
    assert "v2 to v1" in result.message
    desc = await cr.describe(name)
    assert desc.spec.version == "v1" and {i.version for i in desc.instances} == {"v1"}
    hosted = await host_instances(sandbox_host, name)
    assert len(hosted) == 3 and hosted == sorted(i.instance_id for i in desc.instances), hosted
    assert all(iid.startswith(f"{name}-v1-") for iid in hosted), hosted
    assert "undone" in event_kinds(desc)
    await cr.delete(name)


async def test_abort_with_reason_and_refusals(cr: CodeRunner, sandbox_host: HostProcess, name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    with pytest.raises(UserError, match="nothing to undo"):
        await cr.rollouts.undo(name)
    with pytest.raises(UserError, match="already runs v1"):
        await cr.rollouts.start(name, "v1")
    started = await cr.rollouts.start(name, "v3", env={"VERSION": "v3"}, strategy=MANUAL, abort_cleanup_s=0)
    with pytest.raises(UserError, match=f"already in progress: {started.workflow_id}"):
        await cr.rollouts.start(name, "v4")
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    with pytest.raises(UserError, match="needs a reason"):
        await cr.rollouts.abort(name, reason=" ")

    status = await cr.rollouts.abort(name, reason="wrong build")
    assert status.canary_weight == 0 and status.rolled_back_at is not None
    weights = await router_weights(sandbox_host, name)
    routed = {iid for iid, w in weights.items() if w > 0}
    assert routed == {f"{name}-v1-0"}, weights  # 100 % stable at once: only the v1 instance has weight
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.ABORTED and "wrong build" in (status.outcome or "")
    desc = await settled(cr, name)
    assert desc.spec.version == "v1" and desc.last_rollout and desc.last_rollout.phase == RolloutPhase.ABORTED
    assert any(e.kind == "rollout_aborted" and "wrong build" in e.message for e in desc.events)
    with pytest.raises(UserError, match="no rollout in progress"):
        await cr.rollouts.abort(name, reason="again")
    with pytest.raises(UserError, match="already finished"):  # straight at the finished workflow
        await cr.rollouts._update(cr.client.get_workflow_handle(started.workflow_id),
                                  "abort", {"reason": "late", "actor": "test"})
    await cr.delete(name)


async def test_invalid_strategies_refused_before_anything_changes(cr: CodeRunner, name: str) -> None:
    with pytest.raises(ValueError, match="weights must rise"):
        RolloutStrategy.from_shorthand("10,50,25,100")
    with pytest.raises(ValueError, match="not 100"):
        RolloutStrategy.from_shorthand("10,50")
    with pytest.raises(ValueError, match="out of range"):
        RolloutStrategy.from_shorthand("0,100")
    await deployed_v1(cr, name, replicas=1)
    # a client that skips validation (e.g. hand-written JSON): the worker refuses the update
    bad = RolloutRequest.model_construct(version="v2", env={}, actor="t", reason="",
                                         scale_down_delay_s=1.0, abort_cleanup_s=1.0,
                                         strategy=RolloutStrategy.model_construct(
                                             steps=[{"kind": "set_weight", "weight": 50},
                                                    {"kind": "set_weight", "weight": 20}]))
    with pytest.raises(WorkflowUpdateFailedError):
        await cr.handle(name).execute_update(DeploymentWorkflow.rollout, bad)
    with pytest.raises(UserError, match="PORT"):
        await cr.rollouts.start(name, "v2", env={"PORT": "1"})
    desc = await cr.describe(name)
    assert desc.rollout is None and desc.spec.version == "v1" and len(desc.instances) == 1
    await cr.delete(name)
