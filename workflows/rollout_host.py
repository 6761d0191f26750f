"""The deployment's side of canary rollouts (runs inside DeploymentWorkflow, the one writer).

The CanaryRolloutWorkflow child decides *when* (steps, timers, analysis, human gates); this class
does *what* on the deployment's behalf: grow the canary group, apply a traffic split, promote,
retire old instances, remove the canary, record events. The child asks with a `rollout_command`
signal; commands are queued and applied one at a time by the deployment's main loop under its lock
(never interleaved with a scale, a sweep or a restart), then acknowledged with a `command_done`
signal to the child. `undo` (back to the previous version, no steps) lives here too.

The rollout outlives its deployment's run (parent-close ABANDON): the deployment continues-as-new
when its history asks for it even while a rollout runs, and the next run re-links (`relink`): the
rollout signals the deployment by workflow id, so its commands reach whichever run is current, and
an activity waits for its end in place of the lost child handle. Deleting the deployment cancels it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.rollout_watch import RolloutWatchActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.deployment import (
        DeploymentSpec,
        DeploymentState,
        DeploymentStatus,
        OperationRequest,
    )
    from coderunner.models.rollout import FINISHED_PHASES, RolloutLink, RolloutPhase
    from coderunner.models.rollout_api import (
        CommandAck,
        CommandKind,
        RolloutCommand,
        RolloutInput,
        RolloutRequest,
        RolloutResult,
        RolloutStarted,
    )
    from coderunner.models.sandbox import InstanceGroup

# decisions and workflow helpers are imported inside the sandbox: its determinism checks apply to them
from coderunner.decisions.canary import plan_weights
from workflows.instance_ops import InstanceOps, failure_message
from workflows.options import ROLLOUT_WATCH, WORKFLOW_TASK_TIMEOUT
from workflows.rollout import CanaryRolloutWorkflow

EventFn = Callable[..., Awaitable[None]]
PublishFn = Callable[[], Awaitable[None]]
_NOT_ROLLABLE = (DeploymentStatus.STOPPED, DeploymentStatus.DELETING, DeploymentStatus.DELETED,
                 DeploymentStatus.PROVISIONING)


def rollout_id(name: str, version: str, config_version: int | None = None) -> str:
    """`rollout/<name>/<version>`; a config release of the same app version adds `+config-<N>`."""
    return f"rollout/{name}/{version}" + (f"+config-{config_version}" if config_version else "")

# A rollout command whose activity fails (a refused router weight) is answered "not done" instead of
# failing the whole deployment workflow; the rollout then rolls itself back.
COMMAND_FAILURE_ACKED = "rollout-command-failure-acked"
# The rollout child's workflow task timeout is 3 s, as its deployment's (it had the server's 10 s): a
# workflow task lost with a killed worker held the rollout 10 s before another worker retried it.
ROLLOUT_TASK_TIMEOUT = "rollout-child-task-timeout"


class RolloutHost:
    def __init__(self, state: DeploymentState, ops: InstanceOps, event: EventFn, publish: PublishFn,
                 outlives_run: bool = False) -> None:
        """`outlives_run`: the rollout is started with parent-close ABANDON, so it survives this run's
        continue-as-new (the next run re-links it); otherwise TERMINATE, as before (patched)."""
        self.state = state
        self.outlives_run = outlives_run
        self.ops = ops
        self.event = event
        self.publish = publish
        self.pending: list[RolloutCommand | RolloutResult] = []
        self._watchers: set[asyncio.Task[None]] = set()

    # ---- starting a rollout (the `rollout` update) ---------------------------------------------

    def validate(self, req: RolloutRequest) -> None:
        """Refuse before anything changes: one rollout at a time, a new version, a valid spec."""
        st = self.state
        if st.rollout is not None:
            raise ValueError(
                f"a rollout is already in progress: {st.rollout.workflow_id} ({st.rollout.phase.value}, "
                f"canary {st.rollout.canary_weight}%) — promote or abort it first"
            )
        if st.status in _NOT_ROLLABLE:
            raise ValueError(f"cannot roll out: deployment {st.spec.name} is {st.status.value}")
        if req.config_version is not None:
            current = st.spec.config
            if current is None:
                raise ValueError(f"config_version: {st.spec.name} has no config reference to move "
                                 "(add `config: {project: …, environment: …}` to its spec)")
            if req.version == st.spec.version and req.config_version == current.version:
                raise ValueError(f"{st.spec.name} already runs {req.version} with config "
                                 f"v{req.config_version}")
        elif req.version == st.spec.version:
            raise ValueError(f"{st.spec.name} already runs {req.version}: roll out a different version")
        self.canary_spec(req)

    def canary_spec(self, req: RolloutRequest) -> DeploymentSpec:
        base = self.state.spec
        config = base.config
        if req.config_version is not None and config is not None:
            config = config.model_copy(update={"version": req.config_version})
        try:
            build: dict[str, object] = {
                k: v for k, v in (("command", req.command), ("working_dir", req.working_dir),
                                  ("health_path", req.health_path)) if v is not None}
            if req.resources is not None:
                build["resources"] = req.resources.model_dump()
            return DeploymentSpec.model_validate(
                {**base.model_dump(), "version": req.version, "env": {**base.env, **req.env},
                 "config": config.model_dump() if config else None, **build})
        except ValidationError as err:  # a plain ValueError reaches the caller as "refused, bad input"
            raise ValueError("invalid rollout: " + "; ".join(e["msg"] for e in err.errors())) from None

    async def start(self, req: RolloutRequest) -> RolloutStarted:
        self.validate(req)  # again: two updates in one workflow task both passed their validators
        st = self.state
        if req.config_version is not None:
            workflow.patched("config-rollouts")  # marks histories of config releases (new path only)
        wid = rollout_id(st.spec.name, req.version, req.config_version)
        weights = plan_weights(req.strategy)
        from_config = st.spec.config.version if st.spec.config and req.config_version else None
        st.rollout = RolloutLink(workflow_id=wid, version=req.version, from_version=st.spec.version,
                                 config_version=req.config_version, from_config_version=from_config)
        st.rollout_spec = self.canary_spec(req)
        task_timeout = WORKFLOW_TASK_TIMEOUT if workflow.patched(ROLLOUT_TASK_TIMEOUT) else None
        try:
            handle = await workflow.start_child_workflow(
                CanaryRolloutWorkflow.run,
                RolloutInput(deployment=st.spec.name, parent_workflow_id=workflow.info().workflow_id,
                             from_version=st.spec.version, spec=st.rollout_spec, strategy=req.strategy,
                             scale_down_delay_s=req.scale_down_delay_s, abort_cleanup_s=req.abort_cleanup_s,
                             actor=req.actor, reason=req.reason),
                id=wid,
                task_timeout=task_timeout,
                static_summary=f"Canary rollout of **{st.spec.name}** {st.spec.version} → **{req.version}**",
                static_details=f"weights {' → '.join(map(str, weights))} %, analysis every "
                f"{req.strategy.analysis.interval_s:g}s. Query `status`; updates `promote`, `abort`; "
                "signals `pause`, `resume`.",
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(sa.DEPLOYMENT, st.spec.name),
                    SearchAttributePair(sa.ENVIRONMENT, st.spec.environment),
                    SearchAttributePair(sa.VERSION, req.version),
                    SearchAttributePair(sa.ROLLOUT_PHASE, RolloutPhase.PROVISIONING.value),
                    SearchAttributePair(sa.CANARY_WEIGHT, 0),
                ]),
                # ABANDON: the rollout outlives a continue-as-new of this run; `delete` cancels it
                parent_close_policy=ParentClosePolicy.ABANDON if self.outlives_run
                else ParentClosePolicy.TERMINATE,
            )
        except Exception as err:
            st.rollout, st.rollout_spec = None, None
            raise ApplicationError(f"could not start {wid}: {err}") from err
        await self.event("rollout_started", f"canary rollout {st.spec.version} → {req.version} started, "
                         f"weights {' → '.join(map(str, weights))} % ({wid})", req.actor, req.reason)
        self._watch(self._await_child(handle, wid))
        return RolloutStarted(workflow_id=wid, version=req.version, from_version=st.spec.version,
                              weights=weights)

    def _watch(self, waiting: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(waiting)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    def relink(self) -> None:
        """In a run that continued as new with a rollout running: learn how it ends (no child handle
        here), through an activity that waits on its result. Its commands reach this run anyway: the
        rollout signals the deployment by workflow id."""
        if self.state.rollout is not None:
            self._watch(self._await_relinked(self.state.rollout.model_copy()))

    async def _await_relinked(self, link: RolloutLink) -> None:
        result = await workflow.execute_activity_method(
            RolloutWatchActivities.await_rollout, link, summary=f"wait for {link.workflow_id} to end",
            **ROLLOUT_WATCH)
        self.pending.append(result)

    async def end_for_delete(self) -> list[str]:
        """The deployment is being deleted: cancel its rollout, keep the story, return what to destroy
        besides the instance set (old instances waiting for the scale-down delay)."""
        st = self.state
        link = st.rollout
        if link is not None:
            try:
                await workflow.get_external_workflow_handle(link.workflow_id).cancel()
            except Exception as err:  # it ended meanwhile: nothing to cancel
                workflow.logger.warning("cancel of %s not delivered: %s", link.workflow_id, err)
            st.last_rollout = link.model_copy(update={
                "phase": RolloutPhase.ABORTED, "canary_weight": 0,
                "outcome": "cancelled: the deployment was deleted"})
            st.rollout, st.rollout_spec = None, None
        self.pending.clear()
        doomed, st.retiring = [r.instance_id for r in st.retiring], []
        return doomed

    async def _await_child(self, handle: workflow.ChildWorkflowHandle, wid: str) -> None:
        """Whatever way the rollout ends, the deployment learns it and clears the way for the next one."""
        try:
            result: RolloutResult = await handle
        except ChildWorkflowError as err:
            result = RolloutResult(workflow_id=wid, phase=RolloutPhase.FAILED,
                                   outcome=f"rollout workflow ended abnormally: {failure_message(err)}")
        self.pending.append(result)

    # ---- the child's commands (applied by the deployment's main loop, under its lock) ----------

    async def process(self, item: RolloutCommand | RolloutResult) -> None:
        if isinstance(item, RolloutResult):
            await self._close(item)
            return
        link = self.state.rollout
        if link is None or link.workflow_id != item.rollout_id:
            if item.kind != CommandKind.EVENT:
                refused = CommandAck(seq=item.seq, ok=False, detail="not the current rollout")
                await self._ack(item.rollout_id, refused)
            return
        if item.phase is not None:
            link.phase = item.phase
        ack = CommandAck(seq=item.seq)
        if item.kind == CommandKind.EVENT:
            await self.event(item.event_kind, item.message, item.actor, item.reason)
            return
        weight_before = link.canary_weight
        try:
            await self._apply(item, ack)
        except ActivityError as err:
            if not workflow.patched(COMMAND_FAILURE_ACKED):
                raise  # old runs: the failure ends the deployment workflow (the bug this patch fixes)
            # the deployment keeps serving: the rollout hears "not done" and rolls itself back
            link.canary_weight = weight_before
            ack.ok, ack.detail = False, failure_message(err)
            await self.event("rollout_command_failed", f"{item.kind.value} failed: {ack.detail}")
        ack.canary_instances = [r.instance_id for r in self.ops.canary()]
        await self.publish()
        await self._ack(item.rollout_id, ack)

    async def _apply(self, item: RolloutCommand, ack: CommandAck) -> None:
        """Carry out one command of the child; an activity failure propagates to `process`."""
        link = self.state.rollout
        assert link is not None
        if item.kind == CommandKind.ADD_CANARY:
            ack.detail = await self._grow_canary(item.count)
            ack.ok = ack.detail is None
        elif item.kind == CommandKind.SET_WEIGHT:
            link.canary_weight = item.weight
            if item.aborting:
                self.state.status, self.state.status_reason = DeploymentStatus.DEGRADED, item.reason
            await self.ops.wire_router()
        elif item.kind == CommandKind.PROMOTE:
            await self._promote()
        elif item.kind == CommandKind.RETIRE:
            doomed = [r.instance_id for r in self.state.retiring]
            self.state.retiring = []
            await self.ops.remove(doomed, drain=False)  # out of the router since the promotion
        elif item.kind == CommandKind.REMOVE_CANARY:
            await self.ops.remove([r.instance_id for r in self.ops.canary()], drain=False)
            if item.aborting:
                self.ops.settle(None)
                await self.event("recovered", f"100% on {self.state.spec.version}, canary removed: "
                                 f"{self.state.status.value}")

    async def _grow_canary(self, count: int) -> str | None:
        assert self.state.rollout_spec is not None
        missing = count - len(self.ops.canary())
        failures = await self.ops.add(missing, spec=self.state.rollout_spec, group=InstanceGroup.CANARY) \
            if missing > 0 else []
        await self.ops.wire_router()
        return "; ".join(failures) or None

    async def _promote(self) -> None:
        st = self.state
        assert st.rollout is not None and st.rollout_spec is not None
        old = {r.instance_id for r in self.ops.stable()}
        st.previous_spec, st.spec = st.spec, st.rollout_spec.model_copy(update={"replicas": st.spec.replicas})
        for record in self.ops.canary():
            record.group = InstanceGroup.STABLE
        st.retiring += [r for r in st.instances if r.instance_id in old]
        st.instances = [r for r in st.instances if r.instance_id not in old]
        st.rollout.canary_weight = 0
        await self.ops.wire_router()
        self.ops.settle(None)
        await self.event("promoted", f"now on {st.spec.version}; {len(old)} {st.previous_spec.version} "
                         "instances left the router and are destroyed after the scale-down delay")

    async def _ack(self, wid: str, ack: CommandAck) -> None:
        try:
            await workflow.get_external_workflow_handle(wid).signal(CanaryRolloutWorkflow.command_done, ack)
        except Exception as err:  # the rollout already ended (e.g. terminated): nobody waits for it
            workflow.logger.warning("ack to %s not delivered: %s", wid, err)

    async def _close(self, result: RolloutResult) -> None:
        st = self.state
        if st.rollout is None or st.rollout.workflow_id != result.workflow_id:
            return
        leftovers = [r.instance_id for r in self.ops.canary()]
        st.rollout.canary_weight = 0
        if leftovers:  # ended without cleaning up (terminated, failed): stable takes all traffic back
            await self.ops.remove(leftovers, drain=False)
        if st.retiring:
            doomed, st.retiring = [r.instance_id for r in st.retiring], []
            await self.ops.remove(doomed, drain=False)
        phase = result.phase if result.phase in FINISHED_PHASES else RolloutPhase.FAILED
        st.last_rollout = st.rollout.model_copy(update={"phase": phase, "outcome": result.outcome})
        st.rollout, st.rollout_spec = None, None
        self.ops.settle(None)
        if phase == RolloutPhase.FAILED:
            await self.event("rollout_failed", f"{result.workflow_id}: {result.outcome}")
        await self.publish()

    # ---- undo: back to the previous version at once --------------------------------------------

    def validate_undo(self) -> None:
        st = self.state
        if st.rollout is not None:
            raise ValueError(f"a rollout is in progress ({st.rollout.workflow_id}): abort it instead — "
                             f"`coderunner abort {st.spec.name} --reason …`")
        if st.previous_spec is None:
            raise ValueError(f"nothing to undo: {st.spec.name} has no earlier version "
                             "(undo follows a promoted rollout)")
        if st.status in _NOT_ROLLABLE:
            raise ValueError(f"cannot undo: deployment {st.spec.name} is {st.status.value}")

    async def undo(self, req: OperationRequest) -> str:
        """Blue/green back to the previous spec: all its instances up and healthy, then switch, then drain."""
        st = self.state
        assert st.previous_spec is not None
        current, previous = st.spec, st.previous_spec
        old = [r.instance_id for r in self.ops.stable()]
        await self.event("undo", f"undo: {current.version} → {previous.version}", req.actor, req.reason)
        st.spec = previous.model_copy(update={"replicas": current.replicas})
        failures = await self.ops.add(current.replicas)
        if failures:
            st.spec = current
            await self.ops.wire_router()
            raise ApplicationError(f"undo stopped, {current.version} kept: {failures[0]}")
        st.previous_spec = current
        await self.ops.wire_router()
        await self.ops.remove(old)
        self.ops.settle(None)
        await self.event("undone", f"back on {previous.version}: {st.status.value}", req.actor)
        await self.publish()
        return f"rolled back from {current.version} to {previous.version}"
