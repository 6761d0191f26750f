"""Router overhead: added latency (p50/p99) and max rps through a deployment's router vs direct.

    python bench/router_overhead.py [--requests 3000] [--seconds 5] [--concurrency 32]

One demo-app instance on a real sandbox host and its router (no Temporal needed). Latency:
sequential keep-alive GETs, direct to the instance and through the router, interleaved in blocks so
drift hits both alike. Throughput: a closed loop of --concurrency aiohttp clients for --seconds,
direct then through the router. The client is Python too, so max rps is a floor for both paths; the
ratio is the figure that matters. The demo app is a stdlib ThreadingHTTPServer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from coderunner.decisions.stats import percentile
from coderunner.models.sandbox import RouterBackend, RouterConfig
from starter.tools.harness import HostProcess, demo, start_healthy


async def timed(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        async with session.get(url) as resp:
            await resp.read()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(url: str, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url) as resp:
                    await resp.read()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


async def main(requests: int, seconds: float, concurrency: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="coderunner-bench-router-"))
    host = HostProcess(home).start()
    try:
        async with host.client() as client:
            await start_healthy(client, [demo("bench-v1-0", deployment="bench")])
            port = (await client.get_instance("bench-v1-0")).port
            info = await client.set_router(RouterConfig(deployment="bench",
                                                        backends=[RouterBackend(instance_id="bench-v1-0")]))
        direct, routed = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{info.port}/"
        lat_direct: list[float] = []
        lat_router: list[float] = []
        async with aiohttp.ClientSession() as session:
            await timed(session, direct, 100)  # warm up both paths and their pools
            await timed(session, routed, 100)
            block = 250
            for _ in range(max(1, requests // block)):
                lat_direct += await timed(session, direct, block)
                lat_router += await timed(session, routed, block)
        rps_direct = await throughput(direct, seconds, concurrency)
        rps_router = await throughput(routed, seconds, concurrency)
    finally:
        host.cleanup()
    print(f"latency, {len(lat_direct)} sequential keep-alive GETs each:")
    for q in (50, 99):
        d, r = percentile(lat_direct, q), percentile(lat_router, q)
        print(f"  p{q}: direct {d:.3f} ms, via router {r:.3f} ms -> added {r - d:.3f} ms (x{r / d:.2f})")
    print(f"max throughput, {concurrency} concurrent clients for {seconds:g}s:")
    print(f"  direct {rps_direct:,.0f} rps, via router {rps_router:,.0f} rps "
          f"(router/direct = {rps_router / rps_direct:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.seconds, args.concurrency))
