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

The phase is never assigned: the workflow records facts in a `ControlState` (controls accepted,
the stage its run loop reached, the outcome) and `decisions.rollout_phase.phase_of` derives the
phase; `refusal` says why a control no longer applies (pause/resume/promote/abort are updates
with validators, so the caller gets that message).

Bounded history: raw latency samples stay in the analysis activity (it returns statistics), and
while the rollout holds a step it continues-as-new carrying ALL its state (`RolloutCarry`) once
its history is long, so an indefinite pause can wait for days.

Changes to this workflow are guarded by `workflow.patched` ids pinned at the start of a run:
rollouts recorded before them (tests/histories/rollout_*.json) replay the legacy paths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.analysis import AnalysisActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.rollout import (
        AnalysisStep,
        Control,
        ControlState,
        Hold,
        PauseStep,
        RolloutPhase,
        SetWeightStep,
        Stage,
        WindowVerdict,
    )
    from coderunner.models.rollout_api import (
        CommandAck,
        CommandKind,
        RolloutCarry,
        RolloutInput,
        RolloutMetric,
        RolloutResult,
        RolloutStatus,
    )

# decisions and helpers are imported normally (sandboxed), after the models they use are passed
# through, so both sides share one set of model classes
from coderunner.decisions import evidence_gate
from coderunner.decisions.canary import (
    analysis_step_passed,
    decide,
    next_action,
    plan_weights,
)
from coderunner.decisions.instances import canary_replicas
from coderunner.decisions.rollout_phase import apply, phase_of
from coderunner.words import plural
from workflows.rollout_channel import ParentChannel
from workflows.rollout_controls import RolloutControls
from workflows.rollout_patches import (
    CONTINUE_AS_NEW,
    DERIVED_PHASE,
    EVIDENCE_GATE,
    PATCHES,
    REFUSED_WEIGHT_ABORTS,
    SEQUENTIAL,
    STATISTICS,
    TIMER_CLOCK,
)
from workflows.rollout_steps import describe_step, evidence
from workflows.rollout_windows import WindowBook
from workflows.timer_clock import TimerClock

NEXT, ABORT, FULL = "next", "abort", "full"


class _Abort(Exception):
    """Raised inside the step loop to end the rollout with an abort."""


