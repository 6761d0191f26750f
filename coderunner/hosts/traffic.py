"""What a router saw: a bounded ring buffer of requests, summarised per backend on demand.

The canary analysis asks "error rate and latency of each version over the last N seconds", so the
router keeps raw records (cheap to append on the hot path) and does the counting only when asked.
The buffer is bounded so a busy router's memory stays flat.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from coderunner.models.sandbox import BackendStats, InstanceGroup

MAX_RECORDS = 200_000
MAX_LATENCY_SAMPLES = 5_000

Record = tuple[float, str, int | None, float]  # monotonic time, instance_id, status or None, latency ms
Describe = Callable[[str], tuple[str | None, InstanceGroup | None]]  # instance_id -> version, group


class TrafficLog:
    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.records: deque[Record] = deque(maxlen=max_records)
        self.total = 0  # every request the router answered since it started, incl. 502/503

    def record(self, instance_id: str, status: int | None, latency_ms: float) -> None:
        """One backend attempt; status None means a connection error (no HTTP answer)."""
        self.records.append((time.monotonic(), instance_id, status, latency_ms))

    def count_request(self) -> None:
        self.total += 1

    def summarize(self, window_s: float | None, backends: Iterable[str],
                  describe: Describe) -> list[BackendStats]:
        """Per-backend stats over the last `window_s` seconds (None: the whole buffer).

        Configured backends always appear (zero traffic is information too), plus any instance
        that served traffic in the window but has since been removed from the router.
        """
        cutoff = time.monotonic() - window_s if window_s is not None else float("-inf")
        stats: dict[str, BackendStats] = {iid: BackendStats(instance_id=iid) for iid in backends}
        for at, iid, status, latency in reversed(self.records):  # newest first
            if at < cutoff:
                break
            entry = stats.get(iid)
            if entry is None:
                entry = stats[iid] = BackendStats(instance_id=iid)
            entry.requests += 1
            key = "error" if status is None else str(status)
            entry.status_counts[key] = entry.status_counts.get(key, 0) + 1
            if status is None or status >= 500:
                entry.errors += 1
            if len(entry.latency_ms_samples) < MAX_LATENCY_SAMPLES:
                entry.latency_ms_samples.append(round(latency, 3))
        for entry in stats.values():
            entry.latency_ms_samples.reverse()  # oldest first, like the buffer
            entry.version, entry.group = describe(entry.instance_id)
        return list(stats.values())
