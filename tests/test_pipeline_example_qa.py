"""The Delivery pipeline II example (examples/pipeline_qa) end to end on the real stack: parallel tasks,
a task fixed by its retry after failing QA once, a poison task in the DLQ skipped by a person, then
the integration stage, then the Ops stage (here a new deployment; the canary path: test_pipeline_demo)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from coderunner.models.pipeline import PipelineStatus, TaskStatus
from coderunner.models.pipeline_ops import OpsPhase
from coderunner.models.pipeline_qa import SkipMode
from starter.sdk import CodeRunner
from starter.sdk.pipelines import Pipelines
from tests.cleanup import removed_after
from tests.cli_helpers import REPO
from tests.pipeline_helpers import journal_of, steps
from tests.polling import until

EXAMPLE = REPO / "examples" / "pipeline_qa"


async def run_example(pipes: Pipelines, plan: Path, run: str) -> str:
    """Run the example; when legacy is in the DLQ, a person skips it (and report, which needs it)."""
    workflow_id = await pipes.run(plan, run)
    await until(lambda: pipes.dead_letters(workflow_id), bool, "legacy in the DLQ")
    await pipes.skip(
        workflow_id, "legacy", reason="legacy API is retired", dependents=SkipMode.SKIP, actor="ops-oncall"
    )
    return workflow_id


async def test_the_example_fixes_stats_dead_letters_legacy_and_integrates(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "example")
    plan = tmp_path / "example" / "plan.yaml"
    data = yaml.safe_load(plan.read_text())
    data["deploy"]["name"] = name  # no deployment of that name: the Ops stage makes a new one
    plan.write_text(yaml.safe_dump(data))
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))
    async with removed_after(cr, name):
        workflow_id = await run_example(pipes, plan, "r1")
        result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED, result
    assert result.ops is not None and (result.ops.kind, result.ops.phase) == ("new", OpsPhase.DEPLOYED)
    assert result.done == 4 and result.skipped == ["legacy", "report"] and result.dead == []
    desc = await pipes.describe(workflow_id)
    attempts = {t.id: (t.status, t.attempt) for t in desc.tasks}
    assert attempts["stats"] == (TaskStatus.DONE, 2)  # failed QA once, fixed by its retry
    assert attempts["legacy"] == (TaskStatus.SKIPPED, 3)  # three attempts, then the DLQ
    assert desc.integration == "passed"
    entries = journal_of(pipes.runs_dir, workflow_id)
    assert [a for t, a in steps(entries, "start") if t == "legacy"] == [1, 2, 3]
    assert steps(entries, "integration-finish") == [("@integration", 1)]
    stats = (Path(result.workspace) / "calc" / "stats.py").read_text()
    assert "sum(xs)) / len(xs)" in stats
