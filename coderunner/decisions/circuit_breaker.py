"""The pipeline's circuit breaker, pure: (state, event, policy) → next state.

Closed: every attempt outcome enters a sliding window of the last `window` outcomes; with at least
`min_count` of them and a failure share above `failure_ratio` (strictly: 50 % of 4 does not open),
the breaker opens and the window is cleared. Open: nothing is dispatched; outcomes of steps that were
already running are ignored (they say nothing new); once `cooldown_s` has passed since it opened, a
tick makes it half-open. Half-open: exactly one probe may be dispatched; only that probe's outcome
counts — success closes the breaker (fresh window), failure reopens it (a new cooldown).
"""

from __future__ import annotations

from coderunner.models.breaker import (
    Breaker,
    BreakerEvent,
    BreakerPhase,
    BreakerPolicy,
    Outcome,
    ProbeStarted,
    Tick,
)


def trips(failed: list[bool], policy: BreakerPolicy) -> bool:
    """More than `failure_ratio` of at least `min_count` outcomes failed."""
    return len(failed) >= policy.min_count and sum(failed) > policy.failure_ratio * len(failed)


def step(breaker: Breaker, event: BreakerEvent, policy: BreakerPolicy) -> Breaker:
    """The breaker after `event`."""
    if isinstance(event, Outcome):
        return _on_outcome(breaker, event, policy)
    if isinstance(event, Tick):
        return _on_tick(breaker, event, policy)
    return _on_probe(breaker, event)


def _on_outcome(breaker: Breaker, event: Outcome, policy: BreakerPolicy) -> Breaker:
    if breaker.phase == BreakerPhase.CLOSED:
        window = [*breaker.failed, event.failed][-policy.window :]
        if trips(window, policy):
            return _opened(breaker, event.now_s)
        return breaker.model_copy(update={"failed": window})
    if breaker.phase == BreakerPhase.HALF_OPEN and breaker.probe == event.step:
        if event.failed:
            return _opened(breaker, event.now_s)
        return Breaker(opened=breaker.opened)
    return breaker


def _opened(breaker: Breaker, now_s: float) -> Breaker:
    return Breaker(phase=BreakerPhase.OPEN, opened_s=now_s, opened=breaker.opened + 1)


def _on_tick(breaker: Breaker, event: Tick, policy: BreakerPolicy) -> Breaker:
    ends = cooldown_ends_s(breaker, policy)
    if ends is not None and event.now_s >= ends:
        return breaker.model_copy(update={"phase": BreakerPhase.HALF_OPEN, "probe": None})
    return breaker


def _on_probe(breaker: Breaker, event: ProbeStarted) -> Breaker:
    if breaker.phase == BreakerPhase.HALF_OPEN and breaker.probe is None:
        return breaker.model_copy(update={"probe": event.step})
    return breaker


def cooldown_ends_s(breaker: Breaker, policy: BreakerPolicy) -> float | None:
    """When an open breaker may let a probe through (None unless open)."""
    if breaker.phase != BreakerPhase.OPEN or breaker.opened_s is None:
        return None
    return breaker.opened_s + policy.cooldown_s


def dispatch_slots(breaker: Breaker) -> int | None:
    """How many steps may start now: None = no limit (closed), 1 = the probe, 0 = none."""
    if breaker.phase == BreakerPhase.CLOSED:
        return None
    if breaker.phase == BreakerPhase.HALF_OPEN and breaker.probe is None:
        return 1
    return 0


def describe(breaker: Breaker, policy: BreakerPolicy) -> str:
    """One line for status views."""
    if breaker.phase == BreakerPhase.CLOSED:
        return f"closed ({sum(breaker.failed)} of the last {len(breaker.failed)} attempts failed)"
    if breaker.phase == BreakerPhase.OPEN:
        return f"open: dispatch paused for {policy.cooldown_s:g}s after too many failures"
    return "half-open: " + (f"probe {breaker.probe} running" if breaker.probe else "one probe may start")
