"""SDK for autoscaling: enable/disable, pause/resume, overrides, policy changes, status and cost.

async with CodeRunner.connect() as cr:
    auto = Autoscaling(cr)
    await auto.enable("demo", get_template("web-app"))
    await auto.override("demo", 8, reason="launch", ttl_s=1800)
"""

from __future__ import annotations

from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.models import search_attributes as sa
from coderunner.models.autoscale import AutoscalePolicy
from coderunner.models.autoscaler import (
    AutoscalerInput,
    AutoscalerStatus,
    BudgetSettings,
    ControlRequest,
    OverrideRequest,
    OverrideResult,
    autoscaler_id,
)
from coderunner.models.deployment import OperationResult
from starter.sdk.deployments import Deployments
from starter.sdk.errors import UserError, update_failure
from starter.sdk.querying import ask
from workflows.autoscaler import AutoscalerWorkflow
from workflows.options import WORKFLOW_TASK_TIMEOUT


def human_s(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


class Autoscaling:
    def __init__(self, deployments: Deployments) -> None:
        self.cr = deployments

    def handle(self, name: str) -> WorkflowHandle[Any, Any]:
        return self.cr.client.get_workflow_handle(autoscaler_id(name))

    async def enable(
        self,
        name: str,
        policy: AutoscalePolicy,
        budget: BudgetSettings | None = None,
        window_s: float | None = None,
        actor: str = "cli",
    ) -> str:
        await self.cr.describe(name)  # "no deployment named …" before starting anything
        inp = AutoscalerInput(
            deployment=name, policy=policy, budget=budget or BudgetSettings(), window_s=window_s, actor=actor
        )
        try:
            handle = await self.cr.client.start_workflow(
                AutoscalerWorkflow.run,
                inp,
                id=autoscaler_id(name),
                task_timeout=WORKFLOW_TASK_TIMEOUT,  # a task lost with its worker is retried soon
                task_queue=self.cr.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.DEPLOYMENT, name), SearchAttributePair(sa.BUDGET_LEVEL, 0)]
                ),
                static_summary=f"Autoscaler of **{name}** (policy {policy.name})",
                static_details=f"HPA-style decisions every {policy.sync_interval_s}s on "
                f"{', '.join(m.metric.value for m in policy.metrics)}; asks deployment/{name} to scale. "
                "Query `status` for the last decisions and their ratios.",
            )
        except WorkflowAlreadyStartedError as err:
            raise UserError(
                f"autoscaling is already on for {name!r}: `coderunner autoscale status {name}`, "
                f"or `autoscale disable {name}` first"
            ) from err
        return handle.id

    async def is_on(self, name: str) -> bool:
        try:
            desc = await self.handle(name).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return desc.status == WorkflowExecutionStatus.RUNNING

    async def _require(self, name: str) -> WorkflowHandle[Any, Any]:
        if not await self.is_on(name):
            raise UserError(
                f"autoscaling is not on for {name!r}: `coderunner autoscale enable {name} --policy web-app`"
            )
        return self.handle(name)

    async def status(self, name: str) -> AutoscalerStatus:
        handle = await self._require(name)
        result: AutoscalerStatus = await ask(lambda: handle.query(AutoscalerWorkflow.status),
                                             f"autoscaler of {name}", self.cr.settings.task_queue)
        return result

    async def pause(self, name: str, reason: str = "", actor: str = "cli") -> None:
        handle = await self._require(name)
        await handle.signal(AutoscalerWorkflow.pause, ControlRequest(reason=reason, actor=actor))

    async def resume(self, name: str, reason: str = "", actor: str = "cli") -> None:
        handle = await self._require(name)
        await handle.signal(AutoscalerWorkflow.resume, ControlRequest(reason=reason, actor=actor))

    async def disable(self, name: str, reason: str = "", actor: str = "cli") -> None:
        handle = await self._require(name)
        await handle.signal(AutoscalerWorkflow.disable, ControlRequest(reason=reason, actor=actor))

    async def override(
        self,
        name: str,
        replicas: int | None,
        reason: str = "",
        ttl_s: float | None = None,
        actor: str = "cli",
    ) -> OverrideResult:
        req = OverrideRequest(replicas=replicas, reason=reason, ttl_s=ttl_s, actor=actor)
        return await self._update(name, AutoscalerWorkflow.override, req)

    async def set_policy(self, name: str, policy: AutoscalePolicy) -> None:
        await self._update(name, AutoscalerWorkflow.set_policy, policy)

    async def _update(self, name: str, update: Any, arg: Any) -> Any:
        handle = await self._require(name)
        try:
            return await handle.execute_update(update, arg)
        except WorkflowUpdateFailedError as err:
            raise update_failure(err) from err

    async def pin(
        self, name: str, replicas: int, reason: str, ttl_s: float | None, actor: str
    ) -> OperationResult:
        """`coderunner scale` while autoscaling is on: an override, and the result says so."""
        result = await self.override(name, replicas, reason, ttl_s, actor)
        desc = await self.cr.describe(name)
        until = f"for {human_s(ttl_s)}" if ttl_s else "until `coderunner autoscale clear-override`"
        return OperationResult(
            name=name,
            status=desc.status,
            replicas=desc.spec.replicas,
            instances=[i.instance_id for i in desc.instances],
            message=f"autoscaling is on, so this is an override: {replicas} replicas pinned {until}, "
            f"then the autoscaler takes over again ({result.message})",
        )
