"""Mann-Whitney U against reference values (scipy's docs, R's docs, hand-derived) and invariants.

scipy is not a dependency, so the reference numbers are hard-coded from published examples; the
exact p-values are also re-derived by brute-force enumeration of every arrangement.
"""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderunner.decisions.mannwhitney import mann_whitney_u

MALES = [19, 22, 16, 29, 24]  # scipy.stats.mannwhitneyu docstring example
FEMALES = [20, 11, 17, 12]


def test_scipy_doc_example_exact() -> None:
    result = mann_whitney_u(MALES, FEMALES)
    assert result.u == 17.0
    assert result.p_value == pytest.approx(0.1111111111111111, rel=1e-12)


def test_scipy_doc_example_asymptotic() -> None:
    result = mann_whitney_u(MALES, FEMALES, method="asymptotic")
    assert result.u == 17.0
    assert result.p_value == pytest.approx(0.11134688653314041, rel=1e-12)


def test_r_wilcox_test_hollander_wolfe_example() -> None:
    # R ?wilcox.test: permeability constants, wilcox.test(x, y, alternative = "g") -> W = 35, p = 0.1272
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    result = mann_whitney_u(x, y, alternative="greater")
    assert result.u == 35.0
    assert result.p_value == pytest.approx(0.1272, abs=5e-5)


def test_fully_separated_small_samples_exact() -> None:
    # one arrangement of C(10, 5) = 252 has U = 0; two-sided doubles it
    result = mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
    assert result.u == 0.0
    assert result.p_value == pytest.approx(2 / 252, rel=1e-12)
    assert mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "less").p_value == pytest.approx(1 / 252)
    assert mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "greater").p_value == pytest.approx(1.0)


def test_ties_use_tie_corrected_normal_approximation() -> None:
    # pooled ranks: 1 -> 1; 2,2,2 -> 3; 3,3,3 -> 6; 4 -> 8; 5 -> 9. R1 = 1 + 3 + 3 + 6 = 13, U1 = 3.
    x, y = [1, 2, 2, 3], [2, 3, 3, 4, 5]
    variance = 20 / 12 * (10 - (24 + 24) / 72)  # two tie groups of 3: t^3 - t = 24 each
    z = (17 - 10 - 0.5) / math.sqrt(variance)  # two-sided uses max(U1, U2) = 17
    expected = math.erfc(z / math.sqrt(2))  # 2 * sf(z)
    for method in ("auto", "exact"):  # exact is impossible with ties: falls back
        result = mann_whitney_u(x, y, method=method)  # type: ignore[arg-type]
        assert result.u == 3.0
        assert result.p_value == pytest.approx(expected, rel=1e-12)


def _brute_force_upper_tail(x: list[float], y: list[float], u_obs: float) -> float:
    pooled = sorted(x + y)
    n1 = len(x)
    hits = total = 0
    for positions in itertools.combinations(range(len(pooled)), n1):  # ranks taken by x
        u = sum(p + 1 for p in positions) - n1 * (n1 + 1) / 2
        total += 1
        hits += u >= u_obs
    return hits / total


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([3.1, 7.2, 1.5], [2.2, 9.9, 4.4, 5.0]),
        ([10, 20, 30, 40, 50, 60], [15, 25, 35]),
        ([1.5, 2.5, 8.0, 9.0, 11.0, 12.0, 13.0], [0.1, 3.0, 4.0, 5.0, 6.0, 7.0, 14.0, 15.0]),
    ],
)
def test_exact_matches_enumeration(x: list[float], y: list[float]) -> None:
    n1n2 = len(x) * len(y)
    u1 = mann_whitney_u(x, y).u
    greater = _brute_force_upper_tail(x, y, u1)
    less = _brute_force_upper_tail(x, y, n1n2 - u1)
    assert mann_whitney_u(x, y, "greater").p_value == pytest.approx(greater, rel=1e-12)
    assert mann_whitney_u(x, y, "less").p_value == pytest.approx(less, rel=1e-12)
    two_sided = min(1.0, 2 * _brute_force_upper_tail(x, y, max(u1, n1n2 - u1)))
    assert mann_whitney_u(x, y).p_value == pytest.approx(two_sided, rel=1e-12)


def test_identical_samples_give_p_one() -> None:
    values = [float(v) for v in range(1, 31)]
    assert mann_whitney_u(values, list(values)).p_value == pytest.approx(1.0)
    assert mann_whitney_u([5.0] * 20, [5.0] * 30).p_value == 1.0  # zero variance: no evidence


def test_large_separated_samples_give_tiny_p() -> None:
    x = [float(v) for v in range(1000, 2000)]
    y = [float(v) for v in range(1000)]
    result = mann_whitney_u(x, y, alternative="greater")
    assert result.u == 1000 * 1000
    assert result.p_value < 1e-100
    assert mann_whitney_u(x, y, alternative="less").p_value == pytest.approx(1.0)


def test_5000_per_side_shift_detected_and_null_not() -> None:
    rng = random.Random(7)
    stable = [rng.gauss(100, 20) for _ in range(5000)]
    same = [rng.gauss(100, 20) for _ in range(5000)]
    slower = [v + 5 for v in (rng.gauss(100, 20) for _ in range(5000))]
    assert mann_whitney_u(slower, stable, "greater").p_value < 1e-10
    assert mann_whitney_u(same, stable, "greater").p_value > 1e-4


def test_small_side_exact_against_large_side() -> None:
    big = [float(v) for v in range(5000)]
    result = mann_whitney_u([6000.0, 7000.0, 8000.0], big, "greater")
    assert result.u == 15000.0
    assert result.p_value == pytest.approx(1 / math.comb(5003, 3), rel=1e-9)


@pytest.mark.parametrize(
    ("x", "y", "alternative", "message"),
    [
        ([], [1.0], "two-sided", "both sides"),
        ([1.0], [], "two-sided", "both sides"),
        ([1.0, math.nan], [1.0], "two-sided", "NaN"),
        ([1.0], [2.0], "bigger", "alternative"),
    ],
)
def test_bad_input_raises(x: list[float], y: list[float], alternative: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mann_whitney_u(x, y, alternative)  # type: ignore[arg-type]


samples = st.lists(st.integers(min_value=0, max_value=20).map(float), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_invariants(x: list[float], y: list[float]) -> None:
    forward, backward = mann_whitney_u(x, y), mann_whitney_u(y, x)
    assert forward.u + backward.u == pytest.approx(len(x) * len(y))
    assert 0 <= forward.u <= len(x) * len(y)
    assert forward.p_value == pytest.approx(backward.p_value)
    for alternative in ("two-sided", "less", "greater"):
        assert 0.0 <= mann_whitney_u(x, y, alternative).p_value <= 1.0  # type: ignore[arg-type]
    assert mann_whitney_u(x, y, "greater").p_value == pytest.approx(mann_whitney_u(y, x, "less").p_value)
