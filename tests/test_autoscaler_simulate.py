"""`coderunner autoscale simulate` on the shipped trace: the timeline, and a PNG that is really a plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coderunner.decisions.policy_templates import get_template
from starter.cli.app import app
from starter.tools.png import read_png
from starter.tools.simulate import TraceError, load_trace, simulate_trace

TRACE = Path(__file__).resolve().parents[1] / "examples" / "traces" / "web-day.csv"


def test_simulate_prints_the_timeline_and_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "sim.png"
    result = CliRunner().invoke(app, ["autoscale", "simulate", "--trace", str(TRACE), "--policy", "web-app",
                                      "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert "policy web-app" in result.output and "2→3" in result.output and "peak" in result.output
    width, height, pixels = read_png(out.read_bytes())
    assert (width, height) == (900, 600)
    colors = {pixels[i:i + 3] for i in range(0, len(pixels), 3)}
    assert len(colors) >= 4  # background, frames, and the three series
    drawn = sum(1 for i in range(0, len(pixels), 3) if pixels[i:i + 3] != b"\xff\xff\xff")
    assert drawn > 0.01 * width * height


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
