"""The pipeline's Ops stage on the real stack: the result of a run is released as a canary rollout of
the app's deployment (promoted when healthy, rolled back when not, and the pipeline says which), or as
a new deployment when none exists; a worker killed -9 mid-Ops loses nothing."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from temporalio.testing import ActivityEnvironment

from activities.pipeline_ops import PipelineOpsActivities
from coderunner.models.deployment import DeploymentStatus
from coderunner.models.pipeline import PipelineStatus
from coderunner.models.pipeline_ops import OpsPhase, ReleaseRequest
from coderunner.models.rollout import RolloutPhase, RolloutStrategy
from starter.sdk import CodeRunner
from starter.tools.load_process import load
from tests.cleanup import removed_after
from tests.cli_helpers import acoderunner
from tests.pipeline_ops_helpers import FAST_CANARY, app_plan, cancel_while_deploying, pipelines, router_url
from tests.polling import until
from tests.rollout_helpers import deployed_v1
from tests.worker_processes import WorkerProcesses


async def test_a_good_build_is_promoted_and_the_pipeline_names_it(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        desc = await deployed_v1(cr, name)
        pipes = pipelines(cr, tmp_path)
        async with load(router_url(desc), rps=60) as counts:
            workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name), "r1")
            result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
        assert result.status == PipelineStatus.SUCCEEDED, result
        ops = result.ops
        assert ops is not None
        assert (ops.phase, ops.kind, ops.deployment, ops.version, ops.from_version) == (
            OpsPhase.PROMOTED, "rollout", name, "r1", "v1"
        )
        assert ops.workflow_id == f"rollout/{name}/r1"
        release = Path(ops.release_dir)
        assert release == pipes.releases_dir / f"ops-{name}" / "r1"
        assert (release / "build.txt").read_text() == "built\n"  # the workspace's result, not the project
        after = await cr.describe(name)
        assert after.spec.version == "r1" and after.spec.working_dir == str(release)
        assert after.status == DeploymentStatus.RUNNING
        assert counts["200"] > 0
        history = await cr.rollouts.history(name)
        assert [(r.version, r.phase, r.actor) for r in history] == [
            ("r1", RolloutPhase.PROMOTED.value, f"pipeline/ops-{name}/r1")
        ]
        # another pipeline's run r1 cannot pass this release off as its own
        other = await pipes.run(app_plan(tmp_path / "other", f"other-{name}", name), "r1")
        refused = await asyncio.wait_for(pipes.wait(other), 120)
        assert refused.status == PipelineStatus.FAILED and refused.ops is not None
        expected = f"already had a rollout of version r1 (rollout/{name}/r1) that this pipeline did not start"
        assert expected in refused.reason, refused.reason


async def test_a_bad_build_is_rolled_back_and_the_pipeline_says_so(
    cr: CodeRunner, tmp_path: Path, name: str, cli_env: dict[str, str]
) -> None:
    async with removed_after(cr, name):
        desc = await deployed_v1(cr, name)
        pipes = pipelines(cr, tmp_path)
        plan = app_plan(tmp_path, f"ops-{name}", name, env={"ERROR_RATE": "0.6"})
        async with load(router_url(desc), rps=60):
            workflow_id = await pipes.run(plan, "r1")
            result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
        assert result.status == PipelineStatus.FAILED, result
        assert result.ops is not None and result.ops.phase == OpsPhase.ROLLED_BACK
        assert result.reason.startswith(f"Ops: the canary of {name} r1 was rolled back: "), result.reason
        assert result.done == 1 and result.failed == []  # the tasks succeeded: the release did not
        after = await cr.describe(name)
        assert after.spec.version == "v1" and after.rollout is None
        assert after.last_rollout is not None and after.last_rollout.phase == RolloutPhase.ABORTED
        view = await pipes.describe(workflow_id)
        assert view.ops == result.ops and view.stage == "done"
        shown = await acoderunner("pipeline", "status", workflow_id, env=cli_env)
        assert shown.returncode == 0, shown.stderr
        assert f"Ops: {name} r1 (canary rollout v1 → r1) rolled_back: " in shown.stdout
        assert f"failed (stage done) — Ops: the canary of {name} r1 was rolled back" in shown.stdout


async def test_without_a_deployment_the_release_is_a_new_one(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        pipes = pipelines(cr, tmp_path)
        workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name, replicas=2), "r1")
        result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
        assert result.status == PipelineStatus.SUCCEEDED, result
        assert result.ops is not None
        assert (result.ops.phase, result.ops.kind, result.ops.workflow_id) == (
            OpsPhase.DEPLOYED, "new", f"deployment/{name}"
        )
        desc = await cr.describe(name)
        assert desc.status == DeploymentStatus.RUNNING and desc.spec.version == "r1"
        assert len(desc.instances) == 2 and desc.spec.working_dir == result.ops.release_dir


async def test_worker_killed_mid_ops_loses_nothing(
    crash_workers: WorkerProcesses, tmp_path: Path, name: str
) -> None:
    cr = crash_workers.cr
    first = crash_workers.start()
    async with removed_after(cr, name):
        desc = await deployed_v1(cr, name)
        pipes = pipelines(cr, tmp_path)
        async with load(router_url(desc), rps=60):
            workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name), "r1")
            await until(
                lambda: cr.describe(name), lambda d: d.rollout is not None, "the canary rolling out", 120
            )
            view = await pipes.describe(workflow_id)
            assert (view.stage, view.status) == ("ops", PipelineStatus.RUNNING), view
            crash_workers.kill9(first)
            crash_workers.start()
            result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
        assert result.status == PipelineStatus.SUCCEEDED, (result, crash_workers.log(2))
        assert result.ops is not None and result.ops.phase == OpsPhase.PROMOTED
        history = await cr.rollouts.history(name)
        assert [(r.version, r.phase) for r in history] == [("r1", RolloutPhase.PROMOTED.value)]  # asked once
        assert (await cr.describe(name)).spec.version == "r1"


async def test_a_release_is_readable_by_a_sandboxed_app_whatever_the_umask(tmp_path: Path) -> None:
    """The stack's processes run under umask 077; a sandboxed app runs as another user (root host)."""
    workspace = tmp_path / "runs" / "p" / "r1" / "workspace"
    (workspace / "pkg").mkdir(parents=True)
    (workspace / "pkg" / "app.py").write_text("print('hi')\n")
    os.chmod(workspace / "pkg" / "app.py", 0o600)
    os.chmod(workspace / "pkg", 0o700)
    old = os.umask(0o077)
    try:
        release = await PipelineOpsActivities().release(ReleaseRequest(
            pipeline="p", run="r1", runs_dir=str(tmp_path / "runs"), releases_dir=str(tmp_path / "rel")))
    finally:
        os.umask(old)
    root = Path(release.path)
    assert root == tmp_path / "rel" / "p" / "r1" and release.files == 1
    for directory in (tmp_path / "rel", tmp_path / "rel" / "p", root, root / "pkg"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755, directory
    assert stat.S_IMODE((root / "pkg" / "app.py").stat().st_mode) & 0o044 == 0o044


async def test_releases_beyond_the_newest_five_are_pruned_but_never_one_a_deployment_runs(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        await deployed_v1(cr, name)  # runs version v1: the oldest release below, kept however old
        env = ActivityEnvironment(client=cr.client)
        runs = ["v1", "r2", "r3", "r4", "r5", "r6", "r7"]
        pruned: list[list[str]] = []
        for run in runs:
            workspace = tmp_path / "runs" / "p" / run / "workspace"
            workspace.mkdir(parents=True)
            (workspace / "app.py").write_text(f"print({run!r})\n")
            release = await env.run(PipelineOpsActivities().release, ReleaseRequest(
                pipeline="p", run=run, runs_dir=str(tmp_path / "runs"), releases_dir=str(tmp_path / "rel"),
                deployment=name))
            pruned.append(release.pruned)
        assert pruned == [[], [], [], [], [], [], ["r2"]]
        kept = sorted(d.name for d in (tmp_path / "rel" / "p").iterdir())
        assert kept == ["r3", "r4", "r5", "r6", "r7", "v1"]


async def test_a_deployment_busy_with_another_rollout_refuses_and_the_pipeline_says_so(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        await deployed_v1(cr, name)
        held = RolloutStrategy.from_shorthand("50,100", "10m", "10m")  # holds at 50 % for the test
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=held)
        await cr.rollouts.wait(name, lambda st: st.canary_weight == 50, timeout_s=90)
        pipes = pipelines(cr, tmp_path)
        workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name), "r1")
        result = await asyncio.wait_for(pipes.wait(workflow_id), 120)
        assert result.status == PipelineStatus.FAILED, result
        assert result.ops is not None and (result.ops.phase, result.ops.kind) == (OpsPhase.FAILED, "")
        assert f"deployment {name} refused the rollout: a rollout is already in progress" in result.reason
        desc = await cr.describe(name)
        assert desc.rollout is not None and desc.rollout.version == "v2"  # untouched
        await cr.rollouts.abort(name, reason="test done")


