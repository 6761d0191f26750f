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

from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from coderunner.decisions.redeploy import plan_redeploy
from coderunner.models import search_attributes as sa
from coderunner.models.deployment import OperationRequest, OperationResult
from coderunner.models.rollout import FINISHED_PHASES, RolloutLink, RolloutPhase, RolloutStrategy, Step
from coderunner.models.rollout_api import (
    AbortRequest,
    ControlRequest,
    PromoteRequest,
    RolloutInput,
    RolloutRequest,
    RolloutResult,
    RolloutStarted,
    RolloutStatus,
)
from coderunner.models.rollout_history import RolloutRevision, UndoOutcome
from coderunner.models.rollout_view import RolloutView
from coderunner.models.sandbox import Resources
from starter.sdk.deployments import Deployments
from starter.sdk.errors import OperationError, UserError, update_failure
from starter.sdk.querying import ask
from workflows.deployment import DeploymentWorkflow
from workflows.rollout import CanaryRolloutWorkflow

LIVE = (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)


def rollout_chains(runs: list[WorkflowExecution]) -> list[list[WorkflowExecution]]:
    """Runs of one workflow id split into rollouts: a run continues the previous one only when that one
    continued as new; a rollout id used again (a version rolled out again) starts a new chain."""
    chains: list[list[WorkflowExecution]] = []
    for run in sorted(runs, key=lambda r: r.start_time):
        if chains and chains[-1][-1].status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
            chains[-1].append(run)
        else:
            chains.append([run])
    return chains


