"""A rollout as a client shows it: the workflow's `status` query, its planned steps (from the
rollout's input) and the deployment's recent events (when each weight was set, pauses, extensions).
The status query has no step start time, so the step clock is derived from those events."""

from __future__ import annotations

from pydantic import BaseModel, Field

from coderunner.models.deployment import DeploymentEvent
from coderunner.models.rollout import Step
from coderunner.models.rollout_api import RolloutStatus


class RolloutView(BaseModel):
    status: RolloutStatus
    steps: list[Step] = Field(default_factory=list)
    events: list[DeploymentEvent] = Field(default_factory=list)
