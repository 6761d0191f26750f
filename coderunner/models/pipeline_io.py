"""Activity I/O of the pipeline that is not part of the plan or the workflow's state."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from coderunner.models.pipeline import PlanAnalysis


class PrepareResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    analysis: PlanAnalysis
    workspace: str
    files: int
