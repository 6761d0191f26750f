"""Pipeline Ops stage: release the run's workspace and ask the deployment to roll it out.

`pipeline_release` copies the workspace to `<releases_dir>/<pipeline>/<run>` (once, atomically),
readable by the sandboxed app: the runs dir lives in the state directory, which sandboxes never see.
`pipeline_ops_rollout` asks the app's DeploymentWorkflow for a canary rollout of that release (its
`rollout` update, through the worker's Temporal client: a workflow cannot call another workflow's
update), or answers `new` when no deployment of that name is live. It is idempotent: a retry finds
the rollout it started (the rollout's id is `rollout/<name>/<version>`) instead of asking again.
`pipeline_await_deployed` waits, heartbeating, until a new deployment is running (or has failed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.decisions.pipeline_ops import releases_to_prune
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentStatus,
    OperationRequest,
    OperationResult,
    workflow_id_for,
)
from coderunner.models.pipeline_ops import (
    AbortRolloutRequest,
    DeployedRequest,
    DeployedResult,
    OpsRolloutRequest,
    OpsStarted,
    ReleaseRequest,
    ReleaseResult,
    WithdrawRequest,
)
from coderunner.models.rollout_api import (
    AbortRequest,
    RolloutInput,
    RolloutRequest,
    RolloutStarted,
    RolloutStatus,
)
from coderunner.pipeline.workspace import copy_tree, run_dir

POLL_S = 1.0


class PipelineOpsActivities:
    @activity.defn(name="pipeline_release")
    async def release(self, req: ReleaseRequest) -> ReleaseResult:
        if not req.releases_dir:
            raise ApplicationError(
                "no releases dir: this run was started by a client that does not set one", non_retryable=True
            )
        source = run_dir(req.runs_dir, req.pipeline, req.run) / "workspace"
        dest = Path(req.releases_dir) / req.pipeline / req.run
        await asyncio.to_thread(copy_tree, source, dest)
        files = await asyncio.to_thread(_open_to_all, dest)
        for above in (dest.parent, dest.parent.parent):  # made under the worker's umask (077)
            os.chmod(above, 0o755)
        in_use = {req.run, *await _runs_in_use(req.deployment, dest.parent)}
        pruned = releases_to_prune(_released_at(dest.parent), in_use)
        for run in pruned:
            await asyncio.to_thread(shutil.rmtree, dest.parent / run, True)
        return ReleaseResult(path=str(dest), files=files, pruned=pruned)

    @activity.defn(name="pipeline_ops_rollout")
    async def rollout(self, req: OpsRolloutRequest) -> OpsStarted:
        name = req.deploy.name
        handle = activity.client().get_workflow_handle(workflow_id_for(name))
        desc = await _live_description(handle)
        if desc is None:
            return OpsStarted(kind="new")
        for link in (desc.rollout, desc.last_rollout):
            if link is not None and link.version == req.version:
                if not await _started_by(link.workflow_id, req.actor):  # same run id, another pipeline
                    raise ApplicationError(
                        f"deployment {name} already had a rollout of version {req.version} "
                        f"({link.workflow_id}) that this pipeline did not start: run it with another run id",
                        non_retryable=True,
                    )
                return OpsStarted(  # a retry: this run's rollout exists
                    kind="rollout", workflow_id=link.workflow_id, from_version=link.from_version
                )
        request = RolloutRequest(
            version=req.version,
            env={"VERSION": req.version, **req.deploy.env},
            strategy=req.deploy.canary.strategy(),
            scale_down_delay_s=2.0,
            actor=req.actor,
            reason=req.reason,
            command=req.deploy.spec_for(req.version, req.release_dir).command,
            working_dir=req.release_dir,
            health_path=req.deploy.health_path,
        )
        try:
            started = await handle.execute_update("rollout", request, result_type=RolloutStarted)
        except WorkflowUpdateFailedError as err:
            why = getattr(err.cause, "message", None) or str(err.cause or err)
            refused = f"deployment {name} refused the rollout: {why}"
            raise ApplicationError(refused, non_retryable=True) from err
        return OpsStarted(kind="rollout", workflow_id=started.workflow_id, from_version=started.from_version)

    @activity.defn(name="pipeline_abort_rollout")
    async def abort_rollout(self, req: AbortRolloutRequest) -> str:
        """The rollout's `abort` update (it answers once rolled back); one that has ended stays as is."""
        handle = activity.client().get_workflow_handle(req.workflow_id)
        try:
            status = await handle.execute_update(
                "abort", AbortRequest(reason=req.reason, actor=req.actor), result_type=RolloutStatus
            )
        except WorkflowUpdateFailedError as err:  # refused: it is no longer abortable (it ended)
            return f"not aborted: {getattr(err.cause, 'message', None) or err.cause}"
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return "not aborted: it has ended"
        return f"aborted: {status.phase.value}"

    @activity.defn(name="pipeline_withdraw_deployment")
    async def withdraw(self, req: WithdrawRequest) -> str:
        """The deployment's `delete` update, only while it still runs this run's version: one that
        a person has deployed over since is left alone. Idempotent: a deleted one stays deleted."""
        handle = activity.client().get_workflow_handle(workflow_id_for(req.deployment))
        try:
            desc = await _live_description(handle)
        except ApplicationError:  # being deleted already
            return f"deployment {req.deployment} is being deleted"
        if desc is None:
            return f"deployment {req.deployment} is gone"
        if desc.spec.version != req.version:
            return f"deployment {req.deployment} left as is: it runs {desc.spec.version} now"
        try:
            await handle.execute_update(
                "delete", OperationRequest(reason=req.reason, actor=req.actor), result_type=OperationResult
            )
        except WorkflowUpdateFailedError as err:  # refused: it has ended meanwhile
            why = getattr(err.cause, "message", None) or err.cause
            return f"deployment {req.deployment} not deleted: {why}"
        return f"deployment {req.deployment} {req.version} deleted"

    @activity.defn(name="pipeline_await_deployed")
    async def await_deployed(self, req: DeployedRequest) -> DeployedResult:
        handle = activity.client().get_workflow_handle(workflow_id_for(req.deployment))
        while True:
            activity.heartbeat()
            desc = await handle.query("describe", result_type=DeploymentDescription)
            if desc.status == DeploymentStatus.RUNNING and desc.spec.version == req.version:
                return DeployedResult(ok=True, detail=f"{req.deployment} {req.version} is running")
            if desc.status in (DeploymentStatus.FAILED, DeploymentStatus.DELETED, DeploymentStatus.STOPPED):
                why = desc.status_reason or desc.status.value
                return DeployedResult(ok=False, detail=f"{req.deployment} {req.version}: {why}")
            await asyncio.sleep(POLL_S)

    def all(self) -> list[object]:
        return [self.release, self.rollout, self.abort_rollout, self.withdraw, self.await_deployed]