async def test_cancelling_the_pipeline_mid_canary_rolls_the_canary_back(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        desc = await deployed_v1(cr, name)
        pipes = pipelines(cr, tmp_path)
        held = {**FAST_CANARY, "step_duration": "10m"}  # would stay at 50 % for ten minutes
        async with load(router_url(desc), rps=60):
            workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name, canary=held), "r1")
            await until(
                lambda: cr.describe(name),
                lambda d: d.rollout is not None and d.rollout.canary_weight == 50,
                "the canary at 50 %",
                120,
            )
            await pipes.cancel(workflow_id, "wrong branch")
            result = await asyncio.wait_for(pipes.wait(workflow_id), 120)
        assert (result.status, result.reason) == (PipelineStatus.CANCELLED, "cancelled: wrong branch"), result
        assert result.ops is not None and result.ops.phase == OpsPhase.ROLLED_BACK
        assert "cancelled: wrong branch" in result.ops.outcome, result.ops
        after = await cr.describe(name)
        assert after.spec.version == "v1" and after.rollout is None


async def test_cancelling_the_pipeline_while_its_new_deployment_starts_deletes_it(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    async with removed_after(cr, name):
        pipes = pipelines(cr, tmp_path)
        slow = {"env": {"STARTUP_DELAY_S": "120"}}  # would take two minutes to answer its health check
        workflow_id = await pipes.run(app_plan(tmp_path, f"ops-{name}", name, **slow), "r1")
        await cancel_while_deploying(pipes, workflow_id, "wrong branch")
        # the deployment's delete waits for the provisioning step in progress to end (its instance's
        # health deadline, 60 s): a timeout only, well past that
        result = await asyncio.wait_for(pipes.wait(workflow_id), 240)
        assert (result.status, result.reason) == (PipelineStatus.CANCELLED, "cancelled: wrong branch"), result
        assert result.ops is not None and (result.ops.kind, result.ops.phase) == ("new", OpsPhase.ROLLED_BACK)
        assert result.ops.outcome == f"cancelled: wrong branch; deployment {name} r1 deleted", result.ops
        gone = await cr.describe(name)
        assert gone.status == DeploymentStatus.DELETED and gone.instances == [], gone
