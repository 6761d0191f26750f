"""Activity options shared by the workflows: timeouts and backoff in one place.

Sized to the work, so an activity lost with its worker (kill -9) is retried within seconds: the
server only notices a dead worker when the attempt's start-to-close (or heartbeat) timeout expires,
so a call that answers in well under a second gets a few seconds, not 15. A call whose work is
longer by design (stopping an instance with its grace period) gets that time on top. Timeouts are
not part of what replay compares (only the commands' kinds and ids), so running workflows pick
these up without a `workflow.patched`. bench/recovery_time.py measures kill -9 -> progress.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio.common import RetryPolicy


class ActivityOptions(TypedDict, total=False):
    """The keyword arguments of `workflow.execute_activity_method` we set, typed so `**options` checks."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    heartbeat_timeout: timedelta
    retry_policy: RetryPolicy

# A worker killed -9 cannot hand back the workflows it had cached: their next workflow task waits on
# its sticky queue this long before any worker may take it (the SDK's default is 10 s).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)

# A workflow task started on a worker that dies is retried only after this (Temporal's default is
# 10 s). Our workflow tasks take milliseconds; a slow one that times out is simply retried.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=3)

# Calls to the sandbox host: short per attempt, retried with backoff while the host restarts.
SANDBOX_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=3),  # answers in < 0.5 s; a sweep's probe times out at 2 s
    "schedule_to_close_timeout": timedelta(minutes=3),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        non_retryable_error_types=["InvalidInstanceSpec"],
    ),
}

# Store writes: cheap, retried for a long time (a DB blip must not fail a deployment).
STORE_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=3),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=15)
    ),
}


def stop_call(grace_s: float) -> ActivityOptions:
    """Destroying an instance waits up to its stop grace before SIGKILL: that time, plus a call's."""
    return {**SANDBOX_CALL, "start_to_close_timeout": timedelta(seconds=grace_s + 3)}


def health_wait(deadline_s: float) -> ActivityOptions:
    """A few quick probes per attempt with exponential backoff; the deadline bounds the whole wait."""
    return {
        "start_to_close_timeout": timedelta(seconds=3),  # 5 probes: < 1 s when refused fast
        "schedule_to_close_timeout": timedelta(seconds=deadline_s),
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(milliseconds=200),
            backoff_coefficient=1.5,
            maximum_interval=timedelta(seconds=3),
            non_retryable_error_types=["InstanceExited"],
        ),
    }


# Waiting for a rollout a continued deployment run re-linked (activities/rollout_watch.py): as long as
# the rollout lasts; the heartbeat timeout bounds how long a lost worker leaves it unwatched.
ROLLOUT_WATCH: ActivityOptions = {
    "start_to_close_timeout": timedelta(days=30),
    "heartbeat_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)
    ),
}
