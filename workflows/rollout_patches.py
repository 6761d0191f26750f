"""The `workflow.patched` ids of CanaryRolloutWorkflow, each a behaviour change made to running rollouts.

They are pinned at the start of a run (all asked at once), so a run takes one path for its whole
life; rollouts recorded before a change (tests/histories/rollout_*.json) replay the legacy path.
"""

from __future__ import annotations

DERIVED_PHASE = "rollout-derived-phase"  # controls refused by decisions.rollout_phase
SEQUENTIAL = "canary-sequential-judgement"  # SPRT on errors, abort at once on strong evidence
STATISTICS = "rollout-window-statistics"  # the activity returns statistics, not raw samples
CONTINUE_AS_NEW = "rollout-continue-as-new"
EVIDENCE_GATE = "rollout-evidence-gate"  # issue 16: leave a weight only after healthy evidence
REFUSED_WEIGHT_ABORTS = "rollout-refused-weight-aborts"  # a weight the router refused rolls back
# A timer that fired means its moment has come. A worker that ran this code for a status query, over
# a history whose newest event was that timer (its own task not yet processed), saw the previous
# task's clock: the step "had not ended", its timer was started over, and the history it then wrote
# could not be replayed ([TMPRL1100], seen after a worker kill -9 with a second worker answering).
TIMER_CLOCK = "rollout-timer-clock"
PATCHES = (DERIVED_PHASE, SEQUENTIAL, STATISTICS, CONTINUE_AS_NEW, EVIDENCE_GATE, REFUSED_WEIGHT_ABORTS,
           TIMER_CLOCK)