class Rollouts:
    def __init__(self, deployments: Deployments) -> None:
        self.cr = deployments
        self._plans: dict[str, list[Step]] = {}  # rollout id -> its steps

    async def start(
        self,
        name: str,
        version: str,
        env: dict[str, str] | None = None,
        strategy: RolloutStrategy | None = None,
        config_version: int | None = None,
        scale_down_delay_s: float = 30.0,
        command: list[str] | None = None,
        working_dir: str | None = None,
        health_path: str | None = None,
        resources: Resources | None = None,
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
                command=command,
                working_dir=working_dir,
                health_path=health_path,
                resources=resources,
                strategy=strategy or RolloutStrategy.model_validate({}),
                scale_down_delay_s=scale_down_delay_s,
                abort_cleanup_s=abort_cleanup_s,
                actor=actor,
                reason=reason,
            )
        except ValueError as err:
            raise UserError(str(err)) from err
        problem = req.strategy.dwell_problem()
        if problem:
            raise UserError(problem)
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
            result: RolloutStatus = await ask(lambda: handle.query(CanaryRolloutWorkflow.status),
                                              link.workflow_id, self.cr.settings.task_queue)
        except RPCError as err:
            raise OperationError(f"cannot read {link.workflow_id}: {err.message}") from err
        return result

    async def view(self, name: str) -> RolloutView:
        """The status with the planned steps and the deployment's recent events (for step clocks)."""
        desc = await self.cr.describe(name)
        link = desc.rollout or desc.last_rollout
        if link is None:
            raise UserError(f"{name} has no rollout: start one with `coderunner rollout {name} --version V`")
        handle = self.cr.client.get_workflow_handle(link.workflow_id)
        try:
            status: RolloutStatus = await handle.query(CanaryRolloutWorkflow.status)
        except RPCError as err:
            raise OperationError(f"cannot read {link.workflow_id}: {err.message}") from err
        return RolloutView(status=status, steps=await self._steps(handle), events=desc.events)

    async def _steps(self, handle: WorkflowHandle[Any, Any]) -> list[Step]:
        """The plan from the rollout's input (its first event), read once per rollout id: a watch
        polls every second and must not fetch a history each time."""
        if handle.id not in self._plans:
            try:
                async for event in handle.fetch_history_events(page_size=1):
                    started = event.workflow_execution_started_event_attributes
                    [inp] = await self.cr.client.data_converter.decode(started.input.payloads, [RolloutInput])
                    self._plans[handle.id] = list(inp.strategy.steps)
                    break
            except RPCError:
                return []
        return self._plans.get(handle.id, [])

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

    async def pause(self, name: str, actor: str = "cli", reason: str = "") -> RolloutStatus:
        """Refused (UserError, with the reason) when a pause no longer applies, e.g. while promoting."""
        handle = await self._active(name, "pause")
        return await self._update(handle, CanaryRolloutWorkflow.pause_rollout,
                                  ControlRequest(actor=actor, reason=reason))

    async def resume(self, name: str, actor: str = "cli", reason: str = "") -> RolloutStatus:
        handle = await self._active(name, "resume")
        return await self._update(handle, CanaryRolloutWorkflow.resume_rollout,
                                  ControlRequest(actor=actor, reason=reason))

    async def undo(self, name: str, actor: str = "cli", reason: str = "") -> OperationResult:
        result: OperationResult = await self.cr.update(
            name, DeploymentWorkflow.undo, OperationRequest(actor=actor, reason=reason)
        )
        return result

    async def history(self, name: str) -> list[RolloutRevision]:
        """Every rollout of the deployment, oldest first, from Temporal's visibility and histories:
        who started it and why come from the rollout's own input, the outcome from its result."""
        return [revision for revision, _ in await self._revisions(name)]

    async def _revisions(self, name: str) -> list[tuple[RolloutRevision, RolloutInput]]:
        await self.cr.describe(name)  # "no deployment named …" first
        query = f'WorkflowType = "CanaryRolloutWorkflow" AND {sa.DEPLOYMENT.name} = "{name}"'
        runs: dict[str, list[WorkflowExecution]] = {}
        async for wf in self.cr.client.list_workflows(query):
            runs.setdefault(wf.id, []).append(wf)
        chains = [chain for same_id in runs.values() for chain in rollout_chains(same_id)]
        chains.sort(key=lambda rs: rs[0].start_time)
        return [await self._revision(n, chain) for n, chain in enumerate(chains, start=1)]

    async def _revision(
        self, number: int, runs: list[WorkflowExecution]
    ) -> tuple[RolloutRevision, RolloutInput]:
        first, last = runs[0], runs[-1]
        history = await self.cr.client.get_workflow_handle(first.id, run_id=first.run_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [inp] = await self.cr.client.data_converter.decode(started.input.payloads, [RolloutInput])
        phase = last.typed_search_attributes.get(sa.ROLLOUT_PHASE) or "unknown"
        outcome = ""
        if last.status == WorkflowExecutionStatus.COMPLETED:
            handle = self.cr.client.get_workflow_handle(last.id, run_id=last.run_id)
            result = RolloutResult.model_validate(await handle.result())
            phase, outcome = result.phase.value, result.outcome
        elif last.status not in (None, *LIVE):
            phase, outcome = RolloutPhase.FAILED.value, f"workflow {last.status.name.lower()}"
        revision = RolloutRevision(
            revision=number,
            workflow_id=first.id,
            version=inp.spec.version,
            from_version=inp.from_version,
            started=first.start_time,
            ended=last.close_time,
            actor=inp.actor,
            reason=inp.reason,
            phase=phase,
            outcome=outcome,
        )
        return revision, inp

    async def undo_to(self, name: str, revision: int, actor: str = "cli", reason: str = "") -> UndoOutcome:
        """Back to the spec a revision rolled out: at once (the deployment's `undo`) when it is the
        previous version, else as a canary rollout of that version with its env (what a rollout
        carries; anything else that differs is refused, naming it)."""
        revisions = await self._revisions(name)
        if not 1 <= revision <= len(revisions):
            have = f"revisions 1..{len(revisions)}" if revisions else "no revisions yet"
            raise UserError(
                f"--to-revision {revision}: {name} has {have} (`coderunner rollout history {name}`)")
        target = revisions[revision - 1][1].spec
        desc = await self.cr.describe(name)
        if desc.spec.version == target.version:
            raise UserError(f"--to-revision {revision}: {name} already runs {target.version}")
        if desc.rollout is None and desc.previous_version == target.version:
            result = await self.undo(name, actor=actor, reason=reason)
            return UndoOutcome(revision=revision, version=target.version, immediate=True,
                               message=result.message)
        plan = plan_redeploy(desc.spec, target.model_copy(update={"replicas": desc.spec.replicas}))
        if plan.refused:
            raise UserError(f"--to-revision {revision} ({target.version}): " + "; ".join(plan.refused))
        started = await self.start(name, target.version, env=target.env, config_version=plan.config_version,
                                   actor=actor, reason=reason or f"undo to revision {revision}")
        return UndoOutcome(revision=revision, version=target.version, immediate=False,
                           message=f"rolling out {started.from_version} → {started.version} as a canary "
                           f"({started.workflow_id})", workflow_id=started.workflow_id)

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
                    + (f" ({status.paused_reason})" if status.paused_reason else "")
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
