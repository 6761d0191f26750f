"""Dynamic config every Temporal server the project starts runs with (dev server and compose alike).

Why it exists: a history shard reads its transfer queue (the tasks that hand a new workflow task to
matching) at most `history.transferProcessorMaxPollRPS` times a second, 20 by default, with a burst
of about two seconds' worth. A workflow that runs short steps one after another — a pipeline chain
of quick dev steps, a rollout's checks — schedules a workflow task after every step, one read each;
once the burst is spent each one waited ~25 ms for the limiter, so the whole loop ran at 20 steps a
second (52 ms a task instead of ~29: `bench/pipeline_task_timeline.py`). Reads are cheap on
SQLite and on a small PostgreSQL, and the reader still only wakes when there is something to read,
so the limit is raised tenfold.
"""

from __future__ import annotations

from collections.abc import Mapping

DYNAMIC_CONFIG: dict[str, int] = {
    "history.transferProcessorMaxPollRPS": 200,
}


def dev_server_config_args(config: Mapping[str, int] = DYNAMIC_CONFIG) -> list[str]:
    """`--dynamic-config-value KEY=VALUE` flags for `temporal server start-dev` (a bench passes `{}`
    to measure the server's defaults beside ours)."""
    args: list[str] = []
    for key, value in config.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args
