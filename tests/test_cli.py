"""The `coderunner` CLI end to end: exit codes, messages that name the field, JSON views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.cli_helpers import REPO, acoderunner, coderunner

SPEC = str(REPO / "examples" / "demo_app" / "spec.yaml")


async def assert_no_workflow(client: Client, name: str) -> None:
    with pytest.raises(RPCError) as err:
        await client.get_workflow_handle(f"deployment/{name}").describe()
    assert err.value.status == RPCStatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--replicas", "80"], "replicas"),
        (["--name", "Bad_Name"], "name"),
        (["--health-path", "health"], "health_path"),
        (["--env", "NOEQUALS"], "--env"),
        (["--env", "PORT=1"], "PORT"),
    ],
)
async def test_invalid_spec_exits_2_and_creates_nothing(
    cli_env: dict[str, str], client: Client, name: str, args: list[str], field: str
) -> None:
    result = await acoderunner("deploy", SPEC, "--name", name, *args, env=cli_env)
    assert result.returncode == 2, result.stderr
    assert field in result.stderr and "Traceback" not in result.stderr
    if "--name" not in args:
        await assert_no_workflow(client, name)


def test_missing_or_broken_spec_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = coderunner("deploy", str(tmp_path / "nope.yaml"), env=cli_env)
    assert missing.returncode == 2 and "not found" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed")
    result = coderunner("deploy", str(broken), env=cli_env)
    assert result.returncode == 2 and "not valid YAML" in result.stderr


def test_without_stack_says_run_up(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("CODERUNNER_")}
    env["CODERUNNER_HOME"] = str(tmp_path)
    for args in (["list"], ["describe", "x"], ["scale", "x", "2"]):
        result = coderunner(*args, env=env)
        assert result.returncode == 1
        assert "stack not running — run `coderunner up`" in result.stderr
        assert "Traceback" not in result.stderr


async def test_deploy_describe_scale_delete_via_cli(cli_env: dict[str, str], name: str) -> None:
    deployed = await acoderunner(
        "deploy",
        SPEC,
        "--name",
        name,
        "--replicas",
        "2",
        "--env",
        "API_KEY=hush",
        "--sweep-interval",
        "1",
        "--wait",
        env=cli_env,
    )
    assert deployed.returncode == 0, deployed.stderr
    assert "2/2 healthy" in deployed.stdout and "hush" not in deployed.stdout

    listed = json.loads((await acoderunner("list", "--json", env=cli_env)).stdout)
    assert any(row["name"] == name and row["status"] == "running" for row in listed)

    desc = json.loads((await acoderunner("describe", name, "--json", env=cli_env)).stdout)
    assert desc["spec"]["env"]["API_KEY"] == "***redacted***"
    assert len(desc["instances"]) == 2

    scaled = await acoderunner("scale", name, "3", "--reason", "test", env=cli_env)
    assert scaled.returncode == 0 and "scaled from 2 to 3" in scaled.stdout
    too_many = await acoderunner("scale", name, "99", env=cli_env)
    assert too_many.returncode == 2 and "replicas" in too_many.stderr

    logs = await acoderunner("logs", name, "--tail", "5", env=cli_env)
    assert logs.returncode == 0 and f"{name}-v1-0 |" in logs.stdout

    assert (await acoderunner("describe", "no-such-app", env=cli_env)).returncode == 2
    deleted = await acoderunner("delete", name, "--reason", "test over", env=cli_env)
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    again = await acoderunner("scale", name, "1", env=cli_env)
    assert again.returncode == 2 and "is deleted" in again.stderr
