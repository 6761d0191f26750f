"""No secret or token leaks: codec access log, file modes, CLI validation output, unknown spec keys,
unencrypted payloads refused by the worker, and compose ports on loopback."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from coderunner.codec.aes import ACCEPT_PLAINTEXT_ENV, EncryptionCodec, PlaintextPayloadRefused
from coderunner.codec.server import redact_path
from coderunner.config.home import HomeLayout, ensure_home, open_private_log, read_or_create_key
from coderunner.config.ports import free_port
from coderunner.models.deployment import DeploymentInput, DeploymentSpec
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.sdk.specfile import load_spec
from starter.tools.harness import HostProcess, wait_until
from tests.cli_helpers import REPO, coderunner
from workflows.deployment import DeploymentWorkflow

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"k": "v"}')


def test_codec_server_access_log_has_no_token(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    read_token = ""
    log_path = tmp_path / "codec.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "coderunner.codec.server", "--home", str(home),
                                 "--port", str(port)], cwd=REPO, stderr=log, stdout=log)
    try:
        wait_until(lambda: b"codec server on" in log_path.read_bytes(), timeout_s=30)
        read_token = HomeLayout(home).codec_token.read_text().strip()
        codec = EncryptionCodec(read_or_create_key(HomeLayout(home).codec_key))
        body = json_format.MessageToJson(Payloads(payloads=asyncio.run(codec.encode([PLAIN]))))
        resp = httpx.post(f"http://127.0.0.1:{port}/{read_token}/decode?x={read_token}", content=body)
        assert resp.status_code == 200
        wait_until(lambda: b"/decode" in log_path.read_bytes(), timeout_s=10)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log_path.read_text()
    assert read_token and read_token not in text
    assert "POST /***/decode 200" in text
    for path in (HomeLayout(home).codec_token, HomeLayout(home).codec_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_redact_path() -> None:
    assert redact_path("/s3cret/decode") == "/***/decode"
    assert redact_path("/s3cret/encode?t=s3cret") == "/***/encode"
    assert redact_path("/decode") == "/decode"


def test_state_dirs_0700_and_logs_0600_even_if_they_existed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True, mode=0o755)
    old = home / "logs" / "worker.log"
    old.write_text("old\n")
    old.chmod(0o644)
    umask = os.umask(0o022)
    try:
        ensure_home(home)
        with open_private_log(old) as out:
            out.write(b"new\n")
        with open_private_log(home / "logs" / "fresh.log") as out:
            out.write(b"x\n")
        (home / "made-after.txt").write_text("x")  # anything the process creates afterwards
    finally:
        os.umask(umask)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "logs").stat().st_mode) == 0o700
    for name in ("logs/worker.log", "logs/fresh.log", "made-after.txt"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name


def test_cli_validation_never_prints_env_values(tmp_path: Path) -> None:
    secret = f"hunter2-{uuid.uuid4().hex}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: x\ncommand: [python, app.py]\nenv:\n  NUM: 424242\n  LIST: [{secret}]\n")
    env = {**os.environ, "CODERUNNER_HOME": str(tmp_path / "nohome")}
    runs = [
        coderunner("deploy", str(REPO / "examples/demo_app/spec.yaml"), "--env", "1BAD=x",
                   "--env", f"API_KEY={secret}", env=env),
        coderunner("deploy", str(spec), env=env),
        coderunner("deploy", str(REPO / "examples/demo_app/spec.yaml"), "--env", secret, env=env),
    ]
    for run in runs:
        assert run.returncode == 2, run.stderr
        out = run.stdout + run.stderr
        assert secret not in out and "424242" not in out, out
    assert "env key '1BAD'" in runs[0].stderr
    assert "spec.env.NUM: Input should be a valid string" in runs[1].stderr


def test_unknown_spec_keys_are_refused_with_the_nearest_name(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\ncommand: [python, app.py]\nreplica: 5\nresources: {memory: 64}\n")
    with pytest.raises(UserError) as err:
        load_spec(str(spec), {})
    assert "spec.replica: unknown key — did you mean 'replicas'?" in str(err.value)
    assert "spec.resources.memory: unknown key — did you mean 'memory_mb'?" in str(err.value)
    with pytest.raises(UserError, match=r"spec.zzz: unknown key — remove it \(valid keys: name,"):
        load_spec(None, {"name": "x", "command": ["a"], "zzz": 1})
    run = coderunner("deploy", str(spec), env={**os.environ, "CODERUNNER_HOME": str(tmp_path / "h")})
    assert run.returncode == 2 and "did you mean 'replicas'" in run.stderr


async def test_codec_refuses_plaintext_unless_migrating(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = EncryptionCodec(bytes(32))
    with pytest.raises(PlaintextPayloadRefused, match=ACCEPT_PLAINTEXT_ENV):
        await codec.decode([PLAIN])
    (round_trip,) = await codec.decode(await codec.encode([PLAIN]))
    assert round_trip == PLAIN
    assert await EncryptionCodec(bytes(32), accept_plaintext=True).decode([PLAIN]) == [PLAIN]
    monkeypatch.setenv(ACCEPT_PLAINTEXT_ENV, "1")
    assert await EncryptionCodec(bytes(32)).decode([PLAIN]) == [PLAIN]


async def test_worker_refuses_a_plaintext_deployment(cr: CodeRunner, client: Client, name: str,
                                                     sandbox_host: HostProcess, tmp_path: Path) -> None:
    """A client without the key starts a deployment whose command would create a file: the worker
    refuses the payload before any workflow code runs, so no instance is ever created."""
    marker = tmp_path / "pwned"
    plain = await Client.connect(client.service_client.config.target_host, namespace=client.namespace,
                                 data_converter=pydantic_data_converter)
    spec = DeploymentSpec(name=name, command=["touch", str(marker)], isolation="none")
    handle = await plain.start_workflow(DeploymentWorkflow.run, DeploymentInput(spec=spec),
                                        id=f"deployment/{name}", task_queue=cr.settings.task_queue)
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not (failed := [e async for e in handle.fetch_history_events()
                              if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]):
            assert asyncio.get_running_loop().time() < deadline, "no workflow task failure"
            await asyncio.sleep(0.2)
        failure = failed[0].workflow_task_failed_event_attributes.failure
        message = str(await client.data_converter.decode_failure(failure))  # failures are encrypted too
        assert "refusing an unencrypted payload" in message, message
        assert not marker.exists()
        async with sandbox_host.client() as host:
            assert await host.list_instances(name) == []
    finally:
        await handle.terminate("test cleanup")


def test_compose_publishes_ports_on_loopback_only() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    published = [(name, port) for name, svc in services.items() for port in svc.get("ports") or []]
    assert published, "compose publishes no ports at all?"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    worker_env = services["worker"]["environment"]
    assert worker_env["CODERUNNER_METRICS_BIND"] == "0.0.0.0" and "ports" not in services["worker"]


def test_cli_warns_loudly_about_isolation_none(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\ncommand: [python, app.py]\nisolation: none\n")
    run = coderunner("deploy", str(spec), env={**os.environ, "CODERUNNER_HOME": str(tmp_path / "h")})
    assert "WARNING: x runs UNCONFINED (isolation: none)" in run.stderr
