"""Mann-Whitney U test in pure Python, for comparing canary and stable latency samples.

Why not scipy: workflows call this during canary analysis and must stay deterministic and light
(stdlib + pydantic only). The behaviour follows `scipy.stats.mannwhitneyu` with its defaults
(`use_continuity=True`, `method="auto"`), so results can be checked against scipy:

- U is the statistic of the first sample: U1 = R1 - n1(n1+1)/2, R1 the rank sum of x.
- "exact" when one sample has at most 8 values and there are no ties; otherwise the normal
  approximation with tie correction and continuity correction.
- Two-sided p doubles the upper tail of max(U1, U2), clipped to 1.

Cost is a sort plus one pass (O(n log n)); the exact distribution is built only for the small side
(at most 8 values), so 5,000 samples per side takes milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

Alternative = Literal["two-sided", "less", "greater"]
EXACT_MAX_SMALL_SIDE = 8  # scipy's "auto": exact when min(n1, n2) <= 8 and no ties


class MannWhitneyResult(NamedTuple):
    u: float  # U statistic of the first sample (x)
    p_value: float


def _rank_sum_and_ties(x: Sequence[float], y: Sequence[float]) -> tuple[float, list[int]]:
    """Rank sum of x in the pooled sample (average ranks for ties) and the sizes of tie groups."""
    pooled = sorted([(float(v), 0) for v in x] + [(float(v), 1) for v in y], key=lambda pair: pair[0])
    rank_sum_x = 0.0
    ties: list[int] = []
    i = 0
    n = len(pooled)
    while i < n:
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        size = j - i + 1
        average_rank = (i + j) / 2 + 1  # ranks are 1-based
        from_x = sum(1 for k in range(i, j + 1) if pooled[k][1] == 0)
        rank_sum_x += average_rank * from_x
        if size > 1:
            ties.append(size)
        i = j + 1
    return rank_sum_x, ties


def _u_distribution(m: int, n: int) -> list[int]:
    """counts[u] = number of orderings of m x's among n y's with U = u (no ties), u in 0..m*n.

    These are the coefficients of the Gaussian binomial [m+n choose m]_q =
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i); m is the small side, so this is O(m^2 * n).
    """
    size = m * n + 1
    counts = [0] * size
    counts[0] = 1
    for i in range(1, m + 1):
        shift = n + i
        for u in range(size - 1, shift - 1, -1):  # multiply by (1 - q^shift)
            counts[u] -= counts[u - shift]
        for u in range(i, size):  # divide by (1 - q^i): a running sum with stride i
            counts[u] += counts[u - i]
    return counts


def _exact_upper_tail(u: float, n1: int, n2: int) -> float:
    """P(U >= u) under the null, exactly."""
    counts = _u_distribution(min(n1, n2), max(n1, n2))
    start = math.ceil(u)
    total = sum(counts)
    return sum(counts[start:]) / total if start < len(counts) else 0.0


def _normal_upper_tail(u: float, n1: int, n2: int, ties: list[int]) -> float:
    """P(U >= u) by the normal approximation, tie- and continuity-corrected (as scipy)."""
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties)
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value identical: no evidence either way
        return 1.0
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney_u(
    x: Sequence[float],
    y: Sequence[float],
    alternative: Alternative = "two-sided",
    method: Literal["auto", "exact", "asymptotic"] = "auto",
) -> MannWhitneyResult:
    """Test whether x and y come from the same distribution.

    `alternative="greater"` asks whether x tends to be larger than y (canary slower than stable
    when x is the canary's latencies). `method="exact"` with ties falls back to asymptotic; forced
    exact on two large samples costs O(min(n1, n2)^2 * max(n1, n2)), so leave "auto" in workflows.
    Raises ValueError on an empty sample or NaN: a test on no data must not look like a result.
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError(f"mann_whitney_u needs samples on both sides (got {n1} and {n2})")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be two-sided, less or greater, not {alternative!r}")
    if any(math.isnan(v) for v in x) or any(math.isnan(v) for v in y):
        raise ValueError("mann_whitney_u: samples contain NaN")
    rank_sum_x, ties = _rank_sum_and_ties(x, y)
    u1 = rank_sum_x - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    if alternative == "greater":
        u, factor = u1, 1.0
    elif alternative == "less":
        u, factor = u2, 1.0
    else:
        u, factor = max(u1, u2), 2.0
    exact = not ties and (method == "exact" or (method == "auto" and min(n1, n2) <= EXACT_MAX_SMALL_SIDE))
    tail = _exact_upper_tail(u, n1, n2) if exact else _normal_upper_tail(u, n1, n2, ties)
    return MannWhitneyResult(u=u1, p_value=min(1.0, max(0.0, tail * factor)))
