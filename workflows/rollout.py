"""CanaryRolloutWorkflow (id `rollout/<name>/<version>`): steps, durable timers, analysis, human gates.

Why the rollout *asks* its parent instead of acting: the DeploymentWorkflow is the one writer of the
instance set and of the router. If the child wrote router weights itself, a scale or a health sweep
running in the parent at the same moment could write its own (older) view after the child's — an
abort's "100 % stable" could be overwritten by a stale 10 % canary. So the child sends a command
(`rollout_command` signal: add canaries, set weight, promote, retire, remove canary, event) and waits
durably for the parent's `command_done` signal; the parent applies commands one at a time under its
lock, and every router write there goes through `InstanceOps.wire_router`, which applies the
current split. A scale during a rollout therefore keeps the canary weight and touches only the
stable group, and an acknowledged weight is the weight the router serves.

Crash safety comes from Temporal: commands, acks and timers are all in history, so a worker killed
-9 mid-rollout is replaced by one that replays to the same step and carries on. The parent does not
continue-as-new while a rollout runs (rollouts are bounded); deleting the deployment terminates it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.analysis import AnalysisActivities
    from coderunner.decisions.canary import analysis_step_passed, judge_window, next_action, plan_weights
    from coderunner.decisions.instances import canary_replicas
    from coderunner.models import search_attributes as sa
    from coderunner.models.rollout import (
        FINISHED_PHASES,
        AnalysisStep,
        PauseStep,
        RolloutPhase,
        SetWeightStep,
        WindowVerdict,
    )
    from coderunner.models.rollout_api import (
        AbortRequest,
        CommandAck,
        CommandKind,
        ControlRequest,
        PromoteRequest,
        RolloutCommand,
        RolloutInput,
        RolloutMetric,
        RolloutResult,
        RolloutStatus,
        WindowRecord,
        WindowRequest,
    )
    from workflows.options import SANDBOX_CALL
    from workflows.rollout_steps import describe_step, evidence

KEEP_WINDOWS = 40  # windows kept in the status query (the audit log has the abort's evidence)
NEXT, ABORT, FULL = "next", "abort", "full"


class _Abort(Exception):
    """Raised inside the step loop to end the rollout with an abort."""


@workflow.defn
class CanaryRolloutWorkflow:
    @workflow.init
    def __init__(self, inp: RolloutInput) -> None:
        self._inp = inp
        self._id = workflow.info().workflow_id
        self._steps = inp.strategy.steps
        self._settings = inp.strategy.analysis
        self._phase = RolloutPhase.PROVISIONING
        self._step = 0
        self._weight = 0
        self._canaries: list[str] = []
        self._seq = 0
        self._acks: dict[int, CommandAck] = {}
        self._history: list[WindowVerdict] = []
        self._windows: list[WindowRecord] = []
        self._windows_total = 0
        self._next_window = 0.0
        self._paused_reason: str | None = None
        self._paused = False
        self._skip = False
        self._full = False
        self._abort: tuple[str, str] | None = None  # (reason, actor)
        self._outcome: str | None = None
        self._rolled_back_at: datetime | None = None
        self._published: tuple[str, int] | None = None

    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutResult:
        self._publish()
        try:
            detail = await self._ensure_canaries(plan_weights(inp.strategy)[0])
            if detail:
                raise _Abort(f"canary {inp.spec.version} never became healthy, no traffic was shifted: "
                             f"{detail}")
            self._set_phase(RolloutPhase.PROGRESSING)
            await self._event("rollout_progressing", f"{len(self._canaries)} canary instances healthy: "
                              f"{', '.join(self._canaries)}")
            while self._step < len(self._steps):
                outcome = await self._run_step(self._steps[self._step])
                if outcome == ABORT or self._abort:
                    raise _Abort(self._abort[0] if self._abort else "aborted")
                if outcome == FULL:
                    break
                self._step += 1
            result = await self._promote()
        except _Abort as abort:
            result = await self._rollback(str(abort))
        await workflow.wait_condition(workflow.all_handlers_finished)  # promote/abort callers get answers
        return result

    # ---- steps ---------------------------------------------------------------------------------

    async def _run_step(self, step: SetWeightStep | PauseStep | AnalysisStep) -> str:
        self._publish()
        if isinstance(step, SetWeightStep):
            if self._abort:
                return ABORT
            detail = await self._ensure_canaries(step.weight)
            if detail:
                raise _Abort(f"canary could not grow for {step.weight}%: {detail}")
            await self._set_weight(step.weight)
            return FULL if self._full else NEXT
        if isinstance(step, PauseStep):
            return await self._hold(step.duration_s, None)
        return await self._hold(None, step.windows) if self._weight > 0 else NEXT

    async def _hold(self, seconds: float | None, windows: int | None) -> str:
        """Wait out a pause / analysis step, running an analysis window every interval meanwhile."""
        deadline = None if seconds is None else workflow.time() + seconds
        verdicts: list[WindowVerdict] = []
        while True:
            if self._abort:
                return ABORT
            if self._full:
                return FULL
            if self._skip:
                self._skip = False
                return NEXT
            if self._paused:
                held_from = workflow.time()
                self._set_phase(RolloutPhase.PAUSED)
                await workflow.wait_condition(lambda: not self._paused or self._controlled(),
                                              timeout_summary="paused: waiting for resume, promote or abort")
                if deadline is not None:
                    deadline += workflow.time() - held_from  # a pause does not eat the step's duration
                self._paused, self._paused_reason, self._history = False, None, []
                self._set_phase(RolloutPhase.PROGRESSING)
                self._next_window = workflow.time() + self._settings.interval_s
                continue
            if windows is not None and analysis_step_passed(verdicts, windows):
                return NEXT
            now = workflow.time()
            if deadline is not None and now >= deadline:
                return NEXT
            wake = [t for t in (deadline, self._next_window if self._weight > 0 else None) if t is not None]
            try:
                await workflow.wait_condition(
                    lambda: self._controlled() or self._paused,
                    timeout=timedelta(seconds=max(0.0, min(wake) - now)) if wake else None,
                    timeout_summary=f"step {self._step + 1}: next analysis window or end of step",
                )
            except TimeoutError:
                pass
            if self._weight > 0 and workflow.time() >= self._next_window and not self._controlled():
                verdicts.append(await self._analyse())

    def _controlled(self) -> bool:
        return bool(self._abort) or self._full or self._skip

    async def _analyse(self) -> WindowVerdict:
        stats = await workflow.execute_activity_method(
            AnalysisActivities.collect_window,
            WindowRequest(deployment=self._inp.deployment, canary_version=self._inp.spec.version,
                          window_s=self._settings.interval_s,
                          # a config release keeps the app version: only instance ids tell canary apart
                          canary_instances=self._canaries if self._inp.spec.version == self._inp.from_version
                          else []),
            summary=f"analysis window {self._windows_total + 1} at {self._weight}%",
            **SANDBOX_CALL,
        )
        result = judge_window(stats.canary, stats.stable, self._settings)
        self._next_window = workflow.time() + self._settings.interval_s
        self._windows_total += 1
        self._history.append(result.verdict)
        self._windows.append(WindowRecord(number=self._windows_total, at=workflow.now(), step=self._step + 1,
                                          weight=self._weight, verdict=result.verdict, result=result))
        del self._windows[:-KEEP_WINDOWS]
        await self._metric(RolloutMetric(deployment=self._inp.deployment, verdict=result.verdict))
        action = next_action(self._history, self._settings)
        if action == "abort" and not self._abort:
            limit = self._settings.failure_limit
            self._abort = (f"{limit} unhealthy analysis windows in a row at {self._weight}%: "
                           f"{evidence(self._windows[-limit:])}", "analysis")
        elif action == "pause" and not self._paused:
            self._paused, self._phase = True, RolloutPhase.PAUSED
            self._paused_reason = f"{result.verdict.value} windows in a row: {evidence(self._windows[-1:])}"
            await self._event("rollout_paused", f"paused for a human: {self._paused_reason}", "analysis")
        self._publish()
        return result.verdict

    # ---- commands to the deployment (the one writer) -------------------------------------------

    async def _call(self, kind: CommandKind, **fields: object) -> CommandAck:
        self._seq += 1
        seq = self._seq
        command = RolloutCommand(seq=seq, rollout_id=self._id, kind=kind, phase=self._phase,
                                 **fields)  # type: ignore[arg-type]
        parent = workflow.get_external_workflow_handle(self._inp.parent_workflow_id)
        await parent.signal("rollout_command", command)
        if kind == CommandKind.EVENT:
            return CommandAck(seq=seq)
        await workflow.wait_condition(lambda: seq in self._acks,
                                      timeout_summary=f"deployment applies {kind.value}")
        ack = self._acks.pop(seq)
        self._canaries = ack.canary_instances
        return ack

    async def _ensure_canaries(self, weight: int) -> str | None:
        want = canary_replicas(self._inp.spec.replicas, weight)
        if len(self._canaries) >= want:
            return None
        ack = await self._call(CommandKind.ADD_CANARY, count=want)
        return None if ack.ok else (ack.detail or "canary instances failed")

    async def _set_weight(self, weight: int, aborting: bool = False, reason: str = "") -> None:
        ack = await self._call(CommandKind.SET_WEIGHT, weight=weight, aborting=aborting, reason=reason)
        if not ack.ok:
            raise ApplicationError(f"deployment refused weight {weight}: {ack.detail}")
        self._weight = weight
        self._next_window = workflow.time() + self._settings.interval_s
        self._history = []  # windows at the old weight say little about the new one
        await self._metric(RolloutMetric(deployment=self._inp.deployment, canary_weight=weight))
        if not aborting:
            await self._event("canary_weight", f"canary {self._inp.spec.version} at {weight}% "
                              f"(step {self._step + 1}/{len(self._steps)})")
        self._publish()

    async def _event(self, kind: str, message: str, actor: str = "workflow", reason: str = "") -> None:
        await self._call(CommandKind.EVENT, event_kind=kind, message=message, actor=actor, reason=reason)

    async def _metric(self, metric: RolloutMetric) -> None:
        await workflow.execute_local_activity_method(AnalysisActivities.rollout_metric, metric,
                                                     start_to_close_timeout=timedelta(seconds=5))

    # ---- endings -------------------------------------------------------------------------------

    async def _rollback(self, reason: str) -> RolloutResult:
        actor = self._abort[1] if self._abort else "workflow"
        self._set_phase(RolloutPhase.ABORTING)
        text = f"rollout of {self._inp.spec.version} aborted: {reason}"
        if self._canaries or self._weight:
            await self._set_weight(0, aborting=True, reason=text)
        self._rolled_back_at = workflow.now()
        await self._metric(RolloutMetric(deployment=self._inp.deployment, outcome="rollback"))
        await self._event("rollout_aborted", f"traffic 100% on {self._inp.from_version}; {text}", actor)
        if self._inp.abort_cleanup_s > 0:
            await workflow.sleep(timedelta(seconds=self._inp.abort_cleanup_s),
                                 summary="keep the canary briefly")
        await self._call(CommandKind.REMOVE_CANARY, aborting=True)
        self._outcome = text
        self._set_phase(RolloutPhase.ABORTED)
        return RolloutResult(workflow_id=self._id, phase=self._phase, outcome=text)

    async def _promote(self) -> RolloutResult:
        self._set_phase(RolloutPhase.PROMOTING)
        detail = await self._ensure_canaries(100)
        if detail:
            return await self._rollback(f"canary could not grow to full size: {detail}")
        if self._weight != 100:
            await self._set_weight(100)
        if self._abort:  # accepted before promotion began: an abort always wins
            return await self._rollback(self._abort[0])
        await self._call(CommandKind.PROMOTE)
        await self._metric(RolloutMetric(deployment=self._inp.deployment, outcome="promotion"))
        if self._inp.scale_down_delay_s > 0:
            await workflow.sleep(timedelta(seconds=self._inp.scale_down_delay_s),
                                 summary=f"scale-down delay before destroying {self._inp.from_version}")
        await self._call(CommandKind.RETIRE)
        self._outcome = f"promoted: {self._inp.deployment} now runs {self._inp.spec.version}"
        self._set_phase(RolloutPhase.PROMOTED)
        await self._event("rollout_promoted",
                          f"{self._outcome}; {self._inp.from_version} instances destroyed")
        return RolloutResult(workflow_id=self._id, phase=self._phase, outcome=self._outcome)

    # ---- controls ------------------------------------------------------------------------------

    @workflow.signal
    async def command_done(self, ack: CommandAck) -> None:
        self._acks[ack.seq] = ack

    @workflow.update
    async def promote(self, req: PromoteRequest) -> RolloutStatus:
        if req.full:
            self._full = True
        else:
            self._skip = True
        self._paused = False
        what = "all remaining steps" if req.full else "one step"
        await self._event("rollout_promote", f"promote: {what}", req.actor, req.reason)
        await workflow.wait_condition(lambda: not self._skip or self._phase in FINISHED_PHASES)
        return self.status()

    @promote.validator
    def _check_promote(self, req: PromoteRequest) -> None:
        if self._phase in (*FINISHED_PHASES, RolloutPhase.PROMOTING, RolloutPhase.ABORTING) or self._abort:
            raise ValueError(f"rollout {self._id} is {self._phase.value}: nothing to promote")

    @workflow.update
    async def abort(self, req: AbortRequest) -> RolloutStatus:
        self._abort = (f"aborted by {req.actor}: {req.reason}", req.actor)
        await workflow.wait_condition(
            lambda: self._rolled_back_at is not None or self._phase in FINISHED_PHASES)
        return self.status()

    @abort.validator
    def _check_abort(self, req: AbortRequest) -> None:
        if self._phase in (*FINISHED_PHASES, RolloutPhase.PROMOTING) or self._abort:
            raise ValueError(f"rollout {self._id} is {self._phase.value}: too late to abort"
                             + (" — `coderunner undo` goes back to the previous version" if
                                self._phase != RolloutPhase.ABORTED else ""))

    @workflow.signal
    async def pause(self, req: ControlRequest) -> None:
        if self._phase in FINISHED_PHASES or self._paused:
            return
        self._paused, self._phase = True, RolloutPhase.PAUSED
        self._paused_reason = f"paused by {req.actor}" + (f": {req.reason}" if req.reason else "")
        await self._event("rollout_paused", self._paused_reason, req.actor, req.reason)

    @workflow.signal
    async def resume(self, req: ControlRequest) -> None:
        if not self._paused:
            return
        self._paused, self._phase = False, RolloutPhase.PROGRESSING
        await self._event("rollout_resumed", f"resumed by {req.actor}", req.actor, req.reason)

    @workflow.query
    def status(self) -> RolloutStatus:
        step = self._steps[self._step] if self._step < len(self._steps) else None
        return RolloutStatus(
            workflow_id=self._id, deployment=self._inp.deployment, version=self._inp.spec.version,
            from_version=self._inp.from_version, phase=self._phase,
            step=min(self._step + 1, len(self._steps)),
            steps=len(self._steps), step_description=describe_step(step), canary_weight=self._weight,
            canary_instances=self._canaries, weights=plan_weights(self._inp.strategy),
            paused_reason=self._paused_reason if self._paused else None, outcome=self._outcome,
            windows=self._windows, windows_total=self._windows_total, rolled_back_at=self._rolled_back_at,
        )

    # ---- visibility ----------------------------------------------------------------------------

    def _set_phase(self, phase: RolloutPhase) -> None:
        self._phase = phase
        self._publish()

    def _publish(self) -> None:
        last = self._windows[-1] if self._windows else None
        verdict = f"{last.verdict.value} — {last.result.reasons[0]}" if last and last.result.reasons else "-"
        step = f"{min(self._step + 1, len(self._steps))}/{len(self._steps)}"
        workflow.set_current_details(
            f"**{self._phase.value}** — step {step}, canary "
            f"{self._inp.spec.version} at **{self._weight}%**\n\nlast verdict: {verdict}"
            + (f"\n\n{self._paused_reason}" if self._paused and self._paused_reason else "")
            + (f"\n\n{self._outcome}" if self._outcome else ""))
        snapshot = (self._phase.value, self._weight)
        if snapshot != self._published:
            self._published = snapshot
            workflow.upsert_search_attributes([sa.ROLLOUT_PHASE.value_set(self._phase.value),
                                               sa.CANARY_WEIGHT.value_set(self._weight)])
