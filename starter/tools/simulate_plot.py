"""The picture of an autoscaling simulation, drawn with matplotlib (PNG or SVG by file suffix).

Three panels share the time axis so a reader can line up cause and effect: the load the trace
offered, the replicas the policy asked for (with the policy's min/max bounds and every scaling
decision marked), and the spend it accrued. Everything a person needs to read it without the code
is on the figure: a title naming the policy and the trace, axis labels with units, legends.
The object-oriented API (`Figure`, no pyplot) keeps no global state and needs no display.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from starter.tools.simulate import SimResult

FORMATS = (".png", ".svg")
LOAD, REPLICAS, READY, COST = "#1f5fbf", "#1a8f3c", "#9a9a9a", "#b8322a"
UP, DOWN, BOUND = "#d9480f", "#1864ab", "#555555"


class PlotFormatError(ValueError):
    pass


def time_unit(span_s: float) -> tuple[float, str]:
    """Seconds per tick unit and its name: minutes for short traces, hours for long ones."""
    if span_s <= 2 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def _clock(value: float, _pos: object = None) -> str:
    """A tick label in h:mm for an x value that is in hours."""
    minutes = round(value * 60)
    return f"{minutes // 60:d}:{minutes % 60:02d}"


def _decisions(result: SimResult) -> tuple[list[tuple[float, int]], list[tuple[float, int]]]:
    """(t_s, new replicas) of every scale-up and every scale-down."""
    ups: list[tuple[float, int]] = []
    downs: list[tuple[float, int]] = []
    previous = result.points[0].replicas
    for pt in result.points:
        if pt.replicas > previous:
            ups.append((pt.t_s, pt.replicas))
        elif pt.replicas < previous:
            downs.append((pt.t_s, pt.replicas))
        previous = pt.replicas
    return ups, downs


def build_figure(result: SimResult, trace_name: str) -> Figure:
    pts, policy = result.points, result.policy
    t0 = pts[0].t_s
    unit_s, unit = time_unit(pts[-1].t_s - t0)
    xs = [(pt.t_s - t0) / unit_s for pt in pts]
    fig = Figure(figsize=(11, 8.5), dpi=100, layout="constrained")
    load_ax, rep_ax, cost_ax = fig.subplots(3, 1, sharex=True, height_ratios=[1, 1.4, 1])
    down_window = policy.scale_down.stabilization_window_s
    fig.suptitle(f"Autoscaling simulation: policy '{policy.name}' on trace '{trace_name}'\n"
                 f"{policy.min_replicas} to {policy.max_replicas} replicas, decision every "
                 f"{policy.sync_interval_s} s, scale-down window {down_window} s", fontsize=13)

    load_ax.plot(xs, [pt.rps for pt in pts], color=LOAD, linewidth=1.8, label="offered load (trace)")
    load_ax.set_ylabel("load (requests/s)")
    load_ax.set_ylim(bottom=0)

    rep_ax.step(xs, [pt.replicas for pt in pts], where="post", color=REPLICAS, linewidth=2.2,
                label="replicas asked for")
    rep_ax.step(xs, [pt.ready for pt in pts], where="post", color=READY, linewidth=1.4, linestyle="--",
                label="replicas ready")
    rep_ax.axhline(policy.max_replicas, color=BOUND, linestyle=":", linewidth=1.3,
                   label=f"max replicas ({policy.max_replicas})")
    rep_ax.axhline(policy.min_replicas, color=BOUND, linestyle="-.", linewidth=1.3,
                   label=f"min replicas ({policy.min_replicas})")
    ups, downs = _decisions(result)
    for marks, marker, color, label in ((ups, "^", UP, "scale up"), (downs, "v", DOWN, "scale down")):
        if marks:
            count = f"{len(marks)} decision" + ("" if len(marks) == 1 else "s")
            rep_ax.scatter([(t - t0) / unit_s for t, _ in marks], [n for _, n in marks], marker=marker,
                           s=60, color=color, zorder=5, label=f"{label} ({count})")
    rep_ax.set_ylabel("replicas (instances)")
    rep_ax.set_ylim(0, policy.max_replicas + 1)
    rep_ax.yaxis.set_major_locator(MaxNLocator(integer=True))

    cost_ax.plot(xs, [pt.cost for pt in pts], color=COST, linewidth=1.8,
                 label=f"cumulative spend at {result.rate.per_hour:g}/instance-hour")
    cost_ax.set_ylabel("spend (currency units)")
    cost_ax.set_ylim(bottom=0)
    cost_ax.set_xlabel(f"time since trace start ({'h:mm' if unit == 'hours' else unit})")
    if unit == "hours":
        cost_ax.xaxis.set_major_formatter(FuncFormatter(_clock))

    axes: list[Axes] = [load_ax, rep_ax, cost_ax]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=9, framealpha=0.9)
    cost_ax.set_xlim(xs[0], xs[-1])
    return fig


def check_plot_path(path: Path) -> str:
    """The image format named by the file's suffix, or a PlotFormatError saying what to use."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PlotFormatError(f"--plot {path}: unknown image type {path.suffix or '(none)'!r}; "
                              f"use a file name ending in {' or '.join(FORMATS)}")
    return suffix[1:]


def write_plot(result: SimResult, path: Path, trace_name: str) -> None:
    """Write the figure; the suffix picks the format. SVG keeps its text as text (searchable)."""
    image_format = check_plot_path(path)
    fig = build_figure(result, trace_name)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, format=image_format)
