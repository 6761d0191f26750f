"""Reading a workflow's state by query, the way a user expects it to behave on a busy machine.

The server refuses a query (FAILED_PRECONDITION, `WorkflowNotReadyFailure`) while the workflow's
last task failed or timed out and is being retried — a worker that was slow for a few seconds, or one
killed -9 whose task another worker takes over — and a query no worker picks up in time ends in
"Timeout expired" (a worker still starting, as right after `coderunner up`, or a busy one). Neither is
"no worker" at first: both pass in seconds, so the query is asked again for a while. Seen in CI as
`no worker is polling` from `coderunner logs` and `describe --watch` while a worker was alive but
loaded, and as a bare "Timeout expired" from the first describe after `up`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

from starter.sdk.errors import OperationError

T = TypeVar("T")
NOT_READY_WAIT_S = 20.0  # a workflow task timeout is seconds; a longer refusal is a real failure
# no answer in time: no worker picked the query up (one still starting, or busy); asked again too
UNANSWERED = {RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


class NoWorker(OperationError):
    """Queries need a live worker; while none polls, say so instead of showing a gRPC error."""


def not_ready(err: RPCError) -> bool:
    """The workflow's task is being retried (not: nobody polls)."""
    if err.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    details = err.grpc_status.details if err.grpc_status is not None else []
    typed = any("WorkflowNotReadyFailure" in d.type_url for d in details)
    return typed or "Workflow Task in failed state" in (err.message or "")


async def ask(query: Callable[[], Awaitable[T]], what: str, task_queue: str,
              wait_s: float = NOT_READY_WAIT_S) -> T:
    """`query()`, asked again while the workflow's task is being retried; NoWorker when none polls."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        try:
            return await query()
        except RPCError as err:
            if not_ready(err) or err.status in UNANSWERED:
                if loop.time() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                if err.status in UNANSWERED:
                    raise NoWorker(f"no worker answered a query for {what} within {wait_s:g}s: is one "
                                   f"polling {task_queue!r}? (`coderunner stack`; `coderunner up` starts one)"
                                   ) from err
                raise OperationError(
                    f"{what}: its workflow task has been failing for {wait_s:g}s — the worker's log and the "
                    "Temporal Web UI (the workflow's history) say why"
                ) from err
            if err.status == RPCStatusCode.FAILED_PRECONDITION:
                raise NoWorker(f"no worker is polling {task_queue!r}: run `coderunner up` "
                               "(or `coderunner worker`)") from err
            raise
