"""Workflow-side operations on a deployment's instance set (runs inside the DeploymentWorkflow).

Kept apart from the workflow class so the handlers read as a list of intents; every side effect is
an activity, every choice comes from `decisions.instances`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.sandbox import SandboxActivities
    from coderunner.models.activity_io import (
        CheckReport,
        CheckRequest,
        DeploymentRef,
        HealthWaitRequest,
        InstanceRef,
    )
    from coderunner.models.deployment import (
        DeploymentSpec,
        DeploymentState,
        DeploymentStatus,
        DeploymentTimings,
        InstanceRecord,
    )
    from coderunner.models.sandbox import InstanceGroup, InstanceSpec, RouterBackend, RouterConfig

# decisions and workflow helpers are imported inside the sandbox: its determinism checks apply to them
from coderunner.decisions.instances import instance_id, plan_scale, split_weights, status_for
from workflows.options import SANDBOX_CALL, health_wait, stop_call


def failure_message(err: BaseException) -> str:
    """The innermost message of an activity failure: what the user needs, not the wrapper chain."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return str(err)


# a canary whose spec has another health path is probed at its own path in the sweep
CANARY_HEALTH_PATH = "sweep-probes-canary-health-path"


def never() -> bool:
    return False


class InstanceOps:
    def __init__(
        self, state: DeploymentState, timings: DeploymentTimings, interrupted: Callable[[], bool] = never
    ) -> None:
        """`interrupted`: true once waiting for new instances is pointless (a delete was accepted):
        a health wait in progress is cancelled and the instance counts as failed."""
        self.state = state
        self.timings = timings
        self.interrupted = interrupted

    @property
    def name(self) -> str:
        return self.state.spec.name

    def stable(self) -> list[InstanceRecord]:
        return [r for r in self.state.instances if r.group == InstanceGroup.STABLE]

    def canary(self) -> list[InstanceRecord]:
        return [r for r in self.state.instances if r.group == InstanceGroup.CANARY]

    async def add(
        self, count: int, spec: DeploymentSpec | None = None, group: InstanceGroup = InstanceGroup.STABLE
    ) -> list[str]:
        """Create `count` instances in parallel and wait until healthy; return the failures' reasons.

        `spec` is the deployment's own unless a rollout brings up canaries of another version.
        """
        spec = spec or self.state.spec
        version = spec.version
        records = []
        for _ in range(count):
            ordinal = self.state.next_ordinal
            self.state.next_ordinal += 1
            iid = instance_id(self.name, version, ordinal)
            records.append(InstanceRecord(instance_id=iid, ordinal=ordinal, version=version, group=group))
        self.state.instances.extend(records)
        outcomes = await asyncio.gather(*(self._bring_up(r, spec) for r in records))
        failures = [why for why in outcomes if why]
        failed_ids = [r.instance_id for r, why in zip(records, outcomes, strict=True) if why]
        if failed_ids:
            await self.remove(failed_ids, drain=False)
        return failures

    async def _bring_up(self, record: InstanceRecord, spec: DeploymentSpec) -> str | None:
        try:
            info = await workflow.execute_activity_method(
                SandboxActivities.create_instance,
                InstanceSpec(
                    instance_id=record.instance_id,
                    deployment=spec.name,
                    version=record.version,
                    command=spec.command,
                    working_dir=spec.working_dir,
                    env={**spec.env, "INSTANCE_ID": record.instance_id},
                    group=record.group,
                    config=spec.config,
                    resources=spec.resources,
                    isolation=spec.isolation,
                ),
                summary=f"create {record.instance_id}",
                **SANDBOX_CALL,
            )
            record.port, record.pid, record.state = info.port, info.pid, info.state.value
            wait = workflow.start_activity_method(
                SandboxActivities.wait_instance_healthy,
                HealthWaitRequest(instance_id=record.instance_id, path=spec.health_path),
                summary=f"wait until {record.instance_id} is healthy",
                **health_wait(self.timings.health_deadline_s),
            )
            await workflow.wait_condition(lambda: wait.done() or self.interrupted())
            if not wait.done():
                wait.cancel()
            await wait
        except ActivityError as err:
            record.last_error = failure_message(err)
            if self.interrupted():
                record.last_error = "deleted while it started"
            if isinstance(err.cause, TimeoutError):
                last = f" (last: {err.cause.cause})" if err.cause.cause else ""
                record.last_error = f"not healthy within {self.timings.health_deadline_s:g}s{last}"
            return f"{record.instance_id}: {record.last_error}"
        record.healthy, record.state = True, "running"
        return None

    async def remove(self, ids: list[str], drain: bool = True) -> None:
        """Leave the router first, let in-flight requests finish, then destroy."""
        doomed = set(ids)
        self.state.instances = [r for r in self.state.instances if r.instance_id not in doomed]
        if self.state.router_port is not None:
            await self.wire_router()
        if drain and self.timings.drain_s > 0:
            await workflow.sleep(timedelta(seconds=self.timings.drain_s), summary="drain before stop")
        await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    SandboxActivities.destroy_instance,
                    InstanceRef(instance_id=iid, grace_s=self.timings.stop_grace_s),
                    summary=f"destroy {iid}",
                    **stop_call(self.timings.stop_grace_s),
                )
                for iid in sorted(doomed)
            )
        )

    async def wire_router(self) -> None:
        """Route to healthy instances by the current traffic split (even weights without a canary).

        Every writer (scale, sweep, restart, rollout steps) goes through here, so a scale or a
        health sweep during a rollout keeps the canary weight instead of clobbering it.
        """
        healthy = [r for r in self.state.instances if r.healthy]
        percent = self.state.rollout.canary_weight if self.state.rollout else 0
        weights = split_weights(
            [r.instance_id for r in healthy if r.group == InstanceGroup.STABLE],
            [r.instance_id for r in healthy if r.group == InstanceGroup.CANARY],
            percent,
        )
        backends = [RouterBackend(instance_id=r.instance_id, weight=weights[r.instance_id]) for r in healthy]
        info = await workflow.execute_activity_method(
            SandboxActivities.set_router,
            RouterConfig(deployment=self.name, backends=backends),
            summary=f"route {self.name} to {len(backends)} instances",
            **SANDBOX_CALL,
        )
        self.state.router_port = info.port

    async def delete_router(self) -> None:
        await workflow.execute_activity_method(
            SandboxActivities.delete_router,
            DeploymentRef(deployment=self.name),
            summary="delete router",
            **SANDBOX_CALL,
        )
        self.state.router_port = None

    async def converge(self) -> None:
        """Bring the stable group to spec.replicas, then route and set the status."""
        plan = plan_scale(self.state.instances, self.state.spec.replicas)
        failures: list[str] = []
        if plan.add:
            failures = await self.add(plan.add)
            await self.wire_router()
        if plan.remove:
            await self.remove(plan.remove)
        if self.state.router_port is None:
            await self.wire_router()
        self.settle("; ".join(failures) or None)

    def settle(self, failure: str | None) -> None:
        healthy = sum(1 for r in self.stable() if r.healthy)
        status, reason = status_for(healthy, self.state.spec.replicas, failure)
        self.state.status, self.state.status_reason = DeploymentStatus(status), reason

    async def check(self) -> CheckReport:
        """One sweep's observations. A canary built with another health path is probed at its own
        (patched: before, every instance was probed at the live spec's path and such a canary was
        replaced as unhealthy)."""
        live_path = self.state.spec.health_path
        spec = self.state.rollout_spec
        if spec is None or spec.health_path == live_path or not workflow.patched(CANARY_HEALTH_PATH):
            return await self._check([r.instance_id for r in self.state.instances], live_path)
        canaries = {r.instance_id for r in self.canary()}
        stable = [r.instance_id for r in self.state.instances if r.instance_id not in canaries]
        found = await self._check(stable, live_path, f" at {live_path}")
        canary = await self._check(sorted(canaries), spec.health_path, f" at {spec.health_path}")
        return CheckReport(observations=[*found.observations, *canary.observations])

    async def _check(self, ids: list[str], path: str, where: str = "") -> CheckReport:
        return await workflow.execute_activity_method(
            SandboxActivities.check_instances,
            CheckRequest(deployment=self.name, instance_ids=ids, health_path=path),
            summary=f"health sweep of {len(ids)} instances{where}",
            **SANDBOX_CALL,
        )
