"""The pipeline part of `coderunner demo` (starter/tools/demo_pipeline.py) on the real stack: the
examples/pipeline_qa plan through QA, a dead letter skipped by a person, integration, and an Ops
canary of the running service that promotes the pipeline's build under live traffic."""

from __future__ import annotations

from pathlib import Path

import httpx

from coderunner.models.pipeline import PipelineStatus
from coderunner.models.pipeline_ops import OpsPhase
from starter.sdk import CodeRunner
from starter.tools.demo_pipeline import pipeline_story
from tests.cleanup import removed_after
from tests.cli_helpers import REPO
from tests.conftest import FAST


async def test_the_demo_pipeline_is_released_by_a_canary_that_promotes(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    said: list[str] = []
    async with removed_after(cr, name):
        result = await pipeline_story(
            cr, REPO, FAST, said.append, copy_to=tmp_path / "example", deployment=name
        )
        assert result.status == PipelineStatus.SUCCEEDED, result
        assert result.skipped == ["legacy", "report"]
        ops = result.ops
        assert ops is not None
        assert (ops.phase, ops.kind, ops.from_version) == (OpsPhase.PROMOTED, "rollout", "v1")
        desc = await cr.describe(name)
        assert desc.spec.version == result.run and desc.router_url
        async with httpx.AsyncClient(timeout=5) as http:
            answer = (await http.get(desc.router_url + "/")).json()
        assert answer == {"version": result.run, "mean": "3.00"}  # the pipeline's build, now serving
    assert any("Ops canary" in s for s in said)