@workflow.defn
class CanaryRolloutWorkflow(RolloutControls):
    @workflow.init
    def __init__(self, inp: RolloutInput) -> None:
        self._inp = inp
        self._id = workflow.info().workflow_id
        self._steps = inp.strategy.steps
        self._settings = inp.strategy.analysis
        carry = inp.carried or RolloutCarry(controls=ControlState(), step=0, weight=0)
        self._c = carry.controls
        self._step = carry.step
        self._weight = carry.weight
        self._canaries = list(carry.canaries)
        self._parent = ParentChannel(self._id, inp.parent_workflow_id, carry.seq)
        self._book = WindowBook(carry, self._settings)
        self._carried = inp.carried  # consumed by the first hold after a continue-as-new
        self._runs = carry.runs
        self._next_window = 0.0
        self._outcome: str | None = None
        self._rolled_back_at: datetime | None = None
        self._published: tuple[str, int] | None = None
        self._new: dict[str, bool] = {}
        self._clock = TimerClock()  # on with TIMER_CLOCK (set in run)
        self._step_ends: float | None = None  # the running timed step's deadline, for the status query

    def _on(self, patch: str) -> bool:
        """Whether this run takes the patched path (workflow.patched memoises per run)."""
        if patch not in self._new:
            self._new[patch] = workflow.patched(patch)
        return self._new[patch]

    def _now(self) -> float:
        return self._clock.now()

    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutResult:
        for patch in PATCHES:
            self._on(patch)
        self._clock.on = self._on(TIMER_CLOCK)
        self._publish()
        try:
            if inp.carried is None:
                detail = await self._ensure_canaries(plan_weights(inp.strategy)[0])
                if detail:
                    raise _Abort(f"canary {inp.spec.version} never became healthy, no traffic was shifted: "
                                 f"{detail}")
                self._set_stage(Stage.STEPPING)
                healthy = plural(len(self._canaries), "canary instance")
                await self._event("rollout_progressing", f"{healthy} healthy: {', '.join(self._canaries)}")
            while self._step < len(self._steps):
                outcome = await self._run_step(self._steps[self._step])
                if outcome == ABORT or self._c.abort:
                    raise _Abort(self._c.abort.reason if self._c.abort else "aborted")
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
            if self._c.abort:
                return ABORT
            detail = await self._ensure_canaries(step.weight)
            if detail:
                raise _Abort(f"canary could not grow for {step.weight}%: {detail}")
            await self._set_weight(step.weight)
            return FULL if self._c.promote_full else NEXT
        try:
            if isinstance(step, PauseStep):
                return await self._hold(step.duration_s, None)
            return await self._hold(None, step.windows) if self._weight > 0 else NEXT
        finally:
            self._step_ends = None

    async def _hold(self, seconds: float | None, windows: int | None) -> str:
        """Wait out a pause / analysis step, running an analysis window every interval meanwhile."""
        deadline = None if seconds is None else self._now() + seconds
        verdicts: list[WindowVerdict] = []
        extended = False
        if self._carried is not None:  # resuming this step after a continue-as-new
            left = self._carried.hold_left_s
            deadline = None if left is None else self._now() + left
            verdicts = list(self._carried.hold_verdicts)
            self._next_window = self._now() + self._carried.next_window_in_s
            self._carried = None
        while True:
            if self._c.abort:
                return ABORT
            if self._c.promote_full:
                return FULL
            if self._c.skip_step:
                self._c = self._c.model_copy(update={"skip_step": False})
                return NEXT
            if self._c.hold is not None:
                deadline = await self._paused(deadline)
                continue
            if windows is not None and analysis_step_passed(verdicts, windows):
                return NEXT
            now = self._now()
            self._step_ends = deadline
            if deadline is not None and now >= deadline:
                missing = self._missing_evidence()
                if missing is None:
                    return NEXT
                if self._windows_at_weight() <= self._settings.healthy_windows_per_step:
                    # too short for the windows it needs (one spare: a first window is often thin)
                    deadline = await self._extend(extended)
                    extended = True
                    continue
                await self._pause_for(missing, "analysis")
                continue
            if self._on(CONTINUE_AS_NEW) and await self._continue_as_new(deadline, verdicts):
                continue  # a control arrived while handlers finished: handle it first
            wake = [t for t in (deadline, self._next_window if self._weight > 0 else None) if t is not None]
            try:
                await workflow.wait_condition(
                    lambda: self._controlled() or self._c.hold is not None,
                    timeout=timedelta(seconds=max(0.0, min(wake) - now)) if wake else None,
                    timeout_summary=f"step {self._step + 1}: next analysis window or end of step",
                )
            except TimeoutError:
                if wake:
                    self._clock.fired(min(wake))
            if self._weight > 0 and self._now() >= self._next_window and not self._controlled():
                verdicts.append(await self._analyse())

    async def _paused(self, deadline: float | None) -> float | None:
        """Wait for resume, promote or abort; a pause does not eat the step's duration."""
        held_from = self._now()
        self._publish()
        await workflow.wait_condition(lambda: self._c.hold is None or self._controlled(),
                                      timeout_summary="paused: waiting for resume, promote or abort")
        if deadline is not None:
            deadline += self._now() - held_from
            if self._on(EVIDENCE_GATE) and deadline <= self._now() and self._missing_evidence():
                needed = self._settings.interval_s * self._settings.healthy_windows_per_step
                deadline = self._now() + needed
        self._c = self._c.model_copy(update={"hold": None})
        self._book.history = []
        self._publish()
        self._next_window = self._now() + self._settings.interval_s
        return deadline

    def _windows_at_weight(self) -> int:
        return self._book.at_weight(self._weight)

    async def _extend(self, told: bool) -> float:
        """Hold the step until its next analysis window; say so once per step."""
        if not told:
            need = self._settings.healthy_windows_per_step
            await self._event("rollout_step_extended", (
                f"step {self._step + 1} extended: the canary needs {need} healthy analysis window"
                f"{'s' if need != 1 else ''} ({self._settings.interval_s:g}s each) at {self._weight}% "
                f"before it moves on"))
        # strictly in the future, so the loop waits (and judges the window) instead of spinning
        return max(self._next_window, self._now()) + 0.001

    def _missing_evidence(self) -> str | None:
        if not self._on(EVIDENCE_GATE) or self._weight <= 0:
            return None
        return evidence_gate.missing_evidence(self._book.tally, self._weight, self._settings,
                                              self._inp.deployment)

    async def _pause_for(self, reason: str, actor: str) -> None:
        self._c = apply(self._c, Control.PAUSE, Hold(reason=reason, actor=actor))
        await self._event("rollout_paused", f"paused for a human: {reason}", actor)

    def _controlled(self) -> bool:
        return bool(self._c.abort) or self._c.promote_full or self._c.skip_step

    async def _continue_as_new(self, deadline: float | None, verdicts: list[WindowVerdict]) -> bool:
        """Continue-as-new carrying ALL state once history is long; False if a control came first."""
        info = workflow.info()
        if not (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._inp.max_history_events):
            return False
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._controlled(),
                                      timeout_summary="handlers finish before continue-as-new")
        if self._controlled() or self._c.hold is not None:
            return True
        now = self._now()
        carry = RolloutCarry(
            controls=self._c, step=self._step, weight=self._weight, canaries=self._canaries,
            seq=self._parent.seq, history=self._book.history, windows=self._book.windows,
            windows_total=self._book.total, evidence=self._book.evidence, tally=self._book.tally,
            hold_left_s=None if deadline is None else max(0.0, deadline - now), hold_verdicts=verdicts,
            next_window_in_s=max(0.0, self._next_window - now), runs=self._runs + 1,
        )
        workflow.continue_as_new(self._inp.model_copy(update={"carried": carry}))

    async def _analyse(self) -> WindowVerdict:
        sequential = self._on(SEQUENTIAL)
        result = await self._book.judge(self._inp, self._canaries, self._weight, self._on(STATISTICS),
                                        sequential)
        self._next_window = self._now() + self._settings.interval_s
        self._book.record(result, self._weight, self._step + 1, workflow.now())
        await self._metric(RolloutMetric(deployment=self._inp.deployment, verdict=result.verdict))
        book = self._book
        action = decide(book.history, result, self._settings, book.evidence) if sequential else next_action(
            book.history, self._settings)
        if action == "abort" and not self._c.abort:
            if result.conclusive:
                text = f"strong evidence of errors at {self._weight}%: {evidence(book.windows[-1:])}"
            else:
                limit = self._settings.failure_limit
                text = (f"{limit} unhealthy analysis windows in a row at {self._weight}%: "
                        f"{evidence(book.windows[-limit:])}")
            self._c = apply(self._c, Control.ABORT, Hold(reason=text, actor="analysis"))
        elif action == "pause" and self._c.hold is None:
            await self._pause_for(f"{result.verdict.value} windows in a row: {evidence(book.windows[-1:])}",
                                  "analysis")
        self._publish()
        return result.verdict

    # ---- commands to the deployment (the one writer) -------------------------------------------

    async def _call(self, kind: CommandKind, **fields: object) -> CommandAck:
        ack = await self._parent.call(kind, self._phase(), **fields)
        if kind != CommandKind.EVENT:
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
            if not self._on(REFUSED_WEIGHT_ABORTS):
                raise ApplicationError(f"deployment refused weight {weight}: {ack.detail}")
            if not aborting:
                raise _Abort(f"the deployment could not apply weight {weight}%: {ack.detail}")
            # rolling back and even that was refused: the router kept its last weights; go on cleaning up
            await self._event("rollout_weight_refused", f"could not set {weight}%: {ack.detail}")
            return
        self._weight = weight
        self._next_window = self._now() + self._settings.interval_s
        self._book.history = []  # windows at the old weight say little about the new one
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
        actor = self._c.abort.actor if self._c.abort else "workflow"
        self._set_stage(Stage.ROLLING_BACK)
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
        self._finish("aborted")
        return RolloutResult(workflow_id=self._id, phase=self._phase(), outcome=text)

    async def _promote(self) -> RolloutResult:
        self._set_stage(Stage.PROMOTING)
        detail = await self._ensure_canaries(100)
        if detail:
            return await self._rollback(f"canary could not grow to full size: {detail}")
        if self._weight != 100:
            await self._set_weight(100)
        if self._c.abort:  # legacy runs accepted an abort until here: an abort always wins
            return await self._rollback(self._c.abort.reason)
        await self._call(CommandKind.PROMOTE)
        await self._metric(RolloutMetric(deployment=self._inp.deployment, outcome="promotion"))
        if self._inp.scale_down_delay_s > 0:
            await workflow.sleep(timedelta(seconds=self._inp.scale_down_delay_s),
                                 summary=f"scale-down delay before destroying {self._inp.from_version}")
        await self._call(CommandKind.RETIRE)
        self._outcome = f"promoted: {self._inp.deployment} now runs {self._inp.spec.version}"
        self._finish("promoted")
        await self._event("rollout_promoted",
                          f"{self._outcome}; {self._inp.from_version} instances destroyed")
        return RolloutResult(workflow_id=self._id, phase=self._phase(), outcome=self._outcome)

    @workflow.query
    def status(self) -> RolloutStatus:
        step = self._steps[self._step] if self._step < len(self._steps) else None
        return RolloutStatus(
            workflow_id=self._id, deployment=self._inp.deployment, version=self._inp.spec.version,
            from_version=self._inp.from_version, phase=self._phase(),
            step=min(self._step + 1, len(self._steps)),
            steps=len(self._steps), step_description=describe_step(step), canary_weight=self._weight,
            canary_instances=self._canaries, weights=plan_weights(self._inp.strategy),
            paused_reason=self._c.hold.reason if self._c.hold else None, outcome=self._outcome,
            windows=self._book.windows, windows_total=self._book.total, rolled_back_at=self._rolled_back_at,
            runs=self._runs,
            step_ends_at=None if self._step_ends is None else datetime.fromtimestamp(self._step_ends, UTC),
        )

    # ---- state and visibility ------------------------------------------------------------------

    def _phase(self) -> RolloutPhase:
        """The phase, derived. Legacy runs showed an accepted abort only once the rollback began."""
        state = self._c
        if not self._new.get(DERIVED_PHASE, True) and state.stage is not Stage.ROLLING_BACK:
            state = state.model_copy(update={"abort": None})
        return phase_of(state)

    def _set_stage(self, stage: Stage) -> None:
        self._c = self._c.model_copy(update={"stage": stage})
        self._publish()

    def _finish(self, outcome: str) -> None:
        self._c = self._c.model_copy(update={"stage": Stage.DONE, "outcome": outcome})
        self._publish()

    def _publish(self) -> None:
        phase = self._phase()
        last = self._book.windows[-1] if self._book.windows else None
        verdict = f"{last.verdict.value} — {last.result.reasons[0]}" if last and last.result.reasons else "-"
        step = f"{min(self._step + 1, len(self._steps))}/{len(self._steps)}"
        hold = self._c.hold.reason if self._c.hold else None
        workflow.set_current_details(
            f"**{phase.value}** — step {step}, canary "
            f"{self._inp.spec.version} at **{self._weight}%**\n\nlast verdict: {verdict}"
            + (f"\n\n{hold}" if hold else "")
            + (f"\n\n{self._outcome}" if self._outcome else ""))
        snapshot = (phase.value, self._weight)
        if snapshot != self._published:
            self._published = snapshot
            workflow.upsert_search_attributes([sa.ROLLOUT_PHASE.value_set(phase.value),
                                               sa.CANARY_WEIGHT.value_set(self._weight)])
