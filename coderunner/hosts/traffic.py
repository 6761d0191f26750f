"""What a router saw: HAProxy's per-request log lines, summarised per backend on demand.

Each router (an HAProxy process) logs one line per request into an in-memory ring of its own
(`ring requests` in its config), so the records live in the data plane: they survive a crash or
restart of the sandbox host, and the ring's fixed size keeps a busy router's memory flat. The canary
analysis asks "error rate and latency of each version over the last N seconds"; the host reads the
ring through the runtime API (`show events requests`) and does the counting only when asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from coderunner.models.sandbox import BackendStats, InstanceGroup

MAX_LATENCY_SAMPLES = 5_000
NO_SERVER = "<NOSRV>"
# epoch ms when the request ended, server (= instance id), HTTP status, active time ms, termination state
LOG_FORMAT = "%[date(0,ms)] %s %ST %Ta %ts"

Record = tuple[int, str, int | None, float]  # epoch ms, instance_id, status or None, latency ms
Describe = Callable[[str], tuple[str | None, InstanceGroup | None]]  # instance_id -> version, group


def parse_events(text: str) -> Iterator[Record]:
    """Request records from a `show events` dump, oldest first; other lines (server state
    changes HAProxy logs to the same ring) are skipped.

    A status below 0, or a termination state blaming the server side ('S' error, 's' timeout),
    is a connection failure: recorded with status None, like the analysis expects.
    """
    for line in text.splitlines():
        parts = line.split(" ")
        if len(parts) != 5 or not parts[0].isdigit() or parts[1] == NO_SERVER:
            continue
        try:
            at, status, latency = int(parts[0]), int(parts[2]), float(parts[3])
        except ValueError:
            continue
        failed = status < 0 or parts[4][:1] in ("S", "s")
        yield at, parts[1], None if failed else status, max(latency, 0.0)


def summarize(records: Sequence[Record], now_ms: int, window_s: float | None, backends: Iterable[str],
              describe: Describe) -> list[BackendStats]:
    """Per-backend stats over the last `window_s` seconds (None: everything still in the ring).

    Configured backends always appear (zero traffic is information too), plus any instance
    that served traffic in the window but has since been removed from the router.
    """
    cutoff = now_ms - window_s * 1000 if window_s is not None else float("-inf")
    stats: dict[str, BackendStats] = {iid: BackendStats(instance_id=iid) for iid in backends}
    for at, iid, status, latency in reversed(records):  # newest first
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
        entry.latency_ms_samples.reverse()  # oldest first, like the ring
        entry.version, entry.group = describe(entry.instance_id)
    return list(stats.values())
