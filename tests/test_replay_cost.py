"""Both sides of `autoscaler-spend-by-resources` are replayed by tests/test_replay.py: the histories
recorded before it (flat price per instance-hour) and `autoscaler_resources_*.json`, recorded after
(`python -m tests.record_autoscaler_histories --prefix autoscaler_resources_`). These tests check the
files really are what they stand for."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from workflows.autoscaler import SPEND_BY_RESOURCES

HISTORIES = Path(__file__).parent / "histories"
RESOURCES = sorted(HISTORIES.glob("autoscaler_resources_*.json"))
BEFORE = sorted(p for p in HISTORIES.glob("autoscaler_*.json") if p not in RESOURCES)


def patches(path: Path) -> set[str]:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    found = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads:
                found.add(json.loads(payload.data)["id"])
    return found


def payloads(path: Path, key: str) -> list[dict[str, Any]]:
    """Every JSON payload in the history file's events under `key` (e.g. 'result', 'input')."""
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == key and isinstance(v, dict):
                    out.extend(json.loads(base64.b64decode(p["data"])) for p in v.get("payloads", []))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(path.read_text()))
    return out


def test_both_sides_are_recorded() -> None:
    assert [p.stem.removeprefix("autoscaler_resources_") for p in RESOURCES] == [
        "budget", "continue_as_new", "decision", "override", "pause_resume"]
    assert len(BEFORE) == 15  # 10 flat-priced, 5 of them again with the timer-clock patch


@pytest.mark.parametrize("path", RESOURCES, ids=[p.stem for p in RESOURCES])
def test_resource_histories_took_the_patched_path(path: Path) -> None:
    assert SPEND_BY_RESOURCES in patches(path)


@pytest.mark.parametrize("path", BEFORE, ids=[p.stem for p in BEFORE])
def test_earlier_histories_never_saw_the_patch(path: Path) -> None:
    assert SPEND_BY_RESOURCES not in patches(path)  # so their replay takes the flat-price branch


def test_the_resource_budget_history_priced_the_declared_cpu() -> None:
    """0.5 declared vCPU at 7200 per vCPU-hour: the record written with the 100 % alert says so."""
    path = HISTORIES / "autoscaler_resources_budget.json"
    observed = [r for r in payloads(path, "result") if isinstance(r, dict) and "resources" in r]
    assert observed and all(r["resources"]["cpu"] == 0.5 for r in observed)
    records = [i for i in payloads(path, "input") if isinstance(i, dict) and "alerts" in i]
    assert any(100 in r["alerts"] and r["spend"] >= 1.0 for r in records), records
