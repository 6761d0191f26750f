"""`coderunner autoscale simulate` on the shipped trace: the timeline, and PNG/SVG plots a person can read."""

from __future__ import annotations

import struct
from pathlib import Path
from xml.etree import ElementTree

import matplotlib.image
import numpy as np
import pytest
from typer.testing import CliRunner

from coderunner.decisions.policy_templates import get_template
from starter.cli.app import app
from starter.tools.simulate import TraceError, load_trace, simulate_trace
from starter.tools.simulate_plot import time_unit

TRACE = Path(__file__).resolve().parents[1] / "examples" / "traces" / "web-day.csv"


def _svg_texts(path: Path) -> str:
    """All text the SVG draws (svg.fonttype none keeps labels as <text> elements)."""
    root = ElementTree.parse(path).getroot()
    return " ".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


def test_simulate_prints_the_timeline_and_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "sim.png"
    result = CliRunner().invoke(app, ["autoscale", "simulate", "--trace", str(TRACE), "--policy", "web-app",
                                      "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "policy web-app" in result.output and "2→3" in result.output and "peak" in result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 850)
    pixels = matplotlib.image.imread(out)[:, :, :3]
    replicas_green = np.all(np.abs(pixels - np.array([0x1A, 0x8F, 0x3C]) / 255) < 0.03, axis=2)
    assert replicas_green.sum() > 500  # the replica line is really drawn, not just the frame


def test_svg_plot_says_what_it_shows(tmp_path: Path) -> None:
    """A reader who never saw the code finds the title, the units, the bounds and the decisions."""
    out = tmp_path / "sim.svg"
    result = CliRunner().invoke(app, ["autoscale", "simulate", "--trace", str(TRACE), "--policy", "api",
                                      "--plot", str(out)])
    assert result.exit_code == 0, result.output
    texts = _svg_texts(out)
    policy = get_template("api")
    for expected in ("policy 'api'", "trace 'web-day.csv'", "load (requests/s)", "replicas (instances)",
                     "spend (currency units)", "time since trace start (minutes)",
                     f"max replicas ({policy.max_replicas})", f"min replicas ({policy.min_replicas})",
                     "scale up (", "scale down (", "offered load (trace)", "replicas ready"):
        assert expected in texts, f"{expected!r} missing from the SVG's text"


def test_long_traces_read_in_hours() -> None:
    assert time_unit(7200) == (60.0, "minutes")
    assert time_unit(26 * 3600) == (3600.0, "hours")


@pytest.mark.parametrize("name", ["out.jpg", "out"])
def test_plot_with_an_unknown_image_type_is_refused_before_simulating(tmp_path: Path, name: str) -> None:
    result = CliRunner().invoke(app, ["autoscale", "simulate", "--trace", str(TRACE),
                                      "--plot", str(tmp_path / name)])
    assert result.exit_code == 2 and ".png or .svg" in result.output
    assert "peak" not in result.output and not (tmp_path / name).exists()


def test_simulation_respects_bounds_and_the_down_window() -> None:
    policy = get_template("web-app")
    result = simulate_trace(policy, load_trace(TRACE.read_text()))
    reps = [p.replicas for p in result.points]
    assert min(reps) >= policy.min_replicas and max(reps) <= policy.max_replicas and max(reps) > min(reps)
    assert result.total_cost > 0 and result.points[-1].cost == pytest.approx(result.total_cost)


@pytest.mark.parametrize("text, message", [
    ("t,rps\n0,1\n", "t_s and rps"),
    ("t_s,rps,foo\n0,1,2\n1,1,2\n", "unknown trace column"),
    ("t_s,rps\n0,1\n", "at least two rows"),
    ("t_s,rps\n5,1\n1,1\n", "must increase"),
    ("t_s,rps\n0,x\n1,1\n", "line 2"),
])
def test_bad_traces_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        load_trace(text)


def test_cli_refuses_a_bad_trace_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,rps\n0,1\n")
    result = CliRunner().invoke(app, ["autoscale", "simulate", "--trace", str(bad)])
    assert result.exit_code == 2 and "two rows" in result.output


def test_policies_lists_the_six_templates() -> None:
    result = CliRunner().invoke(app, ["autoscale", "policies"])
    assert result.exit_code == 0
    for name in ("web-app", "api", "batch-worker", "ml-inference", "dev", "cost-saver"):
        assert name in result.output
