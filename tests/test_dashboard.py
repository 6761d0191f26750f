"""The shipped Grafana dashboard is well formed: Grafana would load it as a person expects to see it.

Which metrics its queries use is checked against a live worker in tests/test_observability.py; here,
its shape: unique ids, panels inside the 24-column grid without overlapping, every query on the
provisioned datasource, a row per area the issue asks for, and the template variables it uses defined.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards" / "coderunner.json"
ROWS = ("Deployments", "Rollouts", "Autoscaling", "Pipelines", "Temporal SDK")


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def test_panels_tile_the_grid_without_overlap() -> None:
    panels = _dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    boxes = []
    for p in panels:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24, p["title"]
        boxes.append((g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"], p["title"]))
    for a, b in itertools.combinations(boxes, 2):
        overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
        assert not overlap, f"{a[4]!r} overlaps {b[4]!r}"


def test_every_area_has_a_row_and_every_panel_a_query_and_a_title() -> None:
    panels = _dashboard()["panels"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert all(any(r.startswith(want) for r in rows) for want in ROWS), rows
    for p in panels:
        if p["type"] == "row":
            continue
        assert p["title"] and p["targets"], p
        assert all(t["expr"].strip() and t["datasource"]["uid"] == "prometheus" for t in p["targets"])


def test_template_variables_used_are_defined() -> None:
    dashboard = _dashboard()
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    used = {m for p in dashboard["panels"] for t in p.get("targets", [])
            for m in re.findall(r"\$(\w+)", t["expr"]) if not m.startswith("__")}
    assert used and used <= defined
