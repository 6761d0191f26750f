"""Window statistics for canary analysis: percentiles and per-group aggregation of router stats.

Pure and deterministic (workflows call it): no numpy, so the same numbers come out on replay on
any worker. Percentiles use linear interpolation between closest ranks, numpy's default method,
so figures match what an engineer gets when checking by hand with numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from coderunner.models.rollout import GroupStats
from coderunner.models.sandbox import BackendStats


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of values, linear interpolation (numpy's default).

    Raises ValueError on an empty sample or q outside 0..100: there is no honest answer to give.
    """
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} is outside 0..100")
    ordered = sorted(values)
    return _sorted_percentile(ordered, q)


def _sorted_percentile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    if fraction == 0 or ordered[low] == ordered[high]:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


def pooled_latencies(backends: Iterable[BackendStats]) -> list[float]:
    """Every backend's finite latency samples in one list (the group's sample for Mann-Whitney).

    NaN/inf are dropped rather than raised on: a bad sample must not fail the workflow task.
    """
    return [s for backend in backends for s in backend.latency_ms_samples if math.isfinite(s)]


def aggregate(backends: list[BackendStats]) -> GroupStats:
    """Sum requests and errors over a group's backends and take percentiles of the pooled samples.

    Samples are pooled as given: the router caps each backend's sample, so with very uneven
    traffic between backends of one group the busy backend is under-represented. Canary and stable
    groups are each usually one version behind one router, so this is accepted.
    """
    requests = sum(b.requests for b in backends)
    errors = sum(b.errors for b in backends)
    samples = sorted(pooled_latencies(backends))
    has_samples = bool(samples)
    return GroupStats(
        backends=len(backends),
        requests=requests,
        errors=errors,
        error_rate=errors / requests if requests > 0 else 0.0,
        p50_ms=_sorted_percentile(samples, 50) if has_samples else None,
        p95_ms=_sorted_percentile(samples, 95) if has_samples else None,
        p99_ms=_sorted_percentile(samples, 99) if has_samples else None,
        latency_samples=len(samples),
    )
