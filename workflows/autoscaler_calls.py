"""Activity options of the AutoscalerWorkflow and the audit-event shape it writes.

Kept apart from the workflow so the loop reads as intent. A metrics read that keeps failing gives
up within a few sync intervals (the loop records "no decision" and tries again next time); a scale
request may wait for instances to boot, and heartbeats so a dead worker is noticed in seconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

from workflows.options import ActivityOptions


def metrics_call(interval_s: float) -> ActivityOptions:
    return {
        "start_to_close_timeout": timedelta(seconds=5),
        "schedule_to_close_timeout": timedelta(seconds=max(30.0, 3 * interval_s)),
        "retry_policy": RetryPolicy(initial_interval=timedelta(milliseconds=300),
                                    maximum_interval=timedelta(seconds=5)),
    }


SCALE_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=10),
    "heartbeat_timeout": timedelta(seconds=3),  # the activity heartbeats every second
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=20,
        non_retryable_error_types=["ScaleRefused"],
    ),
}

WEBHOOK_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
}


def audit(kind: str, key: str, message: str, actor: str = "autoscaler", reason: str = "",
          **details: Any) -> dict[str, Any]:
    """One audit-log row; `key` makes a retried record activity write it once."""
    return {"kind": kind, "actor": actor, "reason": reason, "event_key": key,
            "details": {"message": message, **details}}
