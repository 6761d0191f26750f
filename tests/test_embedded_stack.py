"""`coderunner up` / `down` / `up`: the embedded stack starts, stops exactly its own processes, resumes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import psutil
from temporalio.client import Client

from coderunner.config.home import HomeLayout
from starter.stack.processes import ProcessRecord
from tests import history
from tests.cli_helpers import REPO, coderunner

SPEC = str(REPO / "examples" / "demo_app" / "spec.yaml")


def stack_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODERUNNER_")}
    env["CODERUNNER_HOME"] = str(home)
    return env


def recorded(home: Path) -> dict[str, ProcessRecord]:
    stack = json.loads(HomeLayout(home).stack_file.read_text())
    return {n: ProcessRecord(**r) for n, r in stack["processes"].items()}


def describe(env: dict[str, str]) -> dict:
    result = coderunner("describe", "demo", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_running(env: dict[str, str], replicas: int, timeout_s: float = 90, replaced: int = 0) -> dict:
    """Until running with `replicas` healthy and at least `replaced` replacements made so far."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = coderunner("describe", "demo", "--json", env=env)
        if result.returncode == 0:
            desc = json.loads(result.stdout)
            healthy = sum(i["healthy"] for i in desc["instances"])
            if desc["status"] == "running" and healthy == replicas and desc["replacements"] >= replaced:
                return desc
        assert time.monotonic() < deadline, result.stdout + result.stderr
        time.sleep(1)


async def history_length(address: str, workflow_id: str) -> int:
    client = await Client.connect(address)
    return len(await history.events(client, workflow_id))


async def sweeps_since(address: str, workflow_id: str, start: int) -> int:
    """Health sweeps (check_instances) scheduled after history index `start` that completed."""
    client = await Client.connect(address)
    acts = history.activities(await history.events(client, workflow_id))
    return sum(1 for a in acts if a.name == "check_instances" and a.scheduled >= start and a.completed)


def test_up_down_up_resumes_and_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "state"
    env = stack_env(home)
    try:
        up = coderunner("up", env=env, timeout=180)
        assert up.returncode == 0, up.stderr
        assert "Web UI" in up.stdout
        stack = json.loads(HomeLayout(home).stack_file.read_text())
        assert oct(HomeLayout(home).codec_key.stat().st_mode & 0o777) == "0o600"
        again = coderunner("up", env=env)
        assert again.returncode == 0 and "already up" in again.stdout

        deployed = coderunner("deploy", SPEC, "--replicas", "2", "--sweep-interval", "1", "--wait", env=env)
        assert deployed.returncode == 0, deployed.stderr
        first = describe(env)
        metrics = httpx.get(stack["metrics_url"], timeout=5).text
        assert "coderunner_deployments" in metrics and "temporal_" in metrics  # ours + the SDK's
        assert 'coderunner_instances{deployment="demo"} 2.0' in metrics
        assert 'coderunner_deployments{status="running"} 1.0' in metrics

        # the supervisor restarts a crashed worker and sandbox host; the host adopts the instances
        killed = {victim: recorded(home)[victim].pid for victim in ("worker", "sandbox")}
        for pid in killed.values():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60  # a timeout only: how fast the supervisor is lives in bench/
        while not (all(r.alive() for r in recorded(home).values())
                   and all(recorded(home)[v].pid != pid for v, pid in killed.items())):
            assert time.monotonic() < deadline, "supervisor did not restart the crashed processes"
            time.sleep(0.3)
        # counted, not slept for: three health sweeps scheduled after the restart have completed
        address, workflow_id = stack["temporal_address"], first["workflow_id"]
        back_at = asyncio.run(history_length(address, workflow_id))
        while asyncio.run(sweeps_since(address, workflow_id, back_at)) < 3:
            assert time.monotonic() < deadline + 60, "no health sweeps against the restarted host"
            time.sleep(0.3)
        restarted = wait_running(env, 2)
        before = sorted(i["pid"] for i in first["instances"])
        assert sorted(i["pid"] for i in restarted["instances"]) == before  # adopted, not replaced

        processes = recorded(home)
        app_pids = [i["pid"] for i in first["instances"]]
        assert {"worker", "sandbox"} <= set(processes) and len(app_pids) == 2, (processes, app_pids)
        down = coderunner("down", env=env)
        assert down.returncode == 0 and "supervisor" in down.stdout
        assert all(r.alive() is None for r in processes.values())
        assert not any(
            psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in app_pids
        )
        assert coderunner("list", env=env).returncode == 1  # stack not running

        assert coderunner("up", env=env, timeout=180).returncode == 0
        # `down` stopped the instances; the resumed workflow's sweep replaces both behind the router
        resumed = wait_running(env, 2, replaced=2)
        assert resumed["workflow_id"] == first["workflow_id"]
        assert resumed["router_url"] == first["router_url"]  # the router kept its port
        answer = httpx.get(resumed["router_url"] + "/", timeout=5)
        assert answer.status_code == 200
    finally:
        coderunner("down", env=env)
