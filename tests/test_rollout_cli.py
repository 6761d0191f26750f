"""Rollouts from the `coderunner` CLI (exit codes, messages) and from the upstream `temporal` CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import web
from temporalio.testing import WorkflowEnvironment

from coderunner.codec.aes import EncryptionCodec
from coderunner.codec.server import build_app
from coderunner.config.home import HomeLayout, read_or_create_key
from coderunner.config.ports import free_port
from coderunner.config.temporal_bin import temporal_binary
from coderunner.models.rollout import RolloutPhase
from starter.sdk import CodeRunner
from starter.tools.harness import settled
from tests.cli_helpers import acoderunner
from tests.rollout_helpers import deployed_v1

SLOW = ["--steps", "10,50,100", "--step-duration", "300s", "--analysis-interval", "30s",
        "--scale-down-delay", "0s"]


async def test_rollout_commands_exit_codes_and_views(cli_env: dict[str, str], cr: CodeRunner,
                                                     name: str) -> None:
    await deployed_v1(cr, name, replicas=1)
    bad = await acoderunner("rollout", name, "--version", "v2", "--steps", "50,25,100", env=cli_env)
    assert bad.returncode == 2 and "weights must rise" in bad.stderr
    missing = await acoderunner("rollout", name, env=cli_env)
    assert missing.returncode == 2 and "--version is required" in missing.stderr

    started = await acoderunner("rollout", name, "--version", "v2", "--set", "VERSION=v2", *SLOW, env=cli_env)
    assert started.returncode == 0, started.stderr
    assert f"rollout/{name}/v2" in started.stdout
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    view = await acoderunner("rollout", "status", name, env=cli_env)
    assert view.returncode == 0 and "canary 10% / stable 90%" in view.stdout and "v1 → v2" in view.stdout

    assert (await acoderunner("pause", name, "--reason", "coffee", env=cli_env)).returncode == 0
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
    assert (await acoderunner("resume", name, env=cli_env)).returncode == 0
    no_reason = await acoderunner("abort", name, env=cli_env)
    assert no_reason.returncode == 2 and "reason" in no_reason.stderr
    full = await acoderunner("promote", name, "--full", env=cli_env)
    assert full.returncode == 0, full.stderr
    await cr.rollouts.wait(name)
    again = await acoderunner("promote", name, env=cli_env)
    assert again.returncode == 2 and "no rollout in progress" in again.stderr
    undo = await acoderunner("undo", name, "--reason", "rollback drill", env=cli_env)
    assert undo.returncode == 0 and "v2 to v1" in undo.stdout
    await cr.delete(name)


UPDATE = ("workflow", "update", "start", "--wait-for-stage", "accepted")


@pytest_asyncio.fixture
async def codec_endpoint(home: Path) -> AsyncIterator[list[str]]:
    """A codec server with the session's key: the `temporal` CLI encrypts its inputs through it
    (the worker refuses plaintext payloads)."""
    token = "tok-" + uuid.uuid4().hex
    codec = EncryptionCodec(read_or_create_key(HomeLayout(home).codec_key), accept_plaintext=True)
    runner = web.AppRunner(build_app(codec, token, []))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield ["--codec-endpoint", f"http://127.0.0.1:{port}", "--codec-auth", f"Bearer {token}"]
    await runner.cleanup()


def temporal(env: WorkflowEnvironment, codec: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    address = env.client.service_client.config.target_host
    return subprocess.run([temporal_binary(), *args, "--address", address, *codec], capture_output=True,
                          text=True, timeout=60)


async def test_upstream_temporal_cli_steers_a_rollout(
    temporal_env: WorkflowEnvironment, cr: CodeRunner, name: str, codec_endpoint: list[str]
) -> None:
    """JSON inputs from the `temporal` CLI, encrypted through the codec server (`--codec-endpoint`,
    `--codec-auth`): the worker refuses plaintext. Updates use `update start --wait-for-stage accepted`."""
    await deployed_v1(cr, name, replicas=1)
    start = {"version": "v2", "env": {"VERSION": "v2"},
             "strategy": {"steps": [{"kind": "set_weight", "weight": 10}, {"kind": "pause"},
                                    {"kind": "set_weight", "weight": 50}, {"kind": "pause"},
                                    {"kind": "set_weight", "weight": 100}],
                          "analysis": {"interval_s": 30}},
             "scale_down_delay_s": 0, "abort_cleanup_s": 0, "actor": "temporal-cli"}
    run = await asyncio.to_thread(temporal, temporal_env, codec_endpoint, *UPDATE,
                                  "--workflow-id", f"deployment/{name}", "--name", "rollout",
                                  "--input", json.dumps(start))
    assert run.returncode == 0, run.stderr
    wid = f"rollout/{name}/v2"
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 10)
    paused = await asyncio.to_thread(temporal, temporal_env, codec_endpoint, "workflow", "signal",
                                     "--workflow-id", wid,
                                     "--name", "pause", "--input", '{"actor": "ops", "reason": "look"}')
    assert paused.returncode == 0, paused.stderr
    await cr.rollouts.wait(name, lambda s: s.phase == RolloutPhase.PAUSED)
    promoted = await asyncio.to_thread(temporal, temporal_env, codec_endpoint, *UPDATE, "--workflow-id",
                                       wid, "--name", "promote", "--input", '{"full": false, "actor": "ops"}')
    assert promoted.returncode == 0, promoted.stderr
    await cr.rollouts.wait(name, lambda s: s.canary_weight == 50)
    abort = '{"reason": "seen enough", "actor": "ops"}'
    aborted = await asyncio.to_thread(temporal, temporal_env, codec_endpoint, *UPDATE, "--workflow-id", wid,
                                      "--name", "abort",
                                      "--input", abort)
    assert aborted.returncode == 0, aborted.stderr
    status = await cr.rollouts.wait(name)
    assert status.phase == RolloutPhase.ABORTED and "seen enough" in (status.outcome or "")
    desc = await settled(cr, name)
    assert any(e.actor == "ops" and e.kind == "rollout_paused" for e in desc.events)
    await cr.delete(name)
