"""A pipeline run's stage, derived from its state in one place (as a rollout's phase is): what the
`describe` query, `pipeline status` and the Web UI's details show."""

from __future__ import annotations

from coderunner.models.pipeline import PipelineState, PipelineStatus, TaskStatus
from coderunner.models.pipeline_ops import OPS_RUNNING


def stage_of(s: PipelineState, has_integration: bool = False) -> str:
    """pm, dev (dev and QA steps), integration (every task done or skipped, the plan's integration
    command not passed yet), ops or done."""
    if s.analysis is None:
        return "pm"
    if s.ops is not None and s.ops.phase in OPS_RUNNING:
        return "ops"
    if s.status not in (PipelineStatus.RUNNING, PipelineStatus.ANALYZING):
        return "done"
    finished = all(t.status in (TaskStatus.DONE, TaskStatus.SKIPPED) for t in s.tasks.values())
    return "integration" if has_integration and finished and s.integration != "passed" else "dev"
