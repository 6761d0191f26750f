"""The router's pure parts: log parsing and summaries, weight scaling, config, live reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.hosts.haproxy_api import ServerState
from coderunner.hosts.haproxy_config import HAPROXY_MAX_WEIGHT, Server, haproxy_weights, render
from coderunner.hosts.router import reconcile
from coderunner.hosts.traffic import parse_events, summarize
from coderunner.models.sandbox import InstanceGroup

RING = """1700000000000 web-v1-0 200 3 --
Server app/web-v2-0 is UP/READY (leaving forced maintenance).
1700000000500 web-v2-0 500 7 --
1700000001000 <NOSRV> 503 0 SC
1700000002000 web-v1-0 -1 12 CD
1700000003000 web-v2-0 502 1 SH
1700000004000 web-v1-0 504 30000 sH
garbage line
"""


def test_parse_events_skips_noise_and_marks_connection_failures() -> None:
    assert list(parse_events(RING)) == [
        (1700000000000, "web-v1-0", 200, 3.0),
        (1700000000500, "web-v2-0", 500, 7.0),
        (1700000002000, "web-v1-0", None, 12.0),  # no status at all
        (1700000003000, "web-v2-0", None, 1.0),  # server side broke before answering
        (1700000004000, "web-v1-0", None, 30000.0),  # server timeout
    ]


def describe(iid: str) -> tuple[str | None, InstanceGroup | None]:
    return ("v2", InstanceGroup.CANARY) if "v2" in iid else ("v1", InstanceGroup.STABLE)


def test_summarize_windows_counts_and_labels() -> None:
    records = list(parse_events(RING))
    summary = summarize(records, 1700000004000, None, ["web-v1-0", "x"], describe)
    everything = {s.instance_id: s for s in summary}
    v1, v2 = everything["web-v1-0"], everything["web-v2-0"]
    assert (v1.requests, v1.errors, v1.status_counts) == (3, 2, {"200": 1, "error": 2})
    assert v1.latency_ms_samples == [3.0, 12.0, 30000.0]  # oldest first
    assert (v2.requests, v2.errors, v2.version, v2.group) == (2, 2, "v2", InstanceGroup.CANARY)
    assert everything["x"].requests == 0  # configured backends always appear
    recent = {s.instance_id: s for s in summarize(records, 1700000004000, 0.5, [], describe)}
    assert recent["web-v1-0"].requests == 1 and "web-v2-0" not in recent
    assert all(s.requests == 0 for s in summarize(records, 1700000099000, 1.0, ["web-v1-0"], describe))


@pytest.mark.parametrize(("given_weights", "expected"), [
    ({}, {}),
    ({"a": 1, "b": 9}, {"a": 1, "b": 9}),
    ({"a": 0, "b": 256}, {"a": 0, "b": 256}),
    ({"a": 1000, "b": 1, "c": 0}, {"a": 256, "b": 1, "c": 0}),  # a tiny canary keeps its share
    ({"a": 900, "b": 100}, {"a": 256, "b": 28}),
])
def test_haproxy_weights(given_weights: dict[str, int], expected: dict[str, int]) -> None:
    assert haproxy_weights(given_weights) == expected


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(0, 1000), max_size=8))
def test_haproxy_weights_stay_in_range_and_keep_zeroes(weights: dict[str, int]) -> None:
    scaled = haproxy_weights(weights)
    assert scaled.keys() == weights.keys()
    assert all(0 <= w <= HAPROXY_MAX_WEIGHT for w in scaled.values())
    assert all((scaled[k] == 0) == (w == 0) for k, w in weights.items())


def test_render_has_what_the_data_plane_relies_on() -> None:
    servers = [Server("web-v1-0", 4001, 3), Server("web-v1-1", 4002, 0, False)]
    text = render(8080, Path("/s/api.sock"), servers)
    assert "bind 127.0.0.1:8080" in text and "stats socket /s/api.sock mode 600 level admin" in text
    assert "retry-on conn-failure empty-response" in text  # an idempotent request that got no answer
    assert "disable-l7-retry unless METH_GET || METH_OPTIONS || METH_PUT || METH_DELETE" in text  # POST never
    assert "server web-v1-0 127.0.0.1:4001 weight 3 check" in text
    assert "server web-v1-1 127.0.0.1:4002 weight 0 check inter 1s fall 1 rise 1 disabled" in text
    assert "X-CodeRunner-Instance %s" in text


def state(name: str, port: int, weight: int, maint: bool = False) -> ServerState:
    return ServerState(name=name, port=port, weight=weight, in_maintenance=maint)


def test_reconcile_adds_changes_drains_and_deletes() -> None:
    actual = {"a": state("a", 1, 1), "b": state("b", 2, 5), "off": state("off", 6, 1),
              "gone": state("gone", 3, 1), "old": state("old", 4, 0, True)}
    desired = [Server("a", 1, 1), Server("b", 2, 9), Server("new", 5, 2), Server("off", 6, 1, enabled=False)]
    assert reconcile(actual, desired) == [
        "set server app/b weight 9",
        "add server app/new 127.0.0.1:5 weight 2 check inter 1s fall 1 rise 1",
        "enable health app/new",
        "enable server app/new",
        "disable server app/off",
        "disable server app/gone",
        "del server app/gone",
        "del server app/old",  # already drained: a refused delete is retried on the next change
    ]
    assert reconcile({"a": state("a", 1, 1)}, [Server("a", 1, 1)]) == []  # nothing to do, nothing sent
