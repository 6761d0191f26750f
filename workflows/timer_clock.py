"""The clock a workflow decides on: never behind a timer that has fired.

A worker that ran a workflow's code for a status query, over a history whose newest event was a fired
timer (its own task not yet processed), saw the previous task's clock; a decision "is the deadline
reached?" then went the other way than on replay ([TMPRL1100] after a worker kill -9). Timers record
the moment they were set for; `now()` is at least the latest such moment (tests/test_replay_clock.py).
"""

from __future__ import annotations

from temporalio import workflow


class TimerClock:
    def __init__(self) -> None:
        self.on = False  # decided by the caller's patch (a run recorded before it keeps the plain clock)
        self._fired = 0.0

    def fired(self, target: float) -> None:
        """A timer set for `target` (workflow seconds) has fired."""
        self._fired = max(self._fired, target)

    def now(self) -> float:
        now = workflow.time()
        return max(now, self._fired) if self.on else now
