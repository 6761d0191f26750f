"""What a workflow did, read from its own history: activities (with their attempts) and timers, in order.

Tests assert on these (an ordering, a count of sweeps, a retry with backoff, a durable timer) instead
of on how long something took on the test machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client


@dataclass
class Activity:
    name: str
    scheduled: int  # index of its ActivityTaskScheduled event in the history
    closed: int | None = None  # index of its Completed / Failed / TimedOut event, if any
    completed: bool = False
    attempt: int = 0  # the attempt that closed it (1 = no retry), 0 while still open


@dataclass
class Timer:
    timer_id: str
    started: int  # index of its TimerStarted event
    duration_s: float
    summary: str
    fired: int | None = None  # index of its TimerFired event, if it fired


async def events(client: Client, workflow_id: str, run_id: str | None = None) -> list[HistoryEvent]:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return list(history.events)


def activities(history: list[HistoryEvent]) -> list[Activity]:
    """Every activity the history schedules, in the order it was scheduled."""
    by_event_id: dict[int, Activity] = {}
    started_attempt: dict[int, int] = {}
    for index, e in enumerate(history):
        t = e.event_type
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            by_event_id[e.event_id] = Activity(name=name, scheduled=index)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = e.activity_task_started_event_attributes
            started_attempt[attrs.scheduled_event_id] = attrs.attempt
        elif t in _CLOSED:
            scheduled_id = getattr(e, _CLOSED[t]).scheduled_event_id
            act = by_event_id[scheduled_id]
            act.closed, act.completed = index, t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            act.attempt = started_attempt.get(scheduled_id, 0)
    return list(by_event_id.values())


async def timers(client: Client, history: list[HistoryEvent]) -> list[Timer]:
    """Every durable timer the history starts, with its summary (the UI's text) and whether it fired."""
    by_id: dict[str, Timer] = {}
    for index, e in enumerate(history):
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attrs = e.timer_started_event_attributes
            summary = ""
            if e.HasField("user_metadata") and e.user_metadata.HasField("summary"):
                [summary] = await client.data_converter.decode([e.user_metadata.summary], [str])
            by_id[attrs.timer_id] = Timer(
                timer_id=attrs.timer_id,
                started=index,
                duration_s=attrs.start_to_fire_timeout.ToTimedelta().total_seconds(),
                summary=summary,
            )
        elif e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            by_id[e.timer_fired_event_attributes.timer_id].fired = index
    return list(by_id.values())


_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
