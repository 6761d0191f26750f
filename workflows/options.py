"""Activity options shared by the workflows: timeouts and backoff in one place."""

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

# Calls to the sandbox host: short per attempt, retried with backoff while the host restarts.
SANDBOX_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(minutes=3),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=300),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=10),
        non_retryable_error_types=["InvalidInstanceSpec"],
    ),
}

# Store writes: cheap, retried for a long time (a DB blip must not fail a deployment).
STORE_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=15)
    ),
}


def health_wait(deadline_s: float) -> ActivityOptions:
    """One probe per attempt with exponential backoff; the deadline bounds the whole wait."""
    return {
        "start_to_close_timeout": timedelta(seconds=10),
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
