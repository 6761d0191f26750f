"""The pipeline's circuit breaker: a pure decision, table tests and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions.circuit_breaker import cooldown_ends_s, dispatch_slots, step, trips
from coderunner.models.breaker import (
    Breaker,
    BreakerEvent,
    BreakerPhase,
    BreakerPolicy,
    Outcome,
    ProbeStarted,
    Tick,
)

POLICY = BreakerPolicy(window=6, min_count=4, failure_ratio=0.5, cooldown_s=10.0)
CLOSED, OPEN, HALF = BreakerPhase.CLOSED, BreakerPhase.OPEN, BreakerPhase.HALF_OPEN


def run(outcomes: list[bool], breaker: Breaker | None = None, now_s: float = 0.0) -> Breaker:
    b = breaker or Breaker()
    for n, failed in enumerate(outcomes):
        b = step(b, Outcome(step=f"t-{n}", failed=failed, now_s=now_s), POLICY)
    return b


@pytest.mark.parametrize(
    ("outcomes", "phase"),
    [
        ([], CLOSED),
        ([True, True, True], CLOSED),  # below the minimum count: no verdict
        ([True, True, True, True], OPEN),  # 4 of 4
        ([True, False, True, False], CLOSED),  # exactly 50 % does not open
        ([False, True, True, True], OPEN),  # 3 of 4
        ([False, False, False, True, True, True], CLOSED),  # 3 of 6 = 50 %
        ([False, False, False, True, True, True, True], OPEN),  # window 6: F F T T T T -> 4 of 6
        ([True, True, False, False, False, False, True, True], CLOSED),  # old failures slid out
    ],
)
def test_opens_above_half_of_a_minimum_count_in_the_window(outcomes: list[bool], phase: BreakerPhase) -> None:
    assert run(outcomes).phase == phase


def test_open_then_cooldown_then_one_probe_whose_success_closes() -> None:
    b = run([True] * 4, now_s=100.0)
    assert b.phase == OPEN and b.opened_s == 100.0 and b.opened == 1
    assert dispatch_slots(b) == 0 and cooldown_ends_s(b, POLICY) == 110.0
    assert step(b, Tick(now_s=109.9), POLICY).phase == OPEN
    assert step(b, Outcome(step="late-1", failed=False, now_s=105), POLICY) == b  # stragglers say nothing
    b = step(b, Tick(now_s=110.0), POLICY)
    assert b.phase == HALF and dispatch_slots(b) == 1
    b = step(b, ProbeStarted(step="p-1"), POLICY)
    assert b.probe == "p-1" and dispatch_slots(b) == 0  # one probe only
    assert step(b, ProbeStarted(step="p-2"), POLICY).probe == "p-1"
    assert step(b, Outcome(step="other-1", failed=False, now_s=111), POLICY) == b  # not the probe
    closed = step(b, Outcome(step="p-1", failed=False, now_s=112), POLICY)
    assert closed == Breaker(opened=1) and dispatch_slots(closed) is None


def test_a_failed_probe_reopens_for_a_new_cooldown() -> None:
    b = step(step(run([True] * 4), Tick(now_s=10), POLICY), ProbeStarted(step="p-1"), POLICY)
    b = step(b, Outcome(step="p-1", failed=True, now_s=12), POLICY)
    assert b.phase == OPEN and b.opened_s == 12 and b.opened == 2 and b.probe is None
    assert step(b, Tick(now_s=21), POLICY).phase == OPEN
    assert step(b, Tick(now_s=22), POLICY).phase == HALF


def test_a_zero_cooldown_goes_half_open_at_the_next_tick() -> None:
    policy = POLICY.model_copy(update={"cooldown_s": 0.0})
    b = step(Breaker(), Outcome(step="a-1", failed=True, now_s=5), policy.model_copy(update={"min_count": 1}))
    assert b.phase == OPEN
    assert step(b, Tick(now_s=5), policy).phase == HALF


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        BreakerPolicy(failure_ratio=1.0)
    with pytest.raises(ValueError):
        BreakerPolicy(window=0)
    with pytest.raises(ValueError):
        BreakerPolicy.model_validate({"windw": 3})


# ---- properties ---------------------------------------------------------------------------------

policies = st.builds(
    BreakerPolicy,
    window=st.integers(1, 12),
    min_count=st.integers(1, 12),
    failure_ratio=st.sampled_from([0.0, 0.25, 0.5, 0.75]),
    cooldown_s=st.sampled_from([0.0, 1.0, 5.0]),
)


@st.composite
def histories(draw: st.DrawFn) -> list[BreakerEvent]:
    """Events in time order: outcomes of numbered steps, ticks, probe starts."""
    events: list[BreakerEvent] = []
    now = 0.0
    for n in range(draw(st.integers(0, 40))):
        now += draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
        kind = draw(st.sampled_from(["outcome", "outcome", "tick", "probe"]))
        name = f"s-{draw(st.integers(0, n))}"
        if kind == "outcome":
            events.append(Outcome(step=name, failed=draw(st.booleans()), now_s=now))
        elif kind == "tick":
            events.append(Tick(now_s=now))
        else:
            events.append(ProbeStarted(step=name))
    return events


ALLOWED = {
    (CLOSED, CLOSED),
    (CLOSED, OPEN),
    (OPEN, OPEN),
    (OPEN, HALF),
    (HALF, HALF),
    (HALF, OPEN),
    (HALF, CLOSED),
}


@given(policies, histories())
def test_every_transition_is_one_the_breaker_allows(
    policy: BreakerPolicy, events: list[BreakerEvent]
) -> None:
    b = Breaker()
    for event in events:
        after = step(b, event, policy)
        assert (b.phase, after.phase) in ALLOWED
        if after.phase == CLOSED:
            assert len(after.failed) <= policy.window and not trips(after.failed, policy)
        if after.phase == OPEN:
            assert dispatch_slots(after) == 0 and after.opened_s is not None
        if after.phase == HALF:
            assert dispatch_slots(after) == (1 if after.probe is None else 0)
        if b.phase == OPEN and after.phase == HALF:
            assert isinstance(event, Tick) and event.now_s >= (cooldown_ends_s(b, policy) or 0)
        if b.phase == HALF and after.phase != HALF:  # only the probe's own outcome decides
            assert isinstance(event, Outcome) and event.step == b.probe
            assert after.phase == (OPEN if event.failed else CLOSED)
        b = after


@given(policies, st.lists(st.booleans(), max_size=30))
def test_closed_opens_exactly_when_the_window_trips(policy: BreakerPolicy, outcomes: list[bool]) -> None:
    b = Breaker()
    for n, failed in enumerate(outcomes):
        window = [*b.failed, failed][-policy.window :]
        b = step(b, Outcome(step=f"s-{n}", failed=failed, now_s=0.0), policy)
        if b.phase == OPEN:
            assert trips(window, policy) and b.failed == []
            return
        assert b.failed == window


@given(policies, st.integers(0, 20))
def test_successes_never_open_it(policy: BreakerPolicy, count: int) -> None:
    assert run_with(policy, [False] * count).phase == CLOSED


def run_with(policy: BreakerPolicy, outcomes: list[bool]) -> Breaker:
    b = Breaker()
    for n, failed in enumerate(outcomes):
        b = step(b, Outcome(step=f"s-{n}", failed=failed, now_s=0.0), policy)
    return b
