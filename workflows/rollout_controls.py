"""The rollout's human controls: promote, abort, pause and resume (updates with validators that
refuse what no longer applies, with the reason), the legacy pause/resume signals, and the
deployment's `command_done` acknowledgement.

CanaryRolloutWorkflow inherits them; its run loop reads the `ControlState` they change
(`decisions.rollout_phase.apply`/`refusal`), so the phase stays one pure function of that state.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from coderunner.models.rollout import FINISHED_PHASES, Control, ControlState, Hold, RolloutPhase
    from coderunner.models.rollout_api import (
        AbortRequest,
        CommandAck,
        ControlRequest,
        PromoteRequest,
        RolloutStatus,
    )

from coderunner.decisions.rollout_phase import apply, refusal
from workflows.rollout_channel import ParentChannel
from workflows.rollout_patches import DERIVED_PHASE


class RolloutControls:
    """What the controls need of the workflow (set by CanaryRolloutWorkflow)."""

    _c: ControlState
    _id: str
    _parent: ParentChannel
    _rolled_back_at: datetime | None

    def _on(self, patch: str) -> bool:
        raise NotImplementedError

    def _phase(self) -> RolloutPhase:
        raise NotImplementedError

    def status(self) -> RolloutStatus:
        raise NotImplementedError

    async def _event(self, kind: str, message: str, actor: str = "workflow", reason: str = "") -> None:
        raise NotImplementedError

    @workflow.signal
    async def command_done(self, ack: CommandAck) -> None:
        self._parent.acked(ack)

    @workflow.update
    async def promote(self, req: PromoteRequest) -> RolloutStatus:
        self._c = apply(self._c, Control.PROMOTE_FULL if req.full else Control.PROMOTE)
        what = "all remaining steps" if req.full else "one step"
        await self._event("rollout_promote", f"promote: {what}", req.actor, req.reason)
        await workflow.wait_condition(lambda: not self._c.skip_step or self._phase() in FINISHED_PHASES)
        return self.status()

    @promote.validator
    def _check_promote(self, req: PromoteRequest) -> None:
        self._refuse(Control.PROMOTE_FULL if req.full else Control.PROMOTE)

    @workflow.update
    async def abort(self, req: AbortRequest) -> RolloutStatus:
        self._c = apply(self._c, Control.ABORT, Hold(reason=f"aborted by {req.actor}: {req.reason}",
                                                     actor=req.actor))
        await workflow.wait_condition(
            lambda: self._rolled_back_at is not None or self._phase() in FINISHED_PHASES)
        return self.status()

    @abort.validator
    def _check_abort(self, req: AbortRequest) -> None:
        self._refuse(Control.ABORT)

    @workflow.update(name="pause_rollout")
    async def pause_rollout(self, req: ControlRequest) -> RolloutStatus:
        """Pause (an update, so a pause that no longer applies is refused with the reason)."""
        await self._pause_by(req)
        return self.status()

    @pause_rollout.validator
    def _check_pause(self, req: ControlRequest) -> None:
        self._refuse(Control.PAUSE)

    @workflow.update(name="resume_rollout")
    async def resume_rollout(self, req: ControlRequest) -> RolloutStatus:
        await self._resume_by(req)
        return self.status()

    @resume_rollout.validator
    def _check_resume(self, req: ControlRequest) -> None:
        self._refuse(Control.RESUME)

    @workflow.signal
    async def pause(self, req: ControlRequest) -> None:
        """Legacy signal (older clients; recorded histories): ignored when it no longer applies."""
        if self._on(DERIVED_PHASE) and refusal(self._c, Control.PAUSE):
            return
        if self._phase() in FINISHED_PHASES or self._c.hold is not None:
            return
        await self._pause_by(req)

    @workflow.signal
    async def resume(self, req: ControlRequest) -> None:
        """Legacy signal: see `pause`."""
        if self._on(DERIVED_PHASE) and refusal(self._c, Control.RESUME):
            return
        if self._c.hold is None:
            return
        await self._resume_by(req)

    async def _pause_by(self, req: ControlRequest) -> None:
        reason = f"paused by {req.actor}" + (f": {req.reason}" if req.reason else "")
        self._c = apply(self._c, Control.PAUSE, Hold(reason=reason, actor=req.actor))
        await self._event("rollout_paused", reason, req.actor, req.reason)

    async def _resume_by(self, req: ControlRequest) -> None:
        self._c = apply(self._c, Control.RESUME)
        await self._event("rollout_resumed", f"resumed by {req.actor}", req.actor, req.reason)

    def _refuse(self, control: Control) -> None:
        why = refusal(self._c, control)
        if why:
            raise ValueError(f"rollout {self._id}: {why}")

