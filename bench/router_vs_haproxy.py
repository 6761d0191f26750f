"""A deployment's router vs a stock HAProxy vs direct, with wrk; and router memory while streaming 1 GiB.

    python bench/router_vs_haproxy.py [--seconds 2] [--connections 32] [--rounds 5] [--stream-mib 1024]

One demo-app instance on a real sandbox host. Three targets, same backend, same wrk settings, in
interleaved rounds so drift hits all alike (best round reported per target):
  direct   the instance itself
  router   the deployment's router as the host runs it (HAProxy with CodeRunner's config: request
           ring for the analysis, checks, X-CodeRunner-Instance header, forwarded headers)
  haproxy  a stock HAProxy 2.x config (mode http, one server, nothing else) on a free port
Throughput: `wrk -c CONNECTIONS`. Latency: p50 of `wrk -c 1` (one connection, no queueing). CPU per
request of the proxy and of the app during the throughput runs (steadier than rps on a shared machine).
Memory: a second instance streams --stream-mib MiB through the router to a client that discards it;
peak RSS of the router process and of the sandbox host are sampled throughout.
Needs `wrk` and `haproxy` (`make wrk haproxy`).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from coderunner.models.sandbox import RouterBackend, RouterConfig
from starter.tools.harness import (
    HostProcess,
    demo,
    free_port,
    read_and_discard,
    routers_under,
    start_healthy,
    streamer,
)

STOCK = """global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{backend}
"""



def wrk(url: str, seconds: float, connections: int) -> tuple[float, float]:
    """(requests/s, p50 ms) from `wrk --latency`."""
    out = subprocess.run(["wrk", "-t", "2" if connections > 1 else "1", "-c", str(connections),
                          "-d", f"{max(1, round(seconds))}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"\s50%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start_stock(home: Path, backend: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    cfg = home / "stock.cfg"
    cfg.write_text(STOCK.format(port=port, backend=backend))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, port


def peak_rss(pids: list[int], stop: threading.Event, peaks: dict[int, int]) -> None:
    while not stop.is_set():
        for pid in pids:
            try:
                peaks[pid] = max(peaks.get(pid, 0), psutil.Process(pid).memory_info().rss)
            except psutil.Error:
                pass
        time.sleep(0.05)


async def main(seconds: float, connections: int, rounds: int, stream_mib: int) -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: run `make wrk` (or `apt-get install wrk`)")
    home = Path(tempfile.mkdtemp(prefix="coderunner-bench-haproxy-"))
    host = HostProcess(home).start()
    stock: subprocess.Popen[bytes] | None = None
    try:
        async with host.client() as client:
            await start_healthy(client, [demo("bench-v1-0", deployment="bench")])
            backend = (await client.get_instance("bench-v1-0")).port or 0
            router = await client.set_router(RouterConfig(deployment="bench",
                                                          backends=[RouterBackend(instance_id="bench-v1-0")]))
        stock, stock_port = await asyncio.to_thread(start_stock, home, backend)
        targets = {"direct": backend, "router": router.port, "haproxy": stock_port}
        [router_proc] = routers_under(home)
        app_proc = psutil.Process(await _instance_pid(host, "bench-v1-0"))
        proxies = {"direct": None, "router": router_proc, "haproxy": psutil.Process(stock.pid)}
        rps: dict[str, list[float]] = {label: [] for label in targets}
        p50s: dict[str, list[float]] = {label: [] for label in targets}
        cpu_us: dict[str, list[tuple[float, float]]] = {label: [] for label in targets}  # proxy, app
        for _ in range(rounds):
            for label, port in targets.items():
                url = f"http://127.0.0.1:{port}/"
                before = _cpu(proxies[label]), _cpu(app_proc)
                rate = (await asyncio.to_thread(wrk, url, seconds, connections))[0]
                after = _cpu(proxies[label]), _cpu(app_proc)
                requests = rate * round(seconds)
                cpu_us[label].append(((after[0] - before[0]) / requests * 1e6,
                                      (after[1] - before[1]) / requests * 1e6))
                rps[label].append(rate)
                p50s[label].append((await asyncio.to_thread(wrk, url, max(1.0, seconds / 2), 1))[1])
        print(f"wrk, median of {rounds} interleaved rounds; throughput at {connections} connections, "
              "p50 at 1 connection:")
        for label in targets:
            proxy_us = median(c[0] for c in cpu_us[label])
            app_us = median(c[1] for c in cpu_us[label])
            print(f"  {label:8s} {median(rps[label]):8,.0f} rps   p50 {median(p50s[label]):.3f} ms   "
                  f"CPU/request: proxy {proxy_us:5.1f} us, app {app_us:5.1f} us   "
                  f"(rounds: {', '.join(f'{r:,.0f}' for r in rps[label])})")
        ratios = [r / h for r, h in zip(rps["router"], rps["haproxy"], strict=True)]
        print(f"router/haproxy throughput = {median(ratios):.2f}x median of per-round ratios "
              f"(goal >= 0.9; rounds {', '.join(f'{r:.2f}' for r in ratios)}); "
              f"router/direct = {median(rps['router']) / median(rps['direct']):.2f}x")
        added = [r - d for r, d in zip(p50s["router"], p50s["direct"], strict=True)]
        stock_added = [h - d for h, d in zip(p50s["haproxy"], p50s["direct"], strict=True)]
        print(f"router p50 over direct = {median(added):+.3f} ms (goal <= +0.5 ms); "
              f"stock haproxy over direct = {median(stock_added):+.3f} ms")

        size = stream_mib << 20
        async with host.client() as client:
            await start_healthy(client, [streamer("stream-v1-0", "stream", size)])
            sr = await client.set_router(RouterConfig(deployment="stream",
                                                      backends=[RouterBackend(instance_id="stream-v1-0")]))
        router_pid = next(p.pid for p in routers_under(home) if f":{sr.port}" in _config_of(p))
        peaks: dict[int, int] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=peak_rss, args=([router_pid, host.pid], stop, peaks))
        before = {pid: psutil.Process(pid).memory_info().rss for pid in (router_pid, host.pid)}
        sampler.start()
        started = time.perf_counter()
        got = await asyncio.to_thread(read_and_discard, sr.port)
        took = time.perf_counter() - started
        stop.set()
        sampler.join()
        print(f"streamed {got / (1 << 20):,.0f} MiB through the router in {took:.1f}s "
              f"({got / (1 << 20) / took:,.0f} MiB/s)")
        for label, pid in (("router (haproxy)", router_pid), ("sandbox host", host.pid)):
            print(f"  {label:17s} RSS before {before[pid] / (1 << 20):6.1f} MiB, "
                  f"peak {peaks.get(pid, 0) / (1 << 20):6.1f} MiB")
    finally:
        if stock is not None:
            stock.terminate()
            stock.wait(5)
        host.cleanup()


def _cpu(proc: psutil.Process | None) -> float:
    """User + system CPU seconds of a process so far (0 for none). CPU per request is a steadier
    figure than requests/s on a machine shared with other work."""
    if proc is None:
        return 0.0
    times = proc.cpu_times()
    return float(times.user + times.system)


async def _instance_pid(host: HostProcess, iid: str) -> int:
    async with host.client() as client:
        return (await client.get_instance(iid)).pid or 0


def _config_of(proc: psutil.Process) -> str:
    try:
        cfg = Path(proc.cmdline()[-1])
        return cfg.read_text()
    except (psutil.Error, OSError, IndexError):
        return ""


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream-mib", type=int, default=1024)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.connections, args.rounds, args.stream_mib))
