"""Traffic split and canary sizing: pure functions behind every router write during a rollout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions.instances import canary_replicas, split_weights

S = ["s0", "s1", "s2"]


@pytest.mark.parametrize(
    ("stable", "canary", "percent", "expected"),
    [
        (S, [], 0, {"s0": 1, "s1": 1, "s2": 1}),  # no rollout: even weights, as before
        (S, [], 50, {"s0": 1, "s1": 1, "s2": 1}),  # a weight without canaries changes nothing
        (S, ["c0"], 0, {"s0": 333, "s1": 333, "s2": 333, "c0": 0}),  # abort: 100 % stable
        (S, ["c0"], 100, {"s0": 0, "s1": 0, "s2": 0, "c0": 1000}),
        (["s0", "s1"], ["c0"], 10, {"s0": 450, "s1": 450, "c0": 100}),
        ([], ["c0"], 0, {"c0": 1}),  # nothing else to serve: the canary is not starved
    ],
)
def test_split_weights_table(stable: list[str], canary: list[str], percent: int,
                             expected: dict[str, int]) -> None:
    assert split_weights(stable, canary, percent) == expected


def test_split_weights_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"outside 0\.\.100"):
        split_weights(S, ["c0"], 101)


@given(st.integers(1, 50), st.integers(1, 50), st.integers(1, 99))
def test_split_is_close_to_the_asked_share(stable: int, canary: int, percent: int) -> None:
    weights = split_weights([f"s{i}" for i in range(stable)], [f"c{i}" for i in range(canary)], percent)
    assert len(weights) == stable + canary  # every backend gets a weight
    assert all(0 < w <= 1000 for w in weights.values())
    share = sum(w for k, w in weights.items() if k.startswith("c")) / sum(weights.values())
    # rounding inside a group of up to 50 backends moves the share by at most a few points
    assert abs(share - percent / 100) < 0.05


@pytest.mark.parametrize(
    ("replicas", "percent", "expected"),
    [(2, 10, 1), (2, 50, 1), (2, 75, 2), (2, 100, 2), (10, 25, 3), (0, 50, 1), (5, 100, 5)],
)
def test_canary_replicas(replicas: int, percent: int, expected: int) -> None:
    assert canary_replicas(replicas, percent) == expected
