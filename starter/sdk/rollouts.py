"""Rollouts from Python: what `coderunner rollout/promote/abort/pause/resume/undo` do.

    async with CodeRunner.connect() as cr:
        await cr.rollouts.start("demo", "v2", env={"VERSION": "v2"})
        print((await cr.rollouts.status("demo")).phase)
        await cr.rollouts.abort("demo", reason="bad latency")

The rollout's workflow id comes from the deployment's `describe` (its running or last rollout), so
callers only ever name the deployment.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.models.deployment import OperationRequest, OperationResult
from coderunner.models.rollout import FINISHED_PHASES, RolloutLink, RolloutStrategy
from coderunner.models.rollout_api import (
    AbortRequest,
    ControlRequest,
    PromoteRequest,
    RolloutRequest,
    RolloutStarted,
    RolloutStatus,
)
from starter.sdk.deployments import Deployments
from starter.sdk.errors import OperationError, UserError, update_failure
from workflows.deployment import DeploymentWorkflow
from workflows.rollout import CanaryRolloutWorkflow


class Rollouts:
    def __init__(self, deployments: Deployments) -> None:
        self.cr = deployments

    async def start(
        self,
        name: str,
        version: str,
        env: dict[str, str] | None = None,
        strategy: RolloutStrategy | None = None,
        config_version: int | None = None,
        scale_down_delay_s: float = 30.0,
        abort_cleanup_s: float = 2.0,
        actor: str = "cli",
        reason: str = "",
    ) -> RolloutStarted:
        """Ask the deployment to start a canary rollout; refused (UserError) if one already runs."""
        try:
            req = RolloutRequest(
                version=version,
                env=env or {},
                config_version=config_version,
                strategy=strategy or RolloutStrategy.model_validate({}),
                scale_down_delay_s=scale_down_delay_s,
                abort_cleanup_s=abort_cleanup_s,
                actor=actor,
                reason=reason,
            )
        except ValueError as err:
            raise UserError(str(err)) from err
        result: RolloutStarted = await self.cr.update(name, DeploymentWorkflow.rollout, req)
        return result

    async def link(self, name: str) -> RolloutLink:
        """The running rollout, else the last one; UserError if the deployment never had one."""
        desc = await self.cr.describe(name)
        link = desc.rollout or desc.last_rollout
        if link is None:
            raise UserError(f"{name} has no rollout: start one with `coderunner rollout {name} --version V`")
        return link

    async def _active(self, name: str, what: str) -> WorkflowHandle[Any, Any]:
        desc = await self.cr.describe(name)
        if desc.rollout is None:
            last = desc.last_rollout
            tail = f" (last: {last.workflow_id}, {last.phase.value})" if last else ""
            raise UserError(f"cannot {what}: no rollout in progress for {name}{tail}")
        return self.cr.client.get_workflow_handle(desc.rollout.workflow_id)

    async def status(self, name: str) -> RolloutStatus:
        link = await self.link(name)
        handle = self.cr.client.get_workflow_handle(link.workflow_id)
        try:
            result: RolloutStatus = await handle.query(CanaryRolloutWorkflow.status)
        except RPCError as err:
            raise OperationError(f"cannot read {link.workflow_id}: {err.message}") from err
        return result

    async def promote(
        self, name: str, full: bool = False, actor: str = "cli", reason: str = ""
    ) -> RolloutStatus:
        handle = await self._active(name, "promote")
        return await self._update(
            handle, CanaryRolloutWorkflow.promote, PromoteRequest(full=full, actor=actor, reason=reason)
        )

    async def abort(self, name: str, reason: str, actor: str = "cli") -> RolloutStatus:
        try:
            req = AbortRequest(reason=reason, actor=actor)
        except ValueError as err:
            raise UserError("abort needs a reason (--reason '…'): it is kept in the audit log") from err
        handle = await self._active(name, "abort")
        return await self._update(handle, CanaryRolloutWorkflow.abort, req)

    async def pause(self, name: str, actor: str = "cli", reason: str = "") -> None:
        handle = await self._active(name, "pause")
        await handle.signal(CanaryRolloutWorkflow.pause, ControlRequest(actor=actor, reason=reason))

    async def resume(self, name: str, actor: str = "cli", reason: str = "") -> None:
        handle = await self._active(name, "resume")
        await handle.signal(CanaryRolloutWorkflow.resume, ControlRequest(actor=actor, reason=reason))

    async def undo(self, name: str, actor: str = "cli", reason: str = "") -> OperationResult:
        result: OperationResult = await self.cr.update(
            name, DeploymentWorkflow.undo, OperationRequest(actor=actor, reason=reason)
        )
        return result

    async def wait(self, name: str, done: Any = None, timeout_s: float = 120.0) -> RolloutStatus:
        """Poll `status` until `done(status)` (default: the rollout finished) or the timeout passes."""
        check = done or (lambda s: s.phase in FINISHED_PHASES)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            status = await self.status(name)
            if check(status):
                return status
            if loop.time() > deadline:
                raise OperationError(
                    f"rollout of {name} not done within {timeout_s:g}s: {status.phase.value}"
                )
            await asyncio.sleep(0.2)

    async def _update(self, handle: WorkflowHandle[Any, Any], update: Any, arg: Any) -> RolloutStatus:
        try:
            result: RolloutStatus = await handle.execute_update(update, arg)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise UserError(f"rollout {handle.id} has already finished") from err
            raise
        except WorkflowUpdateFailedError as err:
            raise update_failure(err) from err
        return result
