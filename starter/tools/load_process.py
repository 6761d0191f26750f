"""Open-loop HTTP load in its own process (`python -m starter.tools.load_process URL RPS`) until SIGTERM.

A separate process so the load does not compete with the test's in-process worker for one event
loop (at a few hundred rps that would delay workflow tasks and distort rollback timings). On
SIGTERM it lets in-flight requests finish and prints the answers' counts by status as JSON.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def load(url: str, rps: float = 150.0) -> AsyncIterator[collections.Counter[str]]:
    """Open-loop GETs at `rps` from a child process until the block ends; then counts by status."""
    counts: collections.Counter[str] = collections.Counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter.tools.load_process",
        url,
        str(rps),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield counts
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = await proc.communicate()
        if proc.returncode != 0 or not out.strip():  # a crashed load must not read as "no failures"
            raise RuntimeError(f"load process exited {proc.returncode} without its counts: {out!r}")
        counts.update(json.loads(out))


async def main(url: str, rps: float, max_s: float = 300.0) -> None:
    """Bounded in time too: whatever happens to the caller, the load stops after `max_s`."""
    counts: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def one(http: httpx.AsyncClient) -> None:
        try:
            counts[str((await http.get(url + "/")).status_code)] += 1
        except httpx.HTTPError as err:
            counts[type(err).__name__] += 1

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        tasks: set[asyncio.Task[None]] = set()
        start, n = time.perf_counter(), 0
        parent = os.getppid()
        deadline = start + max_s
        # orphaned (parent killed) or past the deadline: stop too
        while not stop.is_set() and os.getppid() == parent and time.perf_counter() < deadline:
            delay = start + n / rps - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))  # always yield: behind schedule, requests must still run
            task = asyncio.create_task(one(http))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 300.0))
