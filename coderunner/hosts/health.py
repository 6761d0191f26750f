"""Concurrent HTTP health checks: one aiohttp session, a semaphore, every URL in flight at once.

A rollout probes every instance on each step, so checking 1,000 endpoints must take about as long
as the slowest one, not their sum. Each URL gets its own timeout so one hung app cannot stall the
batch beyond `timeout_s`.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import aiohttp

ProbeOutcome = tuple[bool, int | None, float | None, str | None]  # healthy, status, latency_ms, error


async def probe_urls(urls: list[str], timeout_s: float, concurrency: int = 256) -> list[ProbeOutcome]:
    """GET each URL; healthy means a 2xx answer within `timeout_s`. Results follow `urls`' order."""
    if not urls:
        return []
    semaphore = asyncio.Semaphore(max(1, concurrency))
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    # No keep-alive: each probe targets a different app, and a pooled socket to an app that has
    # since died would turn into a misleading error.
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        return list(await asyncio.gather(*(_probe(session, semaphore, u, timeout_s) for u in urls)))


async def _probe(
    session: aiohttp.ClientSession, semaphore: asyncio.Semaphore, url: str, timeout_s: float
) -> ProbeOutcome:
    async with semaphore:
        start = time.perf_counter()
        what = f"GET {urlsplit(url).path or '/'}"  # errors name the path probed, never the host's port
        try:
            async with session.get(url, allow_redirects=False) as resp:
                await resp.read()
                latency = (time.perf_counter() - start) * 1000
                healthy = 200 <= resp.status < 300
                return healthy, resp.status, latency, None if healthy else f"{what} → {resp.status}"
        except TimeoutError:
            return False, None, None, f"{what}: timeout, no answer within {timeout_s:g}s"
        except aiohttp.ClientError as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return False, None, None, f"{what}: {detail}"
