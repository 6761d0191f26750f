"""Health-check fan-out: time to probe 100 and 1,000 endpoints, vs one-at-a-time in the same run.

    python bench/health_fanout.py

One lightweight aiohttp server process answers on many ports (the point is the checker, not the apps).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from coderunner.hosts.health import probe_urls


def serve_many(count: int, ports_out: multiprocessing.Queue) -> None:
    """In its own process, so the endpoints do not share the checker's event loop."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    async def run() -> None:
        async def health(_: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        async def slow(_: web.Request) -> web.Response:
            await asyncio.sleep(0.05)  # an app that takes 50 ms to answer its health check
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_get("/health", health)
        app.router.add_get("/slow", slow)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ports = []
        for _ in range(count):
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ports_out.put(ports)
        await asyncio.Event().wait()

    asyncio.run(run())


async def timed(urls: list[str], concurrency: int, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        results = await probe_urls(urls, timeout_s=5, concurrency=concurrency)
        samples.append(time.perf_counter() - start)
        assert all(r[0] for r in results), "every endpoint should be healthy"
    return statistics.median(samples)


async def main() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_many, args=(1000, queue), daemon=True)
    server.start()
    ports = queue.get(timeout=60)
    try:
        for path, label in (("/health", "instant answers"), ("/slow", "50 ms answers")):
            urls = [f"http://127.0.0.1:{p}{path}" for p in ports]
            one_by_one = await timed(urls[:20], concurrency=1, runs=3) / 20
            print(f"{label}: one at a time {one_by_one * 1000:.2f} ms/endpoint (baseline, 20 endpoints)")
            for n in (100, 1000):
                t = await timed(urls[:n], concurrency=256)
                print(
                    f"  fan-out {n:>5} endpoints: {t * 1000:7.0f} ms ({t / n * 1e6:5.0f} µs/endpoint), "
                    f"{one_by_one * n / t:5.1f}x faster than one at a time"
                )
    finally:
        server.terminate()


if __name__ == "__main__":
    asyncio.run(main())
