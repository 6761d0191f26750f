"""One line of `coderunner rollout history`: a rollout of a deployment, as Temporal remembers it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class RolloutRevision(BaseModel):
    revision: int  # 1 = the deployment's first rollout
    workflow_id: str
    version: str
    from_version: str
    started: datetime
    ended: datetime | None = None
    actor: str
    reason: str = ""
    phase: str  # the rollout's last phase ("promoted", "aborted", …; "failed" if it ended abnormally)
    outcome: str = ""


class UndoOutcome(BaseModel):
    """What `rollout undo --to-revision N` did: an immediate switch or a canary rollout."""

    revision: int
    version: str
    immediate: bool
    message: str
    workflow_id: str | None = None
