"""Activity I/O of the pipeline that is not part of the plan or the workflow's state."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from coderunner.models.pipeline import PipelineStatus, PlanAnalysis


class PrepareResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    analysis: PlanAnalysis
    workspace: str
    files: int


class RunMetric(BaseModel):
    """A finished run, reported once by the workflow (local activity `pipeline_metric`)."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    status: PipelineStatus
    makespan_s: float
    critical_path_s: float
