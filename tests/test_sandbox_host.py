"""The local sandbox host, end to end: a real host subprocess, real HTTP, real app processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from aiohttp import web

from coderunner.hosts.client import SandboxClient
from coderunner.hosts.health import probe_urls
from coderunner.hosts.provider import (
    InstanceNotFound,
    InvalidRequest,
    RouterNotFound,
    SandboxProvider,
    SandboxUnauthorized,
    SandboxUnavailable,
)
from coderunner.models.sandbox import (
    InstanceSpec,
    InstanceState,
    ProbeRequest,
    RouterBackend,
    RouterConfig,
)
from starter.tools.harness import (
    HostProcess,
    alive,
    demo,
    eventually,
    free_port,
    hit,
    instances_under,
    processes_under,
    routers_under,
    start_healthy,
    state_is,
)

pytestmark = pytest.mark.timeout(45)

HOST_MARKER = "CODERUNNER_TEST_HOST_ONLY_MARKER"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostProcess]:
    proc = HostProcess(tmp_path / "home", extra_env={HOST_MARKER: "host-secret-value"})
    try:
        yield proc.start()
    finally:
        proc.cleanup()


async def test_three_instances_healthy_with_stats_and_logs(host: HostProcess) -> None:
    async with host.client() as client:
        assert isinstance(client, SandboxProvider)
        await start_healthy(client, [demo(f"demo-v1-{n}") for n in range(3)])
        infos = await client.list_instances("demo")
        assert [i.state for i in infos] == [InstanceState.RUNNING] * 3
        assert len({i.port for i in infos}) == 3 and all(alive(i.pid or 0) for i in infos)
        assert await client.list_instances("other") == []
        probes = await client.probe(ProbeRequest(instance_ids=["demo-v1-0", "nope"]))
        assert probes[0].healthy and probes[0].status_code == 200 and probes[0].latency_ms is not None
        assert not probes[1].healthy and probes[1].state is None
        stats = await client.stats(["demo-v1-0", "demo-v1-1", "nope"])
        assert [s.instance_id for s in stats] == ["demo-v1-0", "demo-v1-1"]
        assert all(s.memory_bytes > 1_000_000 and s.cpu_percent >= 0 for s in stats)
        assert "listening on 127.0.0.1" in await client.logs("demo-v1-0", tail=5)


async def test_create_is_idempotent(host: HostProcess) -> None:
    async with host.client() as client:
        spec = demo("demo-v1-0")
        first, second = await asyncio.gather(client.create_instance(spec), client.create_instance(spec))
        third = await client.create_instance(spec)
        assert first.pid == second.pid == third.pid
        assert len(psutil.Process(host.pid).children()) == 1
        assert len(processes_under(host.home)) == 1


async def test_every_route_requires_the_token(host: HostProcess) -> None:
    routes = [("GET", "/v1/ping"), ("GET", "/v1/instances"), ("PUT", "/v1/instances/a"),
              ("GET", "/v1/instances/a"), ("DELETE", "/v1/instances/a"), ("POST", "/v1/instances/a/stop"),
              ("GET", "/v1/instances/a/logs"), ("POST", "/v1/probe"), ("POST", "/v1/stats"),
              ("PUT", "/v1/routers/d"), ("GET", "/v1/routers/d"), ("DELETE", "/v1/routers/d"),
              ("GET", "/no/such/route")]
    async with httpx.AsyncClient(base_url=host.url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": host.token}):
            for method, path in routes:
                resp = await http.request(method, path, headers=headers)
                assert resp.status_code == 401, (method, path, headers)
                assert resp.json()["kind"] == "unauthorized"
    async with SandboxClient(host.url, "wrong") as bad:
        with pytest.raises(SandboxUnauthorized, match="token"):
            await bad.list_instances()


async def test_env_is_only_the_spec_env(host: HostProcess) -> None:
    dump = "import json, os; json.dump(dict(os.environ), open('env.json', 'w'))"
    spec = InstanceSpec(instance_id="env-1", deployment="env", version="v1", command=["python", "-c", dump],
                        env={"APP_SECRET": "spec-secret-value"})
    async with host.client() as client:
        info = await client.create_instance(spec)
        own_dir = Path(info.log_path).parent / "home"  # the app's writable dir, beside its meta and log
        await eventually(lambda: asyncio.sleep(0, (own_dir / "env.json").exists()))
        await eventually(lambda: asyncio.sleep(0, (own_dir / "env.json").stat().st_size > 0))
        await eventually(lambda: state_is(client, "env-1", InstanceState.EXITED))
    env = json.loads((own_dir / "env.json").read_text())
    assert env["APP_SECRET"] == "spec-secret-value" and env["PORT"] == str(info.port)
    assert env["HOME"] == str(own_dir) and env["TMPDIR"] == "/tmp"  # a private /tmp in the sandbox
    assert HOST_MARKER not in env and "PATH" not in env
    assert "spec-secret-value" not in (own_dir.parent / "meta.json").read_text()
    assert "spec-secret-value" not in host.log_path.read_text()


async def test_router_spreads_by_weight_and_counts_errors(host: HostProcess) -> None:
    specs = [demo("web-v1-0", "web"), demo("web-v1-1", "web"), demo("web-v2-0", "web", "v2", ERROR_RATE="1")]
    async with host.client() as client:
        await start_healthy(client, specs)
        ids = [s.instance_id for s in specs]
        router = await client.set_router(RouterConfig(deployment="web", backends=[
            RouterBackend(instance_id=i) for i in ids]))
        served = await hit(router.port, 150)
        assert all(served[f"200:{i}"] > 10 for i in ids[:2]) and served["500:web-v2-0"] > 10
        info = await client.get_router("web", window_s=60)
        by_id = {s.instance_id: s for s in info.stats}
        assert info.total_requests == 150 and sum(s.requests for s in info.stats) == 150
        canary = by_id["web-v2-0"]
        assert canary.errors == canary.requests == canary.status_counts["500"]
        assert by_id["web-v2-0"].version == "v2" and by_id["web-v1-0"].errors == 0
        assert len(by_id["web-v1-0"].latency_ms_samples) == by_id["web-v1-0"].requests

        weighted = RouterConfig(deployment="web", backends=[
            RouterBackend(instance_id="web-v1-0", weight=1), RouterBackend(instance_id="web-v1-1", weight=9),
            RouterBackend(instance_id="web-v2-0", weight=0)])
        again = await client.set_router(weighted)
        assert again.port == router.port
        served = await hit(router.port, 200)
        assert served["500:web-v2-0"] == 0 and served["200:web-v1-1"] > 2 * served["200:web-v1-0"]
        await asyncio.sleep(0.3)  # past the 0.2 s window below (longer on a slow machine changes nothing)
        quiet = {s.instance_id: s.requests for s in (await client.get_router("web", window_s=0.2)).stats}
        assert quiet == {"web-v1-0": 0, "web-v1-1": 0, "web-v2-0": 0}, quiet
        await client.delete_router("web")
        with pytest.raises(RouterNotFound):
            await client.get_router("web")
        await client.delete_router("web")  # idempotent


async def test_router_retries_when_a_backend_is_killed(host: HostProcess) -> None:
    specs = [demo(f"rt-v1-{n}", "rt") for n in range(3)]
    async with host.client() as client:
        await start_healthy(client, specs)
        router = await client.set_router(RouterConfig(deployment="rt", backends=[
            RouterBackend(instance_id=s.instance_id) for s in specs]))
        victim = (await client.get_instance("rt-v1-0")).pid
        assert victim is not None
        statuses: Counter[int] = Counter()
        async with httpx.AsyncClient() as http:
            for n in range(300):
                if n == 100:
                    os.kill(victim, signal.SIGKILL)
                statuses[(await http.get(f"http://127.0.0.1:{router.port}/")).status_code] += 1
        assert statuses == Counter({200: 300})
        await eventually(lambda: state_is(client, "rt-v1-0", InstanceState.EXITED))
        assert (await client.get_instance("rt-v1-0")).exit_code == -signal.SIGKILL


async def test_stop_and_destroy_leave_no_process(host: HostProcess) -> None:
    async with host.client() as client:
        await start_healthy(client, [demo("sd-v1-0", "sd"), demo("sd-v1-1", "sd")])
        a, b = await client.get_instance("sd-v1-0"), await client.get_instance("sd-v1-1")
        stopped = await client.stop_instance("sd-v1-0", grace_s=3)
        assert stopped.state == InstanceState.STOPPED and stopped.exit_code == 0 and not alive(a.pid or 0)
        assert (await client.stop_instance("sd-v1-0")).state == InstanceState.STOPPED
        probe = (await client.probe(ProbeRequest(instance_ids=["sd-v1-0"])))[0]
        assert not probe.healthy and probe.error == "stopped"
        await client.destroy_instance("sd-v1-1")
        assert not alive(b.pid or 0) and not Path(b.log_path).parent.exists()
        with pytest.raises(InstanceNotFound):
            await client.get_instance("sd-v1-1")
        await client.destroy_instance("sd-v1-1")  # unknown id: no-op
        await client.destroy_instance("sd-v1-0")
        assert await client.list_instances() == [] and processes_under(host.home) == []


async def test_crashed_instance_probes_unhealthy_with_exit_code(host: HostProcess) -> None:
    async with host.client() as client:
        await client.create_instance(demo("crash-v1-0", "crash", CRASH_ON_START="1"))
        await eventually(lambda: state_is(client, "crash-v1-0", InstanceState.EXITED))
        result = (await client.probe(ProbeRequest(instance_ids=["crash-v1-0"])))[0]
        assert not result.healthy and result.state == InstanceState.EXITED
        assert result.error == "instance exited (code 1)"
        assert "CRASH_ON_START" in await client.logs("crash-v1-0")


async def test_follow_logs_streams_new_output(host: HostProcess) -> None:
    ticker = "import time\nfor n in range(600):\n    print('tick', n, flush=True)\n    time.sleep(0.05)"
    spec = InstanceSpec(instance_id="tick-1", deployment="tick", version="v1",
                        command=["python", "-c", ticker])
    async with host.client() as client:
        await client.create_instance(spec)
        seen = ""
        async for chunk in client.follow_logs("tick-1"):
            seen += chunk
            if "tick 12" in seen:
                break
        assert "tick 5" in seen


async def test_bad_requests_are_400_naming_the_field(host: HostProcess) -> None:
    async with host.client() as client:
        with pytest.raises(InvalidRequest, match="command"):
            await client.create_instance(InstanceSpec(instance_id="x-1", deployment="x", version="v",
                                                      command=["no-such-binary-xyz"]))
        assert await client.list_instances() == []
    auth = {"Authorization": f"Bearer {host.token}"}
    async with httpx.AsyncClient(base_url=host.url, headers=auth) as http:
        resp = await http.put("/v1/instances/a-1", json={
            "instance_id": "b-1", "deployment": "d", "version": "v", "command": ["python"]})
        assert resp.status_code == 400 and "instance_id" in resp.json()["error"]
        resp = await http.put("/v1/instances/a-1", json={"instance_id": "a-1", "deployment": "d",
                                                          "command": [], "env": {"K": "secret-xyz"}})
        error = resp.json()["error"]
        assert resp.status_code == 400 and "version" in error and "command" in error
        assert "secret-xyz" not in resp.text
        assert (await http.post("/v1/probe", content=b"{not json")).status_code == 400


async def test_unreachable_host_is_unavailable() -> None:
    async with SandboxClient(f"http://127.0.0.1:{free_port()}", "t") as client:
        with pytest.raises(SandboxUnavailable, match="not reachable"):
            await client.list_instances()


async def test_host_crash_adoption_and_lost_instances(host: HostProcess) -> None:
    specs = [demo(f"ad-v1-{n}", "ad") for n in range(3)]
    async with host.client() as client:
        await start_healthy(client, specs)
        router = await client.set_router(RouterConfig(deployment="ad", backends=[
            RouterBackend(instance_id=s.instance_id) for s in specs]))
        before = {i.instance_id: i.pid for i in await client.list_instances()}
    assert sorted(before) == ["ad-v1-0", "ad-v1-1", "ad-v1-2"] and all(before.values()), before
    router_pids = [p.pid for p in routers_under(host.home)]
    assert len(router_pids) == 1
    host.kill9()
    assert all(alive(pid or 0) for pid in before.values())  # instances outlive a crashed host
    os.kill(before["ad-v1-2"] or 0, signal.SIGKILL)
    await asyncio.sleep(0.2)
    host.start()
    async with host.client() as client:
        infos = {i.instance_id: i for i in await client.list_instances()}
        for iid in ("ad-v1-0", "ad-v1-1"):
            assert infos[iid].state == InstanceState.RUNNING and infos[iid].adopted
            assert infos[iid].pid == before[iid]
        assert infos["ad-v1-2"].state == InstanceState.LOST
        again = await client.create_instance(specs[0])
        assert again.pid == before["ad-v1-0"]
        assert {p.pid for p in instances_under(host.home)} == {before["ad-v1-0"], before["ad-v1-1"]}
        assert [p.pid for p in routers_under(host.home)] == router_pids  # re-attached, not restarted
        assert psutil.Process(host.pid).children() == []
        info = await client.get_router("ad")
        assert info.port == router.port
        served = await hit(router.port, 40)
        assert sum(v for k, v in served.items() if k.startswith("200:")) == 40
        assert (await client.stats(["ad-v1-0"]))[0].memory_bytes > 0
        probe = (await client.probe(ProbeRequest(instance_ids=["ad-v1-2"])))[0]
        assert not probe.healthy and probe.error == "lost"
        await client.stop_instance("ad-v1-0", grace_s=3)
        assert not alive(before["ad-v1-0"] or 0)


async def test_host_sigterm_stops_every_instance(host: HostProcess) -> None:
    async with host.client() as client:
        await start_healthy(client, [demo("down-v1-0", "down"), demo("down-v1-1", "down")])
        pids = [i.pid for i in await client.list_instances()]
    assert host.terminate() == 0
    assert len(pids) == 2 and all(pids), pids
    assert not any(alive(p or 0) for p in pids) and processes_under(host.home) == []
    metas = sorted((host.home / "sandbox" / "instances").glob("*/meta.json"))
    states = {meta.parent.name: json.loads(meta.read_text())["state"] for meta in metas}
    assert len(states) == 2 and set(states.values()) == {"stopped"}, states


async def test_probe_urls_is_concurrent_and_times_out() -> None:
    """100 probes in flight at once (the app answers none until all 100 have arrived), and each bad
    answer kept apart; shown by what the app saw, not by how long it took (timings live in bench/)."""
    arrived: list[int] = []
    in_flight = 0
    peak = 0
    all_here = asyncio.Event()

    async def app(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        if "barrier" in request.query:  # answers only once all 100 probes are in flight together
            in_flight += 1
            peak = max(peak, in_flight)
            arrived.append(in_flight)
            if in_flight == 100:
                all_here.set()
            await all_here.wait()
            in_flight -= 1
        await asyncio.sleep(float(request.query.get("s", "0")))
        return web.Response(status=int(request.query.get("code", "200")))

    runner = web.AppRunner(web.Application(), shutdown_timeout=0.1)
    runner.app.router.add_get("/", app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}/"
        # a sequential prober would wait on the first one for ever: the generous timeout fails it
        together = await probe_urls([f"{base}?barrier=1"] * 100, timeout_s=30.0)
        # one that never answers in time (30 s against 1 s), a 503, and a port nobody listens on
        bad = await probe_urls([f"{base}?s=30", f"{base}?code=503", f"http://127.0.0.1:{free_port()}/"],
                               timeout_s=1.0)
    finally:
        await runner.cleanup()
    assert peak == 100 and len(arrived) == 100, (peak, len(arrived))
    assert len(together) == 100 and all(r[0] and r[1] == 200 for r in together), together
    assert len(bad) == 3
    assert not bad[0][0] and bad[0][3] is not None and "timeout" in bad[0][3], bad[0]
    assert bad[1][:2] == (False, 503)
    assert not bad[2][0] and bad[2][3]
