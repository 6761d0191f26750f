"""Issue 16, second half: `deploy` of an existing name rolls the changed spec out (or says exactly why
not), `logs --previous` reads gone instances, plain variables are shown and secrets never.

The real `coderunner` binary against the session's stack; the plan itself is pure and tested as such.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from coderunner.decisions.redeploy import plan_redeploy
from coderunner.models.configstore import ConfigRef
from coderunner.models.deployment import DeploymentSpec
from coderunner.models.rollout import FINISHED_PHASES
from starter.sdk import CodeRunner
from starter.sdk.configs import Configs
from tests.cli_helpers import acoderunner
from tests.polling import until
from tests.rollout_helpers import deployed_v1

MARKER = "cli-apply-MARKER-5e1b"
SPEC = "examples/demo_app/spec.yaml"
FAST = ["--sweep-interval", "1s", "--health-deadline", "20s"]


def live(**fields: object) -> DeploymentSpec:
    base: dict[str, object] = {"name": "demo", "command": ["python", "app.py"], "replicas": 2,
                               "env": {"VERSION": "v1", "TOKEN": "***redacted***"}, "plain_env": ["VERSION"]}
    return DeploymentSpec.model_validate({**base, **fields})


def test_redeploy_plan_rolls_out_what_a_rollout_carries_and_refuses_the_rest() -> None:
    current = live()
    same = plan_redeploy(current, live(env={"VERSION": "v1", "TOKEN": "x"}))
    assert same.nothing and "TOKEN" in same.notes[0]  # masked values cannot be compared: said so
    moved = plan_redeploy(current, live(version="v2", replicas=3, env={"VERSION": "v2", "TOKEN": "x"}))
    assert (moved.rollout, moved.version, moved.replicas, moved.refused) == (True, "v2", 3, [])
    assert moved.env == {"VERSION": "v2", "TOKEN": "x"}
    rebuilt = plan_redeploy(current, live(version="v2", command=["python", "other.py"], working_dir="/srv"))
    assert (rebuilt.rollout, rebuilt.command, rebuilt.working_dir, rebuilt.refused) == (
        True, ["python", "other.py"], "/srv", [])  # the canary runs the new command; promotion keeps it
    same_build = plan_redeploy(current, live(command=["python", "other.py"]))
    assert same_build.refused and "command changed but the version is still v1" in same_build.refused[0]
    limits = plan_redeploy(current, live(version="v2", health_path="/h", resources={"memory_mb": 64}))
    assert (limits.rollout, limits.health_path, limits.refused) == (True, "/h", [])
    assert limits.resources is not None and limits.resources.memory_mb == 64
    for change, field in (({"isolation": "none"}, "isolation"),
                          ({"environment": "prod"}, "environment"),
                          ({"env": {"VERSION": "v2"}}, "TOKEN")):
        refused = plan_redeploy(current, live(version="v2", **change))
        assert refused.refused and field in refused.refused[0] and not refused.rollout, change
    same_version = plan_redeploy(current, live(env={"VERSION": "v9", "TOKEN": "x"}))
    assert same_version.refused and "--version (e.g. v2)" in same_version.refused[0]
    ref = ConfigRef(project="shop", environment="production", version=1)
    config = plan_redeploy(live(config=ref), live(config=ref.model_copy(update={"version": 2})))
    assert (config.rollout, config.config_version, config.version) == (True, 2, "v1")


async def test_deploy_of_an_existing_name_goes_out_as_a_rollout(cli_env: dict[str, str], cr: CodeRunner,
                                                              name: str) -> None:
    first = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "1", *FAST, "--wait", env=cli_env)
    assert first.returncode == 0, first.stderr
    try:
        preview = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "2", "--version", "v2",
                                    "--env", "VERSION=v2", "--dry-run", env=cli_env)
        assert preview.returncode == 0, preview.stderr
        assert "env: VERSION v1 → v2" in preview.stdout and "would scale 1 → 2" in preview.stdout
        assert "would roll out v1 → v2 as a canary" in preview.stdout
        assert (await cr.describe(name)).spec.replicas == 1  # a dry run changes nothing
        refused = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "1", "--version", "v2",
                                    "--environment", "production", env=cli_env)
        assert refused.returncode == 2 and "environment changed" in refused.stderr
        assert "delete" in refused.stderr and (await cr.describe(name)).rollout is None
        applied = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "2", "--version", "v2",
                                    "--env", "VERSION=v2", env=cli_env)
        assert applied.returncode == 0, applied.stderr
        assert "already exists" not in applied.stdout + applied.stderr
        assert f"{name} exists: rolling out v1 → v2 as a canary" in applied.stdout
        status = await cr.rollouts.status(name)
        assert (status.from_version, status.version) == ("v1", "v2")
        assert (await cr.describe(name)).spec.replicas == 2
        await cr.rollouts.promote(name, full=True)
        done = await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES, timeout_s=120)
        assert done.phase.value == "promoted"
        # a new health path goes out in the canary too, which the sweep probes at its own path
        probed = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "2", "--version", "v3",
                                   "--env", "VERSION=v3", "--health-path", "/", env=cli_env)
        assert probed.returncode == 0 and "rolling out v2 → v3 as a canary" in probed.stdout, probed.stderr
        await cr.rollouts.wait(name, lambda s: s.canary_weight > 0, timeout_s=60)
        await cr.rollouts.promote(name, full=True)
        done = await cr.rollouts.wait(name, lambda s: s.phase in FINISHED_PHASES, timeout_s=120)
        assert done.phase.value == "promoted", done.outcome
        desc = await cr.describe(name)
        assert desc.spec.health_path == "/" and desc.replacements == 0
        again = await acoderunner("deploy", SPEC, "--name", name, "--replicas", "2", "--version", "v3",
                                  "--env", "VERSION=v3", "--health-path", "/", *FAST, env=cli_env)
        assert again.returncode == 0 and "no change" in again.stdout, again.stderr
        # timings belong to the deployment's creation: said, not silently dropped
        assert "--sweep-interval and --health-deadline apply when a deployment is created" in again.stderr
    finally:
        await cr.delete(name)


async def test_logs_previous_shows_a_replaced_instance(cli_env: dict[str, str], cr: CodeRunner,
                                                       name: str) -> None:
    assert (await acoderunner("deploy", SPEC, "--name", name, "--replicas", "1", *FAST, "--wait",
                              env=cli_env)).returncode == 0
    try:
        nothing = await acoderunner("logs", name, "--previous", env=cli_env)
        assert nothing.returncode == 2 and "no previous instance" in nothing.stderr
        [old] = [i.instance_id for i in (await cr.describe(name)).instances]
        assert (await acoderunner("restart", name, env=cli_env)).returncode == 0
        await until(lambda: cr.describe(name), lambda d: old not in [i.instance_id for i in d.instances],
                    "the restarted instance replaced")
        gone = await acoderunner("logs", name, "--previous", env=cli_env)
        assert gone.returncode == 0, gone.stderr
        assert f"{old} | demo app v1 listening" in gone.stdout
        assert f"{old} | demo app v1: signal 15" in gone.stdout
        assert f"# {old} (v1, stable): stopped; destroyed" in gone.stderr
        picked = await acoderunner("logs", name, "--previous", "--instance", old, "--tail", "1", env=cli_env)
        assert picked.stdout.splitlines() == [f"{old} | demo app v1: signal 15, exiting"]
        wrong = await acoderunner("logs", name, "--previous", "-i", "nope", env=cli_env)
        assert wrong.returncode == 2 and old in wrong.stderr
    finally:
        await cr.delete(name)


def spec_with_secrets(tmp_path: Path, name: str, project: str) -> Path:
    """The demo spec with an inline secret, a second plain key (given by flag) and a config reference."""
    spec = yaml.safe_load(Path(SPEC).read_text())
    spec.update(name=name, replicas=1, working_dir=str(Path(SPEC).resolve().parent),
                config={"project": project, "environment": "production"})
    spec["env"] = {**spec["env"], "API_TOKEN": MARKER, "LOG_FORMAT": "json"}
    file = tmp_path / "spec.yaml"
    file.write_text(yaml.safe_dump(spec))
    return file


async def test_plain_variables_shown_secrets_never(cli_env: dict[str, str], cr: CodeRunner, name: str,
                                                  home: Path, tmp_path: Path) -> None:
    configs = Configs.open(str(home))
    project = f"p{name}"
    configs.set(project, "production", {"LOG_LEVEL": "debug"})
    configs.set_secret(project, "production", "DB_PASSWORD", MARKER + "-config")
    file = spec_with_secrets(tmp_path, name, project)
    outputs: list[str] = []

    async def cli(*args: str) -> str:
        done = await acoderunner(*args, env=cli_env)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    await cli("deploy", str(file), "--plain-env", "LOG_FORMAT", *FAST, "--wait")
    try:
        text = await cli("describe", name)
        assert "VERSION=v1" in text and "LOG_FORMAT=json" in text and "API_TOKEN=***redacted***" in text
        assert "LOG_LEVEL=debug" in text and "DB_PASSWORD=********" in text  # the config store's
        described = json.loads(await cli("describe", name, "-o", "json"))
        assert described["spec"]["env"]["VERSION"] == "v1" and described["spec"]["plain_env"] == ["VERSION",
                                                                                                   "LOG_FORMAT"]
        await cli("describe", name, "-o", "yaml")
        await cli("get", name)
        await cli("list", "-o", "wide")
        await cli("deploy", str(file), "--dry-run", "--version", "v2")
        await cli("config", "list", "-p", project, "-e", "production")
        await cli("logs", name)
        await cli("deploy", str(file), "--plain-env", "LOG_FORMAT", "--version", "v2")  # a rollout
        await cli("rollout", "status", name)
        await cli("rollout", "status", name, "-o", "yaml")
        await cli("rollout", "history", name, "-o", "json")
        await cli("get", name)
        await cli("abort", name, "-r", "marker check done")
        assert len(outputs) == 15 and all(MARKER not in out for out in outputs)
    finally:
        await cr.delete(name)


async def promoted(cr: CodeRunner, name: str, version: str) -> None:
    """A rollout of `version` promoted at once (no traffic needed: `promote --full` skips analysis)."""
    await cr.rollouts.start(name, version, env={"VERSION": version}, scale_down_delay_s=0)
    await cr.rollouts.promote(name, full=True)
    await cr.rollouts.wait(name, timeout_s=120)
    await until(lambda: cr.describe(name), lambda d: d.rollout is None and d.spec.version == version,
                f"{name} on {version}")


async def test_rollout_undo_to_revision(cli_env: dict[str, str], cr: CodeRunner, name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    try:
        for version in ("v2", "v3", "v4"):
            await promoted(cr, name, version)
        out_of_range = await acoderunner("rollout", "undo", name, "--to-revision", "9", env=cli_env)
        assert out_of_range.returncode == 2 and "has revisions 1..3" in out_of_range.stderr
        current = await acoderunner("rollout", "undo", name, "--to-revision", "3", env=cli_env)
        assert current.returncode == 2 and "already runs v4" in current.stderr
        previous = await acoderunner("rollout", "undo", name, "--to-revision", "2", env=cli_env)
        assert previous.returncode == 0, previous.stderr
        assert "undo to revision 2 (v3)" in previous.stdout and "at once" in previous.stdout
        assert (await cr.describe(name)).spec.version == "v3"
        older = await acoderunner("rollout", "undo", name, "--to-revision", "1", "-r", "back to v2",
                                  env=cli_env)
        assert older.returncode == 0, older.stderr
        assert "undo to revision 1 (v2): rolling out v3 → v2 as a canary" in older.stdout
        status = await cr.rollouts.status(name)
        assert (status.from_version, status.version) == ("v3", "v2")
        await cr.rollouts.promote(name, full=True)
        await until(lambda: cr.describe(name), lambda d: d.spec.version == "v2", "promoted back to v2")
        history = await acoderunner("rollout", "history", name, "-o", "json", env=cli_env)
        revisions = json.loads(history.stdout)
        # v2 rolled out twice (same rollout id): two revisions, not one merged
        assert [(r["revision"], r["version"]) for r in revisions] == [(1, "v2"), (2, "v3"), (3, "v4"),
                                                                       (4, "v2")]
        assert revisions[3]["from_version"] == "v3" and revisions[3]["reason"] == "back to v2"
    finally:
        await cr.delete(name)
