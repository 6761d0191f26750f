"""DeploymentWorkflow: the one writer of a deployment's instance set (id `deployment/<name>`).

It provisions, serves scale/restart/delete updates and stop/start signals, and sweeps health on a
durable timer, replacing dead instances. All of it survives worker and server restarts.

No accepted request is lost or resurrected (issue 8), each change guarded by `workflow.patched` so
running deployments replay (tests/histories/deployment_*.json):
- DELETE_WINS: once `delete` is accepted, everything else refuses: requests queued behind the lock
  get a clear "was deleted" answer, so nothing re-creates instances or the router after it;
- KEEPS_WORK: continue-as-new only with nothing queued, re-checked after the handlers finished (a
  stop/start or a rollout command that arrived meanwhile is applied first); `rollout` takes the lock;
  the rollout outlives the run (ABANDON) and the next run re-links it (workflows/rollout_host.py);
- CAN_DURING_ROLLOUT: the run continues-as-new while a rollout runs, so history stays bounded;
- SWEEP_ROUTES_HEALTHY: a sweep that changes which instances are healthy rewires the router at once,
  so an instance failing its probes stops getting traffic before it is replaced (and gets it back
  if it recovers);
- DELETE_INTERRUPTS: an accepted delete cancels the health wait of instances still starting (the
  first provisioning, a scale, a restart's surge, a canary), instead of waiting up to the health
  deadline for them before it may take the lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.activity_io import AuditEventInput, DeploymentSnapshot
    from coderunner.models.deployment import (
        DeploymentDescription,
        DeploymentEvent,
        DeploymentInput,
        DeploymentResult,
        DeploymentState,
        DeploymentStatus,
        OperationRequest,
        OperationResult,
        ScaleRequest,
    )
    from coderunner.models.rollout_api import RolloutCommand, RolloutRequest, RolloutStarted

# decisions and workflow helpers are imported inside the sandbox: its determinism checks apply to them
from coderunner.decisions.instances import judge_sweep
from coderunner.words import plural
from workflows.instance_ops import InstanceOps
from workflows.options import STORE_CALL
from workflows.rollout_host import RolloutHost

_ENDED = (DeploymentStatus.DELETING, DeploymentStatus.DELETED)
DELETE_WINS = "deployment-delete-wins"
KEEPS_WORK = "deployment-can-keeps-accepted-work"
CAN_DURING_ROLLOUT = "deployment-can-during-rollout"
SWEEP_ROUTES_HEALTHY = "deployment-sweep-routes-healthy"
DELETE_INTERRUPTS = "deployment-delete-interrupts"


@workflow.defn
class DeploymentWorkflow:
    @workflow.init
    def __init__(self, inp: DeploymentInput) -> None:
        self._timings = inp.timings
        self._state: DeploymentState = inp.state or DeploymentState(spec=inp.spec)
        self._fresh = inp.state is None
        # decided once per run, at its start: a run recorded before a change keeps the old behaviour
        self._delete_wins = workflow.patched(DELETE_WINS)
        self._keeps_work = workflow.patched(KEEPS_WORK)
        self._can_during_rollout = workflow.patched(CAN_DURING_ROLLOUT)
        self._sweep_routes_healthy = workflow.patched(SWEEP_ROUTES_HEALTHY)
        self._delete_interrupts = workflow.patched(DELETE_INTERRUPTS)
        self._ops = InstanceOps(self._state, self._timings, interrupted=self._cut_short_by_delete)
        self._rollouts = RolloutHost(
            self._state, self._ops, self._event, self._publish, outlives_run=self._keeps_work
        )
        self._lock = asyncio.Lock()
        self._controls: list[tuple[str, OperationRequest]] = []
        self._deleted = False
        self._deleting = False  # a delete was accepted (DELETE_WINS): nothing else runs any more
        self._saved: tuple | None = None

    @workflow.run
    async def run(self, inp: DeploymentInput) -> DeploymentResult:
        if self._fresh:
            async with self._lock:
                spec = self._state.spec
                await self._event(
                    "deploy", f"deploy {spec.version} with {plural(spec.replicas, 'instance')}", inp.actor
                )
                await self._publish()
                await self._ops.converge()
                if not self._cut_short_by_delete():
                    await self._event("deployed", self._summary_line())
                await self._publish()
        elif self._keeps_work:
            self._rollouts.relink()
        interval = self._timings.sweep_interval_s
        next_sweep = workflow.time() + interval
        while not self._deleted:
            try:
                await workflow.wait_condition(
                    lambda: bool(self._controls) or bool(self._rollouts.pending) or self._deleted,
                    timeout=timedelta(seconds=max(0.0, next_sweep - workflow.time())),
                    timeout_summary="next health sweep",
                )
            except TimeoutError:
                pass
            if self._deleted:
                break
            if self._controls:
                await self._apply_control(*self._controls.pop(0))
                continue
            if self._rollouts.pending:
                async with self._lock:
                    item = self._rollouts.pending.pop(0)
                    if not self._deleting:  # the rollout is being cancelled with the deployment
                        await self._rollouts.process(item)
                continue
            async with self._lock:
                await self._sweep()
            next_sweep = workflow.time() + interval
            if workflow.info().is_continue_as_new_suggested() and self._may_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._keeps_work or self._may_continue():  # again: handlers ran meanwhile
                    workflow.continue_as_new(
                        DeploymentInput(spec=self._state.spec, timings=self._timings, state=self._state)
                    )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return DeploymentResult(name=self._state.spec.name, status=self._state.status)

    # ---- updates -------------------------------------------------------------------------------

    @workflow.update
    async def scale(self, req: ScaleRequest) -> OperationResult:
        async with self._lock:
            self._refuse_if_deleted("scale")
            previous = self._state.spec.replicas
            self._state.spec = self._state.spec.model_copy(update={"replicas": req.replicas})
            await self._event("scaled", f"scale {previous} → {req.replicas}", req.actor, req.reason)
            if self._state.status != DeploymentStatus.STOPPED:
                await self._ops.converge()
            await self._publish()
            return self._result(f"scaled from {previous} to {req.replicas}")

    @scale.validator
    def _check_scale(self, req: ScaleRequest) -> None:
        self._refuse_if_ended("scale")

    @workflow.update
    async def restart(self, req: OperationRequest) -> OperationResult:
        """Rolling: one surge instance up and healthy before each old one leaves, so never below capacity."""
        async with self._lock:
            self._refuse_if_deleted("restart")
            await self._event("restart", "rolling restart started", req.actor, req.reason)
            for old in [r.instance_id for r in self._ops.stable()]:
                failures = await self._ops.add(1)
                if failures:
                    self._ops.settle(failures[0])
                    await self._publish()
                    if self._cut_short_by_delete():
                        raise ApplicationError(
                            f"restart stopped: deployment {self._state.spec.name} is being deleted",
                            type="DeploymentDeleted", non_retryable=True)
                    raise ApplicationError(f"restart stopped, old instances kept: {failures[0]}")
                await self._ops.wire_router()
                await self._ops.remove([old])
            self._ops.settle(None)
            await self._event("restarted", self._summary_line(), req.actor)
            await self._publish()
            return self._result("restarted")

    @restart.validator
    def _check_restart(self, req: OperationRequest) -> None:
        self._refuse_if_ended("restart")
        if self._state.status == DeploymentStatus.STOPPED:
            raise ValueError("deployment is stopped: `coderunner start` it first")

    @workflow.update
    async def delete(self, req: OperationRequest) -> OperationResult:
        """Everything goes: instances (canary and retiring ones too), the router, a running rollout.

        Accepted, it wins over whatever waits for the lock: those requests are refused when their
        turn comes, so after `delete` returns nothing re-creates an instance or re-opens the router."""
        if self._delete_wins:
            self._deleting = True
        async with self._lock:
            if self._delete_wins and self._state.status == DeploymentStatus.DELETED:
                return self._result("already deleted")  # two deletes passed their validators at once
            self._state.status = DeploymentStatus.DELETING
            await self._event("deleting", "tearing down", req.actor, req.reason)
            await self._publish()
            extra = await self._rollouts.end_for_delete() if self._delete_wins else []
            await self._ops.remove([r.instance_id for r in self._state.instances] + extra, drain=False)
            await self._ops.delete_router()
            self._state.status = DeploymentStatus.DELETED
            await self._event("deleted", "all instances and the router removed", req.actor, req.reason)
            await self._publish()
            self._deleted = True
            return self._result("deleted")

    @delete.validator
    def _check_delete(self, req: OperationRequest) -> None:
        self._refuse_if_ended("delete")

    @workflow.update
    async def rollout(self, req: RolloutRequest) -> RolloutStarted:
        """Start a CanaryRolloutWorkflow child (`rollout/<name>/<version>`); see workflows/rollout.py.

        Under the lock (KEEPS_WORK): never interleaved with a scale, a sweep or a continue-as-new."""
        if not self._keeps_work:
            return await self._rollouts.start(req)
        async with self._lock:
            self._refuse_if_deleted("roll out")
            self._check_again(lambda: self._rollouts.validate(req))
            return await self._rollouts.start(req)

    @rollout.validator
    def _check_rollout(self, req: RolloutRequest) -> None:
        self._refuse_if_ended("roll out")
        self._rollouts.validate(req)

    @workflow.update
    async def undo(self, req: OperationRequest) -> OperationResult:
        """Back to the version before the last promotion, all at once (no canary steps)."""
        async with self._lock:
            self._refuse_if_deleted("undo")
            if self._keeps_work:
                self._check_again(self._rollouts.validate_undo)
            return self._result(await self._rollouts.undo(req))

    @undo.validator
    def _check_undo(self, req: OperationRequest) -> None:
        self._refuse_if_ended("undo")
        self._rollouts.validate_undo()

    @workflow.signal
    def rollout_command(self, command: RolloutCommand) -> None:
        """From the rollout child: applied in order by the main loop (the one writer)."""
        self._rollouts.pending.append(command)

    # ---- signals and queries -------------------------------------------------------------------

    @workflow.signal
    def stop(self, req: OperationRequest) -> None:
        self._controls.append(("stop", req))

    @workflow.signal
    def start(self, req: OperationRequest) -> None:
        self._controls.append(("start", req))

    @workflow.query
    def describe(self) -> DeploymentDescription:
        port = self._state.router_port
        return DeploymentDescription(
            workflow_id=workflow.info().workflow_id,
            spec=self._state.spec.redacted(),
            status=self._state.status,
            status_reason=self._state.status_reason,
            router_url=f"http://127.0.0.1:{port}" if port else None,
            instances=self._state.instances,
            events=self._state.events,
            replacements=self._state.replacements,
            rollout=self._state.rollout,
            last_rollout=self._state.last_rollout,
            previous_version=self._state.previous_spec.version if self._state.previous_spec else None,
        )

    # ---- internals -----------------------------------------------------------------------------

    async def _apply_control(self, kind: str, req: OperationRequest) -> None:
        async with self._lock:
            if self._state.status in _ENDED or self._deleting:
                return
            if kind == "stop" and self._state.status != DeploymentStatus.STOPPED:
                await self._ops.remove([r.instance_id for r in self._state.instances])
                self._state.status, self._state.status_reason = DeploymentStatus.STOPPED, req.reason or None
                await self._event("stopped", "all instances stopped", req.actor, req.reason)
            elif kind == "start" and self._state.status == DeploymentStatus.STOPPED:
                self._state.status = DeploymentStatus.PROVISIONING
                await self._event(
                    "start", f"starting {plural(self._state.spec.replicas, 'instance')}", req.actor,
                    req.reason,
                )
                await self._ops.converge()
            await self._publish()

    async def _sweep(self) -> None:
        """Replace dead or persistently unhealthy instances, then top up to the desired count."""
        idle = (*_ENDED, DeploymentStatus.STOPPED, DeploymentStatus.FAILED)
        if self._deleting or self._state.status in idle:
            return
        if self._state.instances:
            report = await self._ops.check()
            routed = {r.instance_id for r in self._state.instances if r.healthy}
            verdict = judge_sweep(
                self._state.instances, report.observations, self._timings.unhealthy_threshold
            )
            self._state.instances = verdict.records
            healthy_now = {r.instance_id for r in verdict.records if r.healthy}
            if self._sweep_routes_healthy and healthy_now != routed and not verdict.replace:
                await self._ops.wire_router()  # a replacement rewires anyway
            if verdict.replace:
                await self._ops.remove(list(verdict.replace), drain=False)
                for iid, why in verdict.replace.items():
                    self._state.replacements += 1
                    await self._event("instance_replaced", f"{iid} replaced: {why}")
        await self._ops.converge()
        await self._publish()

    def _cut_short_by_delete(self) -> bool:
        """(DELETE_INTERRUPTS) A delete was accepted: instances still starting are not waited for, and
        the work that was starting them ends saying so (runs recorded before the patch: never)."""
        return self._delete_interrupts and self._deleting

    def _refuse_if_ended(self, what: str) -> None:
        if self._deleting and self._state.status not in _ENDED:
            raise ValueError(f"cannot {what}: deployment {self._state.spec.name} is being deleted")
        if self._state.status in _ENDED or self._deleted:
            raise ValueError(
                f"cannot {what}: deployment {self._state.spec.name} is {self._state.status.value}"
            )

    def _refuse_if_deleted(self, what: str) -> None:
        """For a request that waited for the lock while a delete was accepted (DELETE_WINS)."""
        if self._deleting or (self._delete_wins and self._state.status in _ENDED):
            raise ApplicationError(
                f"{what} refused: deployment {self._state.spec.name} was deleted while this request "
                "waited for its turn; nothing was changed",
                type="DeploymentDeleted",
                non_retryable=True,
            )

    @staticmethod
    def _check_again(check: Callable[[], None]) -> None:
        """A validator's check, repeated once the lock is held (the state may have moved on): its
        refusal fails this update only, as bad input, instead of failing the workflow task."""
        try:
            check()
        except ValueError as err:
            raise ApplicationError(str(err), type="ValueError", non_retryable=True) from None

    def _may_continue(self) -> bool:
        """Continue-as-new only when the new run loses nothing: no queued signal or rollout command,
        no delete under way (KEEPS_WORK); a running rollout no longer holds it (CAN_DURING_ROLLOUT)."""
        if not self._keeps_work:
            return not self._controls and self._state.rollout is None
        queued = bool(self._controls or self._rollouts.pending) or self._deleting or self._deleted
        return not queued and (self._state.rollout is None or self._can_during_rollout)

    def _result(self, message: str) -> OperationResult:
        return OperationResult(
            name=self._state.spec.name,
            status=self._state.status,
            message=message,
            replicas=self._state.spec.replicas,
            instances=[r.instance_id for r in self._state.instances],
        )

    def _summary_line(self) -> str:
        healthy = sum(1 for r in self._state.instances if r.healthy)
        line = f"{self._state.status.value}: {healthy}/{self._state.spec.replicas} healthy"
        return line + (f" — {self._state.status_reason}" if self._state.status_reason else "")

    async def _event(self, kind: str, message: str, actor: str = "workflow", reason: str = "") -> None:
        """Keep the event in state (for describe) and in the audit log (idempotent by its key)."""
        self._state.event_seq += 1
        text = message + (f" (reason: {reason})" if reason else "")
        self._state.events.append(DeploymentEvent(at=workflow.now(), kind=kind, message=text, actor=actor))
        del self._state.events[: -self._timings.max_events]
        await workflow.execute_activity_method(
            StoreActivities.record_event,
            AuditEventInput(
                deployment=self._state.spec.name,
                kind=kind,
                actor=actor,
                reason=reason,
                details={"message": message, "status": self._state.status.value},
                event_key=f"{workflow.info().workflow_id}/{workflow.info().first_execution_run_id}/"
                f"{self._state.event_seq}",
            ),
            summary=f"audit: {kind}",
            **STORE_CALL,
        )

    async def _publish(self) -> None:
        """Search attributes, current details and the store row follow the state, when it changed."""
        spec, state = self._state.spec, self._state
        snapshot = (state.status, spec.version, spec.replicas, state.router_port)
        healthy = sum(1 for r in state.instances if r.healthy)
        workflow.set_current_details(
            f"**{spec.name}** ({spec.environment}) {spec.version} — **{state.status.value}**, "
            f"{healthy}/{spec.replicas} healthy"
            + (f", router http://127.0.0.1:{state.router_port}" if state.router_port else "")
            + (f"\n\n{state.status_reason}" if state.status_reason else "")
            + (f"\n\nlast event: {state.events[-1].message}" if state.events else "")
        )
        if snapshot == self._saved:
            return
        self._saved = snapshot
        workflow.upsert_search_attributes(
            [
                sa.DEPLOYMENT.value_set(spec.name),
                sa.ENVIRONMENT.value_set(spec.environment),
                sa.VERSION.value_set(spec.version),
                sa.STATUS.value_set(state.status.value),
            ]
        )
        await workflow.execute_activity_method(
            StoreActivities.record_deployment,
            DeploymentSnapshot(
                name=spec.name,
                environment=spec.environment,
                version=spec.version,
                status=state.status.value,
                replicas=spec.replicas,
                workflow_id=workflow.info().workflow_id,
                spec=spec.redacted().model_dump(mode="json"),
            ),
            summary=f"store: {spec.name} is {state.status.value}",
            **STORE_CALL,
        )
