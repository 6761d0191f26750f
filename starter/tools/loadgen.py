"""`coderunner loadgen`: real HTTP through a deployment's router at a fixed rate, and what came back.

Open loop (requests leave on schedule whether or not earlier ones answered), like real users, so a
slow backend shows up as latency instead of silently lowering the offered load.
"""

from __future__ import annotations

import asyncio
import collections
import time

import httpx
from pydantic import BaseModel, Field

from coderunner.decisions.stats import percentile


class LoadReport(BaseModel):
    url: str
    target_rps: float
    duration_s: float
    sent: int
    counts: dict[str, int] = Field(default_factory=dict)  # "200": n, "500": n, "ConnectError": n
    by_instance: dict[str, int] = Field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None

    @property
    def achieved_rps(self) -> float:
        return self.sent / self.duration_s if self.duration_s else 0.0

    def summary(self) -> str:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
        by_instance = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_instance.items())) or "-"
        lat = (
            f"p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
            if self.p50_ms is not None
            else "no answers"
        )
        return (
            f"{self.sent} requests in {self.duration_s:.1f}s ({self.achieved_rps:.0f} rps) to {self.url}\n"
            f"  status: {counts}\n  latency: {lat}\n  by instance: {by_instance}"
        )


async def run_load(
    url: str,
    rps: float,
    duration_s: float,
    path: str = "/",
    max_in_flight: int = 512,
    timeout_s: float = 10.0,
) -> LoadReport:
    if rps <= 0 or duration_s <= 0:
        raise ValueError("rps and duration must be > 0")
    counts: collections.Counter[str] = collections.Counter()
    instances: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    gate = asyncio.Semaphore(max_in_flight)
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)

    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:

        async def one() -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    resp = await client.get(url + path)
                except httpx.HTTPError as err:
                    counts[type(err).__name__] += 1
                    return
                latencies.append((time.perf_counter() - started) * 1000)
                counts[str(resp.status_code)] += 1
                instances[resp.headers.get("X-CodeRunner-Instance", "?")] += 1

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        total = int(rps * duration_s)
        for n in range(total):
            delay = start + n / rps - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))  # always yield, or a late schedule starves the requests
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    report = LoadReport(
        url=url,
        target_rps=rps,
        duration_s=elapsed,
        sent=total,
        counts=dict(counts),
        by_instance=dict(instances),
    )
    if latencies:
        report.p50_ms, report.p95_ms, report.p99_ms = (percentile(latencies, q) for q in (50, 95, 99))
    return report
