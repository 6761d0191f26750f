"""The rollout's phase and which controls apply: pure functions of `ControlState`.

Why one function: the phase used to be assigned in eleven places, so a `pause` could overwrite
PROMOTING with PAUSED, an `abort` was then accepted and ignored, and `resume` could set
PROGRESSING in the middle of an abort. Like Argo Rollouts (phase from spec + status: abort,
pause conditions, promote-full, current step), the workflow records *facts* (a control was
accepted, the run loop reached a stage, the rollout ended) and derives the phase from them here.

Precedence: a finished outcome, then an abort (requested or under way), then a committed
promotion, then provisioning, then a pause condition, else progressing. An abort always wins over
a pause and over a pending promote; nothing but `undo` (on the deployment) follows a committed
promotion.
"""

from __future__ import annotations

from coderunner.models.rollout import Control, ControlState, Hold, RolloutPhase, Stage


def phase_of(state: ControlState) -> RolloutPhase:
    if state.outcome == "promoted":
        return RolloutPhase.PROMOTED
    if state.outcome == "aborted":
        return RolloutPhase.ABORTED
    if state.abort is not None or state.stage == Stage.ROLLING_BACK:
        return RolloutPhase.ABORTING
    if state.stage == Stage.PROMOTING:
        return RolloutPhase.PROMOTING
    if state.stage == Stage.PROVISIONING and state.hold is None:
        return RolloutPhase.PROVISIONING
    if state.hold is not None:
        return RolloutPhase.PAUSED
    return RolloutPhase.PROGRESSING


def refusal(state: ControlState, control: Control) -> str | None:
    """Why `control` no longer applies to a rollout in `state` (None: it applies).

    The message names the phase and what the user can do instead.
    """
    phase = phase_of(state)
    if phase in (RolloutPhase.PROMOTED, RolloutPhase.ABORTED):
        promoted = phase is RolloutPhase.PROMOTED
        hint = " — `coderunner undo` goes back to the previous version" if promoted else ""
        return f"the rollout is already {phase.value}: nothing to {control.value.replace('_', ' ')}{hint}"
    if phase is RolloutPhase.ABORTING:
        if control is Control.ABORT:
            return f"the rollout is already aborting ({_why(state)})"
        return (f"the rollout is aborting ({_why(state)}): {control.value.replace('_', ' ')} no longer "
                f"applies — traffic is going back to the previous version")
    if phase is RolloutPhase.PROMOTING:
        if control is Control.ABORT:
            return ("too late to abort: the promotion is committed (all traffic is moving to the new "
                    "version) — `coderunner undo` goes back to the previous version once it is done")
        return (f"the rollout is promoting: the promotion is committed, "
                f"{control.value.replace('_', ' ')} no longer applies")
    if control is Control.PAUSE and state.hold is not None:
        return f"the rollout is already paused ({state.hold.reason})"
    if control is Control.RESUME and state.hold is None:
        return f"the rollout is {phase.value}, not paused: nothing to resume"
    if control in (Control.PAUSE, Control.PROMOTE, Control.PROMOTE_FULL) and state.promote_full:
        return "a full promotion is already requested: the rollout is moving to 100 %"
    return None


def apply(state: ControlState, control: Control, who: Hold | None = None) -> ControlState:
    """The state after an accepted control (call `refusal` first: this does not re-check).

    `who` carries the actor and the reason text (for pause: the pause reason; for abort: the
    abort reason as it will be reported).
    """
    who = who or Hold(reason="", actor="cli")
    if control is Control.PAUSE:
        return state.model_copy(update={"hold": who})
    if control is Control.RESUME:
        return state.model_copy(update={"hold": None})
    if control is Control.PROMOTE:
        return state.model_copy(update={"hold": None, "skip_step": True})
    if control is Control.PROMOTE_FULL:
        return state.model_copy(update={"hold": None, "promote_full": True})
    return state.model_copy(update={"abort": who})


def _why(state: ControlState) -> str:
    return state.abort.reason if state.abort else "rolling back"
