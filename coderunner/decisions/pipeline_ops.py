"""The Ops stage's decisions, pure: what a rollout's end means for the release, and the pipeline's
status while and after the Ops stage runs."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from coderunner.models.pipeline import PipelineStatus
from coderunner.models.pipeline_ops import OPS_FAILED, OPS_RUNNING, OpsPhase, OpsState
from coderunner.models.rollout import RolloutPhase


def rollout_verdict(phase: RolloutPhase) -> OpsPhase:
    """A finished canary: promoted, rolled back (aborted: by its analysis or a person), or failed."""
    if phase == RolloutPhase.PROMOTED:
        return OpsPhase.PROMOTED
    if phase == RolloutPhase.ABORTED:
        return OpsPhase.ROLLED_BACK
    return OpsPhase.FAILED


KEEP_RELEASES = 5


def releases_to_prune(
    released_at: Mapping[str, float], in_use: Collection[str], keep: int = KEEP_RELEASES
) -> list[str]:
    """Which of a pipeline's releases (run -> when it was released) to remove. The newest `keep` stay
    so `rollout undo` has somewhere to go back to, and so does any release a deployment still runs or
    rolls out, however old: an instance restarted there must find its files."""
    newest = sorted(released_at, key=lambda run: (released_at[run], run), reverse=True)
    return sorted(run for run in newest[keep:] if run not in in_use)


def ops_status(base: PipelineStatus, ops: OpsState | None) -> PipelineStatus:
    """`base`: the status from tasks, decisions and integration. A succeeded run is still running
    while its release rolls out, and failed when the release was rolled back or failed."""
    if ops is None or base != PipelineStatus.SUCCEEDED:
        return base
    if ops.phase in OPS_RUNNING:
        return PipelineStatus.RUNNING
    if ops.phase in OPS_FAILED:
        return PipelineStatus.FAILED
    return base


def ops_reason(ops: OpsState) -> str:
    """The run's reason after its Ops stage ('' when the release is live)."""
    what = f"{ops.deployment} {ops.version}"
    if ops.phase == OpsPhase.ROLLED_BACK:
        return f"Ops: the canary of {what} was rolled back: {ops.outcome}"
    if ops.phase == OpsPhase.FAILED:
        return f"Ops: the release of {what} failed: {ops.outcome}"
    return ""


def ops_summary(ops: OpsState) -> str:
    """One line for the UI and the CLI. A rollout's outcome starts with its own verdict ("promoted:
    web now runs v2"), which the phase already says: it is not said twice."""
    how = {"rollout": f"canary rollout {ops.from_version} → {ops.version}", "new": "new deployment"}
    text = f"Ops: {ops.deployment} {ops.version} ({how.get(ops.kind, 'release')}) {ops.phase.value}"
    outcome = ops.outcome.removeprefix(f"{ops.phase.value}: ")
    return text + (f": {outcome}" if outcome else "")
