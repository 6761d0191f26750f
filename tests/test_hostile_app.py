"""A hostile app deployed through the real stack (Temporal, worker, sandbox host, bubblewrap) tries to
escape its sandbox: read keys and tokens, another instance's files, write outside its dir, see and
kill other processes, fork without bound, allocate past its memory. Every attempt fails, and the
stack and a neighbouring deployment keep serving throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from coderunner.models.deployment import DeploymentDescription, DeploymentSpec
from coderunner.models.sandbox import Resources
from coderunner.telemetry.metrics import REGISTRY
from starter.sdk import CodeRunner
from starter.tools.harness import REPO, HostProcess
from tests.test_deployment_workflow import deployed, hits, spec

HOSTILE = REPO / "examples" / "hostile_app" / "app.py"
LIMITS = Resources(memory_mb=64, max_processes=32, open_files=64)


def hostile_spec(
    name: str, home: Path, victim_home: Path, victim_pid: int, host: HostProcess
) -> DeploymentSpec:
    env = {
        "STATE_DIR": str(home),
        "OTHER_HOME": str(victim_home),
        "OTHER_PID": str(victim_pid),
        "HOST_PID": str(host.pid),
        "SANDBOX_URL": host.url,
        "WORKING_DIR": str(HOSTILE.parent),
    }
    return DeploymentSpec(name=name, command=["python", str(HOSTILE)], env=env, resources=LIMITS)


async def serving(cr: CodeRunner, desc: DeploymentDescription, host: HostProcess) -> bool:
    """The neighbour answers through its router, the sandbox host answers, Temporal answers."""
    assert desc.router_url is not None
    seen = await hits(desc.router_url, 10)
    async with host.client() as client:
        await client.ping()
    await cr.describe(desc.spec.name)
    return sum(seen.values()) == 10 and all(key != "error" and not key.isdigit() for key in seen)


async def test_hostile_app_is_contained(cr: CodeRunner, sandbox_host: HostProcess, home: Path,
                                        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    victim, hostile = f"{name}-v", f"{name}-h"
    victim_desc = await deployed(cr, spec(victim, 1))
    (inst,) = victim_desc.instances
    victim_home = home / "sandbox" / "instances" / inst.instance_id / "home"
    (victim_home / "secret.txt").write_text("the neighbour's secret")
    assert inst.pid is not None
    desc = await deployed(cr, hostile_spec(hostile, home, victim_home, inst.pid, sandbox_host))
    (bad,) = desc.instances
    url = f"http://127.0.0.1:{bad.port}"
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            attempts = (await http.get(url + "/attack")).json()
            bomb = (await http.get(url + "/forkbomb")).json()
        not_refused = [a for a in attempts if not a["refused"]]
        assert not_refused == [], not_refused
        assert bomb["refused"] and bomb["forked"] < LIMITS.max_processes, bomb
        assert (victim_home / "secret.txt").read_text() == "the neighbour's secret"
        assert not (HOSTILE.parent / "pwned").exists() and not (home / "pwned").exists()
        assert await serving(cr, victim_desc, sandbox_host)

        async with httpx.AsyncClient(timeout=30) as http:  # kill(-1) reaches its own namespace only
            assert (await http.get(url + "/killall")).json() == {"scheduled": True}
            await asyncio.sleep(1.0)
            assert (await http.get(url + "/health")).status_code == 200
        assert await serving(cr, victim_desc, sandbox_host)

        before = REGISTRY.get_sample_value("coderunner_instance_limit_kills_total",
                                           {"deployment": hostile, "limit": "memory"}) or 0.0
        async with httpx.AsyncClient(timeout=30) as http:
            with pytest.raises(httpx.HTTPError):  # the kernel kills it mid-request
                await http.get(url + "/allocate")
        oom = await _event_containing(cr, hostile, "out of memory (limit 64 MiB)")
        assert bad.instance_id in oom
        after = REGISTRY.get_sample_value("coderunner_instance_limit_kills_total",
                                          {"deployment": hostile, "limit": "memory"})
        assert after is not None and after > before
        assert await serving(cr, victim_desc, sandbox_host)
        refused = len(attempts) + 3  # kill(-1), the fork bomb and the allocation
        with capsys.disabled():
            print(f"\nhostile app: {refused} of {refused} escape attempts refused "
                  f"(fork bomb stopped after {bomb['forked']} children; {oom})")
    finally:
        await cr.delete(hostile)
        await cr.delete(victim)


async def _event_containing(cr: CodeRunner, name: str, text: str, timeout_s: float = 60.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        events = [e.message for e in (await cr.describe(name)).events if text in e.message]
        if events:
            return events[0]
        assert asyncio.get_running_loop().time() < deadline, f"no event with {text!r}"
        await asyncio.sleep(0.2)
