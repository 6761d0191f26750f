"""Live pipeline gauges, read at scrape time like the deployments' (telemetry/live.py): every running
PipelineWorkflow (from Temporal's visibility) is asked its `describe`, and the queue depth, tasks
running, pool size, dead letters, breaker state and elapsed vs critical path are published. A run
that ended disappears at the next scrape; its makespan is reported once by the workflow itself."""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client
from temporalio.service import RPCError

from coderunner.models.breaker import BreakerPhase
from coderunner.models.pipeline import PipelineDescription
from coderunner.telemetry.metrics import (
    PIPELINE_BREAKER_OPEN,
    PIPELINE_BREAKER_STATE,
    PIPELINE_CRITICAL_PATH,
    PIPELINE_DLQ,
    PIPELINE_ELAPSED,
    PIPELINE_LIVE_GAUGES,
    PIPELINE_POOL_SIZE,
    PIPELINE_QUEUE_DEPTH,
    PIPELINE_RUNNING,
)

log = logging.getLogger("coderunner.metrics")

RUNNING_PIPELINES = 'WorkflowType = "PipelineWorkflow" AND ExecutionStatus = "Running"'
MAX_RUNS = 100
QUERY_TIMEOUT_S = 3.0


class PipelineSource:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def running(self) -> list[str]:
        ids: list[str] = []
        try:
            async for wf in self.client.list_workflows(RUNNING_PIPELINES, limit=MAX_RUNS):
                ids.append(wf.id)
        except RPCError as err:
            log.warning("metrics: cannot list pipelines: %s", err)
        return ids

    async def describe(self, workflow_id: str) -> PipelineDescription | None:
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            return await asyncio.wait_for(
                handle.query("describe", result_type=PipelineDescription), QUERY_TIMEOUT_S
            )
        except (RPCError, TimeoutError) as err:
            log.debug("metrics: no describe for %s: %s", workflow_id, err)
            return None

    async def refresh(self) -> None:
        views = await asyncio.gather(*(self.describe(i) for i in await self.running()))
        publish([v for v in views if v is not None])


def publish(views: list[PipelineDescription]) -> None:
    for gauge in PIPELINE_LIVE_GAUGES:
        gauge.clear()
    for d in views:
        labels = (d.name, d.run)
        PIPELINE_QUEUE_DEPTH.labels(*labels).set(d.ready)
        PIPELINE_RUNNING.labels(*labels).set(d.running)
        PIPELINE_POOL_SIZE.labels(*labels).set(d.pool_size)
        PIPELINE_DLQ.labels(*labels).set(len(d.dead_letters))
        PIPELINE_BREAKER_OPEN.labels(*labels).set(1 if d.breaker_phase == BreakerPhase.OPEN.value else 0)
        if d.breaker_phase:
            PIPELINE_BREAKER_STATE.labels(*labels, d.breaker_phase).set(1)
        PIPELINE_ELAPSED.labels(*labels).set(d.elapsed_s)
        PIPELINE_CRITICAL_PATH.labels(*labels).set(d.critical_path_s)
