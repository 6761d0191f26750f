"""Every long-running workflow the project starts retries a workflow task lost with a killed worker
within 3 s (`WORKFLOW_TASK_TIMEOUT`, workflows/options.py), not after the server's default 10 s.
Pipelines (started by the SDK) and rollouts (children of a deployment) had the default: a kill -9
mid-pipeline stalled the run 10 s (`test_worker_killed_mid_ops_loses_nothing`, a history read)."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from starter.sdk import CodeRunner
from starter.sdk.pipelines import Pipelines
from tests.cleanup import removed_after
from tests.pipeline_helpers import task, write_plan
from tests.rollout_helpers import deployed_v1, fast_strategy
from workflows.options import WORKFLOW_TASK_TIMEOUT


async def task_timeout(client: Client, workflow_id: str) -> float:
    config = (await client.get_workflow_handle(workflow_id).describe()).raw_description.execution_config
    return config.default_workflow_task_timeout.ToTimedelta().total_seconds()


async def test_a_pipeline_retries_a_lost_workflow_task_within_3_s(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    workflow_id = await pipes.run(write_plan(tmp_path, name, [task("t", ["t.txt"])]), "r1")
    await pipes.wait(workflow_id)
    assert await task_timeout(cr.client, workflow_id) == WORKFLOW_TASK_TIMEOUT.total_seconds() == 3


async def test_a_rollout_retries_a_lost_workflow_task_within_3_s(cr: CodeRunner, name: str) -> None:
    async with removed_after(cr, name):
        await deployed_v1(cr, name, replicas=1)
        manual = fast_strategy("50,100", "300s", inconclusive_limit=10_000)
        started = await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=manual)
        assert await task_timeout(cr.client, started.workflow_id) == 3
