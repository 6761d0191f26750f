"""Queries on a busy machine: a workflow whose task is being retried is not "no worker".

The server refuses queries while a workflow's last task failed or timed out. CI saw `coderunner logs`
and `describe --watch` exit with "no worker is polling" while the worker was alive but loaded. Here a
workflow fails its first task on purpose (the way a timed-out task looks to the server): `ask` waits
for the retried task and answers; with no time to wait it says the task is failing, not "no worker".
"""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.any_pb2 import Any
from temporalio import workflow
from temporalio.api.common.v1 import GrpcStatus as Status
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from starter.sdk.errors import OperationError
from starter.sdk.querying import NoWorker, ask
from workflows.registry import WORKFLOW_RUNNER

FAILED_FIRST: set[str] = set()  # workflow ids whose first task already failed (in this process)


@workflow.defn(sandboxed=False)
class FailsItsFirstTask:
    @workflow.run
    async def run(self) -> None:
        wid = workflow.info().workflow_id
        if wid not in FAILED_FIRST:
            FAILED_FIRST.add(wid)
            raise RuntimeError("first workflow task fails (a stand-in for a timed-out one)")
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def answer(self) -> str:
        return "ready"


def worker(client: Client, queue: str) -> Worker:
    return Worker(client, task_queue=queue, workflows=[FailsItsFirstTask], workflow_runner=WORKFLOW_RUNNER)


def refusal(type_url: str, message: str) -> RPCError:
    """The server's FAILED_PRECONDITION answer to a query, as the SDK raises it."""
    status = Status(code=RPCStatusCode.FAILED_PRECONDITION.value, message=message,
                    details=[Any(type_url=type_url)])
    return RPCError(message, RPCStatusCode.FAILED_PRECONDITION, status.SerializeToString())


NOT_READY = refusal("type.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure",
                    "Unable to query workflow due to Workflow Task in failed state.")
NO_POLLER = refusal("type.googleapis.com/temporal.api.errordetails.v1.FailedPreconditionFailure",
                    "no poller seen for task queue recently")


async def test_a_query_rides_out_a_retried_workflow_task(client: Client) -> None:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with worker(client, queue):
        handle = await client.start_workflow(FailsItsFirstTask.run, id=f"ask-{queue}", task_queue=queue)
        try:
            assert await ask(lambda: handle.query(FailsItsFirstTask.answer), "test", queue) == "ready"
            assert handle.id in FAILED_FIRST  # it did fail its first task
        finally:
            await handle.terminate()


async def test_a_refused_query_is_asked_again_while_the_task_is_retried() -> None:
    """The answer CI saw while a loaded worker's task was retried: asked again, then answered."""
    answers: list[RPCError | str] = [NOT_READY, NOT_READY, "ready"]

    async def query() -> str:
        answer = answers.pop(0)
        if isinstance(answer, RPCError):
            raise answer
        return answer

    assert await ask(query, "test", "q") == "ready" and answers == []


async def test_a_query_nobody_answered_in_time_is_asked_again_then_is_no_worker() -> None:
    """'Timeout expired': seen in CI right after `coderunner up` under load (its worker not polling yet)."""
    unanswered = RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")
    answers: list[RPCError | str] = [unanswered, "ready"]

    async def query() -> str:
        answer = answers.pop(0)
        if isinstance(answer, RPCError):
            raise answer
        return answer

    assert await ask(query, "deployment web", "q") == "ready"

    async def never() -> str:
        raise unanswered

    with pytest.raises(NoWorker, match="no worker answered a query for deployment web within 0s"):
        await ask(never, "deployment web", "q", wait_s=0)


async def test_a_task_that_keeps_failing_is_named_and_no_poller_is_no_worker() -> None:
    async def refused() -> str:
        raise NOT_READY

    async def nobody() -> str:
        raise NO_POLLER

    with pytest.raises(OperationError) as caught:
        await ask(refused, "deployment web", "q", wait_s=0)
    assert not isinstance(caught.value, NoWorker)
    assert "deployment web: its workflow task has been failing" in str(caught.value)
    with pytest.raises(NoWorker, match="no worker is polling 'q'"):
        await ask(nobody, "deployment web", "q")
