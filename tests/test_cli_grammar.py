"""The CLI behaves like the tools people know (issue 16): one grammar, scriptable output and exit codes.

Input errors are checked without a stack (they must stop before connecting); the rest runs the real
`coderunner` binary against the real stack.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta

import pytest

from coderunner.decisions.cost import project_month_at_rate
from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentEvent,
    DeploymentSpec,
    DeploymentStatus,
)
from coderunner.models.rollout import RolloutLink, RolloutPhase
from starter.cli.rollouts import expand_short_form
from starter.sdk import CodeRunner
from starter.tools.harness import settled
from starter.views.tables import age, description, table
from tests.cli_helpers import acoderunner, coderunner
from tests.rollout_helpers import deployed_v1

SLOW = ["--steps", "10,50,100", "--step-duration", "300s", "--analysis-interval", "30s",
        "--scale-down-delay", "0s"]


def test_plain_coderunner_prints_help_and_version_exits_0() -> None:
    plain = coderunner()
    assert plain.returncode == 0 and "Usage: coderunner" in plain.stdout and "rollout" in plain.stdout
    version = coderunner("--version")
    assert version.returncode == 0 and version.stdout.startswith("coderunner ")
    for args in (["rollout", "status", "-h"], ["autoscale", "enable", "-h"], ["deploy", "-h"], ["-h"]):
        shown = coderunner(*args)
        assert shown.returncode == 0 and "Usage:" in shown.stdout, args


@pytest.mark.parametrize(("args", "flag"), [
    (["deploy", "examples/demo_app/spec.yaml", "--sweep-interval", "10x"], "--sweep-interval"),
    (["deploy", "examples/demo_app/spec.yaml", "--health-deadline", "0s"], "--health-deadline"),
    (["rollout", "demo", "--version", "v2", "--step-duration", "5q"], "--step-duration"),
    (["rollout", "start", "demo", "--version", "v2", "--analysis-interval", "soon"], "--analysis-interval"),
    (["rollout", "demo", "--version", "v2", "--set", "NOEQUALS"], "--set"),
    (["autoscale", "enable", "demo", "--target-error-rate", "5"], "--target-error-rate"),
    (["autoscale", "enable", "demo", "--target-cpu", "250"], "--target-cpu"),
    (["autoscale", "enable", "demo", "--sync-interval", "1.5s"], "--sync-interval"),
    (["list", "-o", "xml"], "--output"),
])
def test_bad_flags_exit_2_naming_the_flag_as_typed(args: list[str], flag: str) -> None:
    done = coderunner(*args, env={"PATH": "/usr/bin:/bin", "CODERUNNER_HOME": "/nonexistent"})
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert flag in done.stderr
    assert "step_duration" not in done.stderr and "sync_interval_s" not in done.stderr


def test_secret_env_values_never_echoed_by_flag_errors() -> None:
    done = coderunner("rollout", "demo", "--version", "v2", "--set", "A=1", "--set", "hunter2secret")
    assert done.returncode == 2 and "hunter2secret" not in done.stderr + done.stdout


def test_short_form_expands_to_start_and_leaves_subcommands_alone() -> None:
    assert expand_short_form(["rollout", "demo", "--version", "v2"]) == ["rollout", "start", "demo",
                                                                           "--version", "v2"]
    assert expand_short_form(["rollout", "status", "demo"]) == ["rollout", "status", "demo"]
    assert expand_short_form(["rollout", "--help"]) == ["rollout", "--help"]
    assert expand_short_form(["list"]) == ["list"]


def test_tables_have_no_trailing_spaces_and_ages_read_like_kubectl() -> None:
    text = table([{"a": "x", "b": ""}, {"a": "longer", "b": "y"}], ["a", "b"])
    assert all(line == line.rstrip() for line in text.splitlines())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert [age(now - timedelta(seconds=s), now) for s in (5, 125, 7300, 200000)] == ["5s", "2m", "2h", "2d"]


def test_month_projection_uses_the_current_rate() -> None:
    # 3 instances at 0.10/h with 10 days left, nothing spent yet: 3 x 0.10 x 240 h = 72
    assert project_month_at_rate(0.0, 3, 0.10, 10 * 86400) == pytest.approx(72.0)
    assert project_month_at_rate(5.0, 0, 0.10, 10 * 86400) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="instances"):
        project_month_at_rate(0.0, -1, 0.1, 1.0)


async def test_list_json_and_table_show_ready_and_age(cli_env: dict[str, str], cr: CodeRunner,
                                                      name: str) -> None:
    await deployed_v1(cr, name, replicas=2)
    try:
        as_json = await acoderunner("list", "-o", "json", env=cli_env)
        assert as_json.returncode == 0, as_json.stderr
        row = next(r for r in json.loads(as_json.stdout) if r["name"] == name)
        assert row["ready"] == "2/2" and row["age"].endswith(("s", "m"))
        text = await acoderunner("list", env=cli_env)
        header = text.stdout.splitlines()[0].split()
        assert header[:2] == ["NAME", "READY"] and "AGE" in header
        assert all(line == line.rstrip() for line in text.stdout.splitlines())
        yml = await acoderunner("describe", name, "-o", "yaml", env=cli_env)
        assert yml.returncode == 0 and f"name: {name}" in yml.stdout
    finally:
        await cr.delete(name)


async def test_stop_and_start_wait_until_done(cli_env: dict[str, str], cr: CodeRunner, name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    try:
        stopped = await acoderunner("stop", name, "--wait", env=cli_env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
        assert (await cr.describe(name)).instances == []
        started = await acoderunner("start", name, "--wait", env=cli_env)
        assert started.returncode == 0 and "1/1 healthy" in started.stdout, started.stderr
    finally:
        await cr.delete(name)


async def test_rollout_group_status_exit_codes_and_history(cli_env: dict[str, str], cr: CodeRunner,
                                                           name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    try:
        started = await acoderunner("rollout", "start", name, "--version", "v2", "--set", "VERSION=v2",
                                    *SLOW, env=cli_env)
        assert started.returncode == 0, started.stderr
        assert "10% → 50% → 100%" in started.stdout and "[" not in started.stdout  # no Python list repr
        await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
        progressing = await acoderunner("rollout", "status", name, "-o", "json", env=cli_env)
        assert progressing.returncode == 0 and json.loads(progressing.stdout)["canary_weight"] == 10
        assert (await acoderunner("rollout", "pause", name, "--reason", "look", env=cli_env)).returncode == 0
        await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
        paused = await acoderunner("rollout", "status", name, env=cli_env)
        assert paused.returncode == 3, paused.stdout
        aborted_now = await acoderunner("rollout", "abort", name, "--reason", "drill", env=cli_env)
        assert aborted_now.returncode == 0, aborted_now.stderr
        await cr.rollouts.wait(name)
        aborted = await acoderunner("rollout", "status", name, env=cli_env)
        assert aborted.returncode == 1 and "aborted" in aborted.stdout
        history = await acoderunner("rollout", "history", name, "-o", "json", env=cli_env)
        assert history.returncode == 0, history.stderr
        [revision] = json.loads(history.stdout)
        assert (revision["revision"], revision["version"], revision["from_version"]) == (1, "v2", "v1")
        assert revision["phase"] == "aborted" and revision["actor"] == "cli"
        table_view = await acoderunner("rollout", "history", name, env=cli_env)
        assert "REVISION" in table_view.stdout and "aborted" in table_view.stdout
        await settled(cr, name)
    finally:
        await cr.delete(name)


def test_worker_says_one_line_when_its_metrics_port_is_taken(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = coderunner("worker", env={**cli_env, "CODERUNNER_METRICS_PORT": str(port)}, timeout=60)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"metrics port {port} is taken" in errors[0]
    assert "Traceback" not in done.stderr


async def test_deploy_wait_shows_progress_naming_the_probed_path(cli_env: dict[str, str], cr: CodeRunner,
                                                                 name: str) -> None:
    try:
        done = await acoderunner("deploy", "examples/demo_app/spec.yaml", "--name", name, "--replicas", "1",
                                 "--health-path", "/nope", "--health-deadline", "4s",
                                 "--sweep-interval", "1s", "--wait", env=cli_env)
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert f"{name}: 0/1 healthy" in done.stdout
        assert "GET /nope → 404" in done.stdout + done.stderr
        scaled = await acoderunner("scale", name, "2", env=cli_env)
        assert scaled.returncode == 1 and "is failed, so nothing was started" in scaled.stderr
    finally:
        await cr.delete(name)


def test_describe_tells_a_long_abort_reason_once_wrapped_with_ages() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    reason = "canary unhealthy: error rate 21.0 % (42 of 200) above 10 % in 2 windows; " * 3
    desc = DeploymentDescription(
        workflow_id="deployment/demo", spec=DeploymentSpec(name="demo", command=["python", "app.py"]),
        status=DeploymentStatus.RUNNING, status_reason=reason, router_url=None, instances=[], replacements=0,
        events=[DeploymentEvent(at=now - timedelta(seconds=90), kind="rollout_aborted", message=reason)],
        last_rollout=RolloutLink(workflow_id="rollout/demo/v2", version="v2", from_version="v1",
                                 phase=RolloutPhase.ABORTED, outcome=reason),
    )
    text = description(desc, now=now)
    flat = " ".join(text.split())
    assert flat.count("error rate 21.0 %") == 3 + 1  # the outcome in full once, the event shortened
    assert "see last rollout" in text
    assert max(len(line) for line in text.splitlines()) <= 110
    assert "1m" in text and "12:00" not in text


def test_describe_names_the_config_versions_of_a_config_release() -> None:
    link = RolloutLink(workflow_id="rollout/shop/v1+config-3", version="v1", from_version="v1",
                       phase=RolloutPhase.PROMOTED, config_version=3, from_config_version=2)
    desc = DeploymentDescription(
        workflow_id="deployment/shop", spec=DeploymentSpec(name="shop", command=["python", "app.py"]),
        status=DeploymentStatus.RUNNING, status_reason=None, router_url=None, instances=[], replacements=0,
        events=[], last_rollout=link,
    )
    assert "last rollout v1, config v2 → v3: promoted" in description(desc)
    code_and_config = link.model_copy(update={"version": "v2"})
    assert code_and_config.versions() == "v1 → v2, config v2 → v3"
    assert link.model_copy(update={"config_version": None}).versions() == "v1 → v1"


async def test_deploy_dry_run_shows_what_would_change_and_changes_nothing(
    cli_env: dict[str, str], cr: CodeRunner, name: str
) -> None:
    fresh = await acoderunner("deploy", "examples/demo_app/spec.yaml", "--name", name, "--dry-run",
                              "--env", "TOKEN=s3cr3t-value", env=cli_env)
    assert fresh.returncode == 0, fresh.stderr
    assert f"create {name} v1" in fresh.stdout and "TOKEN" in fresh.stdout and "s3cr3t" not in fresh.stdout
    assert not [r for r in await cr.list() if r["name"] == name]  # nothing was started
    await deployed_v1(cr, name, replicas=1)
    try:
        changed = await acoderunner("deploy", "examples/demo_app/spec.yaml", "--name", name,
                                    "--replicas", "3", "--version", "v2", "--dry-run", env=cli_env)
        # the test spec runs app.py by absolute path: the canary would carry that command too
        assert changed.returncode == 0, changed.stderr
        assert "replicas: 1 → 3" in changed.stdout and "version: v1 → v2" in changed.stdout
        assert "would scale 1 → 3" in changed.stdout
        assert "would roll out v1 → v2 as a canary" in changed.stdout
        refused = await acoderunner("deploy", "examples/demo_app/spec.yaml", "--name", name, "--version",
                                    "v2", "--environment", "production", "--dry-run", env=cli_env)
        assert refused.returncode == 2 and "would be refused" in refused.stderr, refused.stderr
        assert "refused: cannot go out as a rollout: environment changed" in refused.stdout
        assert (await cr.describe(name)).spec.replicas == 1 and (await cr.describe(name)).rollout is None
    finally:
        await cr.delete(name)


async def test_stack_and_loadgen_speak_json(cli_env: dict[str, str], cr: CodeRunner, name: str) -> None:
    desc = await deployed_v1(cr, name, replicas=1)
    try:
        report = await acoderunner("loadgen", name, "--rps", "20", "--duration", "1s", "-o", "json",
                                   env=cli_env)
        assert report.returncode == 0, report.stderr
        data = json.loads(report.stdout)
        assert data["url"] == desc.router_url and data["counts"].get("200", 0) >= 10
    finally:
        await cr.delete(name)
    no_stack = coderunner("stack", "-o", "json", env={**cli_env, "CODERUNNER_HOME": "/nonexistent"})
    assert no_stack.returncode == 1 and "coderunner up" in no_stack.stderr
