"""The rollout phase as a pure function of explicit state, and which controls apply (issue 8, defect 4).

Every pair of controls in both orders, from a progressing rollout: the first is applied (unless
refused), then the second is checked and applied; the table says the phase after each and which
are refused. Then each control against the stages no control may touch (promoting, rolling back,
finished) — the races the issue names: pause during PROMOTING/ABORTING, abort after promotion is
committed, resume during an abort.
"""

from __future__ import annotations

import itertools

import pytest

from coderunner.decisions.rollout_phase import apply, phase_of, refusal
from coderunner.models.rollout import Control, ControlState, Hold, RolloutPhase, Stage

P, R, S, F, A = Control.PAUSE, Control.RESUME, Control.PROMOTE, Control.PROMOTE_FULL, Control.ABORT
PROG, PAUSED, ABORTING = RolloutPhase.PROGRESSING, RolloutPhase.PAUSED, RolloutPhase.ABORTING
STEPPING = ControlState(stage=Stage.STEPPING)
WHO = Hold(reason="by test", actor="test")

# phase after one control from PROGRESSING (None: refused, phase unchanged)
FIRST = {P: PAUSED, R: None, S: PROG, F: PROG, A: ABORTING}
# (first, second) -> phase after the second, or None when the second is refused
SECOND = {
    (P, P): None, (P, R): PROG, (P, S): PROG, (P, F): PROG, (P, A): ABORTING,
    (R, P): PAUSED, (R, R): None, (R, S): PROG, (R, F): PROG, (R, A): ABORTING,
    (S, P): PAUSED, (S, R): None, (S, S): PROG, (S, F): PROG, (S, A): ABORTING,
    (F, P): None, (F, R): None, (F, S): None, (F, F): None, (F, A): ABORTING,
    (A, P): None, (A, R): None, (A, S): None, (A, F): None, (A, A): None,
}


def run(state: ControlState, control: Control) -> tuple[ControlState, str | None]:
    why = refusal(state, control)
    return (state if why else apply(state, control, WHO)), why


@pytest.mark.parametrize(("first", "second"), list(itertools.product(Control, Control)),
                         ids=lambda c: c.value)
def test_every_pair_of_controls_in_both_orders(first: Control, second: Control) -> None:
    state, why = run(STEPPING, first)
    assert (why is None) == (FIRST[first] is not None), why
    assert phase_of(state) == (FIRST[first] or PROG)
    before = phase_of(state)
    state, why = run(state, second)
    expected = SECOND[(first, second)]
    assert (why is None) == (expected is not None), why
    assert phase_of(state) == (expected or before)
    if why:
        assert "rollout" in why or "promotion" in why  # a sentence, not a code


def test_table_covers_every_pair() -> None:
    assert set(SECOND) == set(itertools.product(Control, Control))


@pytest.mark.parametrize("control", list(Control), ids=lambda c: c.value)
def test_no_control_applies_once_promotion_is_committed(control: Control) -> None:
    promoting = ControlState(stage=Stage.PROMOTING)
    assert phase_of(promoting) == RolloutPhase.PROMOTING
    why = refusal(promoting, control)
    assert why and "promot" in why
    if control is A:
        assert "too late to abort" in why and "undo" in why


@pytest.mark.parametrize("control", list(Control), ids=lambda c: c.value)
def test_no_control_applies_during_an_abort(control: Control) -> None:
    for aborting in (ControlState(stage=Stage.ROLLING_BACK),
                     apply(STEPPING, A, Hold(reason="aborted by ann: bad build", actor="ann"))):
        assert phase_of(aborting) == ABORTING
        why = refusal(aborting, control)
        assert why and "aborting" in why


@pytest.mark.parametrize("outcome", ["promoted", "aborted"])
@pytest.mark.parametrize("control", list(Control), ids=lambda c: c.value)
def test_nothing_applies_to_a_finished_rollout(outcome: str, control: Control) -> None:
    done = ControlState(stage=Stage.DONE, outcome=outcome)  # type: ignore[arg-type]
    assert phase_of(done) == RolloutPhase(outcome)
    why = refusal(done, control)
    assert why and f"already {outcome}" in why


def test_phase_precedence() -> None:
    """Abort beats pause and promote; a pause condition shows even while provisioning."""
    paused = apply(STEPPING, P, WHO)
    assert phase_of(paused) == PAUSED
    assert phase_of(apply(paused, A, WHO)) == ABORTING
    assert phase_of(ControlState()) == RolloutPhase.PROVISIONING
    assert phase_of(apply(ControlState(), P, WHO)) == PAUSED
    assert phase_of(ControlState(stage=Stage.PROMOTING, hold=WHO)) == RolloutPhase.PROMOTING
    assert phase_of(ControlState(stage=Stage.ROLLING_BACK, hold=WHO)) == ABORTING


def test_refusals_say_why() -> None:
    assert refusal(STEPPING, R) == "the rollout is progressing, not paused: nothing to resume"
    assert "already paused (by test)" in (refusal(apply(STEPPING, P, WHO), P) or "")
    full = apply(STEPPING, F, WHO)
    assert "full promotion is already requested" in (refusal(full, P) or "")
