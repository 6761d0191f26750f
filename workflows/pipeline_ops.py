"""The PipelineWorkflow's Ops stage (runs patched `pipeline-ops-stage`, only for plans with `deploy`).

When every task is done or skipped and integration passed, the workspace's result is released:
1. `pipeline_release` copies the workspace to the release dir (where sandboxed apps can read it);
2. `pipeline_ops_rollout` asks the app's DeploymentWorkflow for a canary rollout of the release
   (version = the pipeline run), or answers `new` when no such deployment is live: the stage then
   starts the DeploymentWorkflow as a child (parent-close ABANDON: the app outlives the pipeline);
3. it waits durably for the end: `await_rollout` (the rollout's result, with its automatic rollback)
   or `pipeline_await_deployed` (the new deployment running), both heartbeating activities, so a
   worker killed meanwhile costs a retry on the next worker, nothing else.
A cancel or abort while it waits rolls the release back: the canary is aborted; a new deployment
still starting is deleted (patched `pipeline-ops-withdraw-new`; before it, the run waited for it).
Each step's outcome is kept in the run's state (`OpsState`) before the next starts, so a step is
never asked twice within a run; the activities are idempotent for the retries Temporal makes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.pipeline_ops import PipelineOpsActivities
    from activities.rollout_watch import RolloutWatchActivities
    from coderunner.models import search_attributes as sa
    from coderunner.models.deployment import DeploymentInput, DeploymentStatus, workflow_id_for
    from coderunner.models.pipeline import PipelineRequest, PipelineState
    from coderunner.models.pipeline_ops import (
        AbortRolloutRequest,
        DeployedRequest,
        DeploySpec,
        OpsPhase,
        OpsRolloutRequest,
        OpsState,
        ReleaseRequest,
        WithdrawRequest,
    )
    from coderunner.models.rollout import RolloutLink

from coderunner.decisions.pipeline_ops import ops_reason, rollout_verdict
from workflows.deployment import DeploymentWorkflow
from workflows.options import ROLLOUT_WATCH, WORKFLOW_TASK_TIMEOUT

OPS_PATCH = "pipeline-ops-stage"
WITHDRAW_PATCH = "pipeline-ops-withdraw-new"
OPS_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10),
                        maximum_attempts=10)


class OpsStage:
    def __init__(
        self,
        req: PipelineRequest,
        s: PipelineState,
        publish: Callable[[str], None],
        stop_reason: Callable[[], str],
    ) -> None:
        """`stop_reason`: why the run is being cancelled or aborted ('' while it is not): a canary
        still running then is rolled back (the run's reason stays the stop's)."""
        self.req = req
        self.s = s
        self.publish = publish
        self.stop_reason = stop_reason

    @property
    def _deploy(self) -> DeploySpec:
        assert self.req.plan.deploy is not None
        return self.req.plan.deploy

    async def run(self) -> None:
        if self.s.ops is None:
            self.s.ops = OpsState(deployment=self._deploy.name, version=self.req.run)
        ops = self.s.ops
        try:
            if ops.release_dir == "":
                self.publish("ops")
                await self._release(ops)
            if ops.kind == "":
                await self._start(ops)
                self.publish("ops")
            if ops.kind == "new":
                await self._await_new(ops)
            else:
                await self._await_rollout(ops)
        except ActivityError as err:
            cause = err.cause
            ops.phase = OpsPhase.FAILED
            ops.outcome = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        if not self.stop_reason():
            self.s.reason = ops_reason(ops)

    async def _release(self, ops: OpsState) -> None:
        release = await workflow.execute_activity_method(
            PipelineOpsActivities.release,
            ReleaseRequest(pipeline=self.req.plan.name, run=self.req.run, runs_dir=self.req.runs_dir,
                           releases_dir=self.req.releases_dir, deployment=self._deploy.name),
            summary=f"release the workspace of {self.req.plan.name} {self.req.run}",
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=OPS_RETRY,
        )
        ops.release_dir = release.path

    async def _start(self, ops: OpsState) -> None:
        deploy = self._deploy
        pipeline = f"pipeline/{self.req.plan.name}/{self.req.run}"
        started = await workflow.execute_activity_method(
            PipelineOpsActivities.rollout,
            OpsRolloutRequest(deploy=deploy, version=ops.version, release_dir=ops.release_dir,
                              actor=pipeline, reason=f"release of {pipeline}"),
            summary=f"ask deployment {deploy.name} for a canary rollout of {ops.version}",
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=OPS_RETRY,
        )
        if started.kind == "rollout":
            ops.kind, ops.workflow_id, ops.from_version = "rollout", started.workflow_id, started.from_version
            ops.phase = OpsPhase.ROLLING_OUT
            return
        spec = deploy.spec_for(ops.version, ops.release_dir)
        wid = workflow_id_for(deploy.name)
        await workflow.start_child_workflow(
            DeploymentWorkflow.run,
            DeploymentInput(spec=spec, actor=pipeline),
            id=wid,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            parent_close_policy=ParentClosePolicy.ABANDON,  # the app outlives the pipeline
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.DEPLOYMENT, spec.name),
                SearchAttributePair(sa.ENVIRONMENT, spec.environment),
                SearchAttributePair(sa.VERSION, spec.version),
                SearchAttributePair(sa.STATUS, DeploymentStatus.PROVISIONING.value),
            ]),
            static_summary=f"Deployment **{spec.name}** in {spec.environment} (from {pipeline})",
        )
        ops.kind, ops.workflow_id, ops.phase = "new", wid, OpsPhase.DEPLOYING

    async def _await_new(self, ops: OpsState) -> None:
        waiting = workflow.start_activity_method(
            PipelineOpsActivities.await_deployed,
            DeployedRequest(deployment=ops.deployment, version=ops.version),
            summary=f"wait for {ops.deployment} {ops.version} to run",
            **ROLLOUT_WATCH,
        )
        if workflow.patched(WITHDRAW_PATCH):
            await workflow.wait_condition(lambda: waiting.done() or bool(self.stop_reason()))
            if not waiting.done():  # cancelled or aborted meanwhile: the new deployment goes
                waiting.cancel()
                await self._withdraw(ops)
                return
        result = await waiting
        ops.phase = OpsPhase.DEPLOYED if result.ok else OpsPhase.FAILED
        ops.outcome = result.detail

    async def _withdraw(self, ops: OpsState) -> None:
        reason = self.stop_reason()
        done = await workflow.execute_activity_method(
            PipelineOpsActivities.withdraw,
            WithdrawRequest(deployment=ops.deployment, version=ops.version, reason=reason,
                            actor=f"pipeline/{self.req.plan.name}/{self.req.run}"),
            summary=f"delete the new deployment {ops.deployment}: the pipeline is stopping",
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=OPS_RETRY,
        )
        ops.phase, ops.outcome = OpsPhase.ROLLED_BACK, f"{reason}; {done}"

    async def _await_rollout(self, ops: OpsState) -> None:
        link = RolloutLink(workflow_id=ops.workflow_id, version=ops.version, from_version=ops.from_version)
        waiting = workflow.start_activity_method(
            RolloutWatchActivities.await_rollout,
            link,
            summary=f"wait for the canary {ops.workflow_id} to end",
            **ROLLOUT_WATCH,
        )
        await workflow.wait_condition(lambda: waiting.done() or bool(self.stop_reason()))
        if not waiting.done():  # cancelled or aborted meanwhile: the canary is rolled back
            await workflow.execute_activity_method(
                PipelineOpsActivities.abort_rollout,
                AbortRolloutRequest(workflow_id=ops.workflow_id, reason=self.stop_reason(),
                                    actor=f"pipeline/{self.req.plan.name}/{self.req.run}"),
                summary=f"abort the canary {ops.workflow_id}: the pipeline is stopping",
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=OPS_RETRY,
            )
        result = await waiting
        ops.phase, ops.outcome = rollout_verdict(result.phase), result.outcome
