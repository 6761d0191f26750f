"""Routers as processes of their own (HAProxy), driven by a real sandbox host: they outlive the host,
heal, stream with bounded memory and never send a request that reached a backend twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from coderunner.models.sandbox import InstanceSpec, RouterBackend, RouterConfig
from starter.tools.harness import (
    HostProcess,
    alive,
    demo,
    instances_under,
    read_and_discard,
    routers_under,
    start_healthy,
    streamer,
)

pytestmark = pytest.mark.timeout(90)

# answers GET /health; reads any other request whole, notes it, and hangs up unanswered
HANG_UP = """
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/health":
            self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
        else:
            self.hang_up()
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.hang_up()
    def hang_up(self):
        with open("seen.txt", "a") as f:
            f.write("x")
        self.close_connection = True
        self.connection.shutdown(2)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""



@pytest.fixture
def host(tmp_path: Path) -> Iterator[HostProcess]:
    proc = HostProcess(tmp_path / "home")
    try:
        yield proc.start()
    finally:
        proc.cleanup()


@contextlib.asynccontextmanager
async def steady_get(port: int) -> AsyncIterator[Counter[str]]:
    """Back-to-back GETs through the router until the block ends; counts outcomes."""
    seen: Counter[str] = Counter()
    stop = asyncio.Event()

    async def loop() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                try:
                    seen[str((await http.get(f"http://127.0.0.1:{port}/")).status_code)] += 1
                except httpx.HTTPError as exc:
                    seen[type(exc).__name__] += 1
                await asyncio.sleep(0.005)

    task = asyncio.create_task(loop())
    try:
        yield seen
    finally:
        stop.set()
        await task


async def routed(host: HostProcess, deployment: str, specs: list[InstanceSpec]) -> int:
    async with host.client() as client:
        await start_healthy(client, specs)
        info = await client.set_router(RouterConfig(deployment=deployment, backends=[
            RouterBackend(instance_id=s.instance_id) for s in specs]))
    return info.port


async def test_router_serves_through_host_crash_and_keep_apps_exit(host: HostProcess) -> None:
    port = await routed(host, "keep", [demo("keep-v1-0", "keep"), demo("keep-v1-1", "keep")])
    routers = [p.pid for p in routers_under(host.home)]
    async with steady_get(port) as seen:
        await asyncio.sleep(0.3)
        host.kill9()
        await asyncio.sleep(0.5)
        served_while_down = seen["200"]
        await asyncio.sleep(0.5)
        assert seen["200"] > served_while_down  # traffic flows with no host at all
        host.start()
        async with host.client() as client:  # re-attached: live changes and stats work again
            await client.set_router(RouterConfig(deployment="keep", backends=[
                RouterBackend(instance_id="keep-v1-0", weight=1),
                RouterBackend(instance_id="keep-v1-1", weight=0)]))
            assert (await client.get_router("keep", window_s=60)).total_requests >= sum(seen.values())
        os.kill(host.pid, signal.SIGUSR1)  # a `down` that keeps the apps serving
        assert host.proc is not None and host.proc.wait(20) == 0
        await asyncio.sleep(0.5)
        host.start()
        await asyncio.sleep(0.3)
    assert set(seen) == {"200"}, seen
    assert [p.pid for p in routers_under(host.home)] == routers and len(instances_under(host.home)) == 2
    async with host.client() as client:
        stats = {s.instance_id: s.requests for s in (await client.get_router("keep", window_s=0.5)).stats}
    assert host.terminate() == 0  # a full `down` stops instances and routers
    assert routers_under(host.home) == [] and instances_under(host.home) == []
    assert stats["keep-v1-1"] == 0  # weight 0 set through the re-attached host still holds


async def test_dead_router_restarted_on_its_port_with_its_servers(host: HostProcess) -> None:
    port = await routed(host, "heal", [demo("heal-v1-0", "heal")])
    [old] = routers_under(host.home)
    old.kill()
    deadline = asyncio.get_running_loop().time() + 20
    while not (new := [p for p in routers_under(host.home) if p.pid != old.pid]):
        assert asyncio.get_running_loop().time() < deadline, "router not restarted"
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(50):
            with contextlib.suppress(httpx.ConnectError):
                resp = await http.get(f"http://127.0.0.1:{port}/")
                if resp.status_code == 200:
                    break
            await asyncio.sleep(0.1)
        assert resp.headers["X-CodeRunner-Instance"] == "heal-v1-0"
    assert alive(new[0].pid)


async def test_request_that_reached_a_backend_is_not_retried(host: HostProcess) -> None:
    hang = InstanceSpec(instance_id="post-v1-0", deployment="post", version="v1",
                        command=["python", "-c", HANG_UP])
    port = await routed(host, "post", [hang, demo("post-v1-1", "post")])
    async with host.client() as client:
        # the app writes into its own home/ (the only writable dir of its sandbox)
        seen_file = Path((await client.get_instance("post-v1-0")).log_path).parent / "home" / "seen.txt"
    codes: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(20):
            try:
                resp = await http.post(f"http://127.0.0.1:{port}/", content=f"order {n}".encode())
                codes[str(resp.status_code)] += 1
            except httpx.RemoteProtocolError:  # on a kept-alive client connection HAProxy hangs up too
                codes["closed"] += 1
    failed = codes["502"] + codes["closed"]
    assert failed > 0 and failed + codes["200"] == 20, codes
    assert len(seen_file.read_text()) == failed  # each broken POST reached the backend exactly once


async def test_idempotent_request_that_got_no_answer_is_retried_elsewhere(host: HostProcess) -> None:
    """A GET whose backend hung up without a byte of answer is sent again, to another instance
    (RFC 9110 §9.2.2): a client never sees a broken connection for it, unlike a POST's."""
    hang = InstanceSpec(instance_id="get-v1-0", deployment="get", version="v1",
                        command=["python", "-c", HANG_UP])
    port = await routed(host, "get", [hang, demo("get-v1-1", "get")])
    async with host.client() as client:
        seen_file = Path((await client.get_instance("get-v1-0")).log_path).parent / "home" / "seen.txt"
    async with httpx.AsyncClient(timeout=10) as http:
        answers = [await http.get(f"http://127.0.0.1:{port}/") for _ in range(20)]
    assert [r.status_code for r in answers] == [200] * 20
    assert {r.headers["X-CodeRunner-Instance"] for r in answers} == {"get-v1-1"}
    assert len(seen_file.read_text()) > 0  # some reached the hanging instance first, and were retried


async def test_streaming_256_mib_keeps_router_and_host_memory_flat(host: HostProcess) -> None:
    size = 256 << 20
    port = await routed(host, "big", [streamer("big-v1-0", "big", size)])
    [router] = routers_under(host.home)
    watched = [router, psutil.Process(host.pid)]
    peak = {p.pid: p.memory_info().rss for p in watched}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for p in watched:
                peak[p.pid] = max(peak[p.pid], p.memory_info().rss)
            done.wait(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        got = await asyncio.to_thread(read_and_discard, port)
    finally:
        done.set()
        sampler.join()
    assert got > size
    assert all(rss < 64 << 20 for rss in peak.values()), peak  # a 256 MiB body never sits in memory
