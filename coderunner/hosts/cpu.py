"""CPU percent per reader, from cpu_times deltas.

`psutil.Process.cpu_percent(None)` keeps ONE "since the last call" counter per Process object: with
the health sweep and the autoscaler both asking, each saw only the CPU used since the other's call
(often a few milliseconds: 0 % or noise). Here every reader (`health`, `autoscaler`, …) keeps its own
previous (cpu seconds, wall time) per instance, so each reading covers the interval since that
reader's own previous reading; a reader's first reading covers the process's life so far.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet

import psutil

DEFAULT_READER = "default"


def percent_between(cpu_before_s: float, at_before_s: float, cpu_now_s: float, at_now_s: float) -> float:
    """CPU used over wall time, in percent of one core (may exceed 100 on several cores)."""
    elapsed = at_now_s - at_before_s
    if elapsed <= 0:
        return 0.0
    return max(0.0, (cpu_now_s - cpu_before_s) / elapsed * 100.0)


class CpuMeter:
    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[float, float]] = {}

    def read(self, instance_id: str, reader: str, cpu_s: float, now_s: float, started_s: float) -> float:
        """This reader's CPU percent of the instance since its previous read (or since `started_s`)."""
        cpu_before, at_before = self._last.get((instance_id, reader), (0.0, started_s))
        self._last[(instance_id, reader)] = (cpu_s, now_s)
        return percent_between(cpu_before, at_before, cpu_s, now_s)

    def read_process(self, instance_id: str, reader: str, proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return self.read(instance_id, reader, times.user + times.system, time.time(), proc.create_time())

    def keep_only(self, instance_ids: AbstractSet[str]) -> None:
        """Forget readings of instances that are gone."""
        for key in [k for k in self._last if k[0] not in instance_ids]:
            del self._last[key]