async def _live_description(handle: WorkflowHandle) -> DeploymentDescription | None:
    """The deployment's `describe`, or None when no deployment of that name is live."""
    try:
        info = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if info.status != WorkflowExecutionStatus.RUNNING:
        return None
    desc: DeploymentDescription = await handle.query("describe", result_type=DeploymentDescription)
    if desc.status in (DeploymentStatus.DELETING, DeploymentStatus.DELETED):
        raise ApplicationError(f"deployment {desc.spec.name} is being deleted", non_retryable=False)
    return desc


async def _started_by(workflow_id: str, actor: str) -> bool:
    """Whether the rollout `workflow_id` was asked for by `actor` (read from its input, like `rollout
    history` does)."""
    client = activity.client()
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        started = event.workflow_execution_started_event_attributes
        [inp] = await client.data_converter.decode(started.input.payloads, [RolloutInput])
        return bool(inp.actor == actor)
    return False


async def _runs_in_use(deployment: str, releases: Path) -> set[str]:
    """The releases (run ids) the deployment runs or rolls out now: its version, the canary's and the
    stable one's (a pipeline's version is its run id), and the release its working dir names."""
    if not deployment:
        return set()
    try:
        desc = await _live_description(activity.client().get_workflow_handle(workflow_id_for(deployment)))
    except ApplicationError:  # being deleted: it runs nothing any more
        return set()
    if desc is None:
        return set()
    runs = {desc.spec.version}
    if desc.rollout is not None:
        runs |= {desc.rollout.version, desc.rollout.from_version}
    working = Path(desc.spec.working_dir) if desc.spec.working_dir else None
    if working is not None and working.parent == releases:
        runs.add(working.name)
    return runs


def _released_at(releases: Path) -> dict[str, float]:
    """run -> when it was released (the rename that published it changed its ctime); temp dirs of a
    copy under way (dot-names) are not releases."""
    dirs = [d for d in releases.iterdir() if d.is_dir() and not d.name.startswith(".")]
    return {d.name: d.stat().st_ctime for d in dirs}


def _open_to_all(root: Path) -> int:
    """A sandboxed app may run as its own user: every dir of the release 0755, every file readable."""
    files = 0
    os.chmod(root, 0o755)
    for path, dirs, names in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(path, d), 0o755)
        for n in names:
            full = os.path.join(path, n)
            if not os.path.islink(full):
                os.chmod(full, os.stat(full).st_mode | 0o444)
                files += 1
    return files
