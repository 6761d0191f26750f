"""Task graph, cycles, critical path, priorities and scheduling: pure functions, table and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coderunner.decisions.pipeline_graph import analyze, import_closure
from coderunner.decisions.pipeline_schedule import (
    blocked_tasks,
    lower_bound,
    pipeline_status,
    pool_size,
    priority_key,
    ready_queue,
    simulate,
    to_dispatch,
)
from coderunner.models.pipeline import (
    FileEdge,
    FileGraph,
    PipelineStatus,
    PlanCycle,
    PoolBounds,
    TaskState,
    TaskStatus,
)
from tests.pipeline_helpers import plan_of, task


def graph(*edges: tuple[str, str], files: list[str] | None = None) -> FileGraph:
    names = sorted({f for e in edges for f in e} | set(files or []))
    return FileGraph(files=names, edges=[FileEdge(source=a, target=b) for a, b in edges])


def test_diamond_batches_critical_path_and_priorities() -> None:
    plan = plan_of(
        task("base", ["base.py"], 2),
        task("slow", ["slow.py"], 10),
        task("fast", ["fast.py"], 1),
        task("top", ["top.py"], 3),
        task("loose", ["loose.py"], 4),
    )
    files = graph(
        ("slow.py", "base.py"),
        ("fast.py", "base.py"),
        ("top.py", "slow.py"),
        ("top.py", "fast.py"),
        files=["loose.py"],
    )
    a = analyze(plan, files)
    assert a.batches == [["base", "loose"], ["slow", "fast"], ["top"]]
    assert a.critical_path == ["base", "slow", "top"] and a.critical_path_s == 15
    assert a.priority == {"base": 15, "slow": 13, "fast": 4, "top": 3, "loose": 4}
    # fast and loose tie on 4: fast has a descendant, so it goes first
    assert [t for t, _ in sorted(a.rank.items(), key=lambda kv: kv[1])] == [
        "base",
        "slow",
        "fast",
        "loose",
        "top",
    ]
    assert {(e.task, e.on) for e in a.edges} == {
        ("slow", "base"),
        ("fast", "base"),
        ("top", "slow"),
        ("top", "fast"),
    }


def test_import_through_unowned_files_and_explicit_edges() -> None:
    plan = plan_of(task("a", ["a.py"]), task("b", ["b.py"]), task("c", ["c.py"], depends_on=["a"]))
    a = analyze(plan, graph(("a.py", "util.py"), ("util.py", "b.py")))
    assert {(e.task, e.on, e.why) for e in a.edges} == {
        ("a", "b", "a.py imports util.py imports b.py"),
        ("c", "a", "depends_on"),
    }
    assert import_closure(graph(("a.py", "util.py"), ("util.py", "b.py")), ["a.py"]) == ["b.py", "util.py"]


def test_type_checking_imports_make_no_edge_but_are_reported() -> None:
    plan = plan_of(task("a", ["a.py"]), task("b", ["b.py"]))
    files = FileGraph(
        files=["a.py", "b.py"], edges=[FileEdge(source="a.py", target="b.py", kind="type_checking")]
    )
    a = analyze(plan, files)
    assert a.edges == [] and len(a.type_checking_edges) == 1


def test_cycle_is_refused_with_the_chain_shortest_first() -> None:
    plan = plan_of(
        task("a", ["a.py"]), task("b", ["b.py"]), task("c", ["c.py"]), task("d", ["d.py"], depends_on=["c"])
    )
    files = graph(("a.py", "b.py"), ("b.py", "c.py"), ("c.py", "a.py"), ("c.py", "d.py"))
    with pytest.raises(PlanCycle) as err:
        analyze(plan, files)
    lines = str(err.value).splitlines()
    assert lines[1] == "  1. task c → task d (c.py imports d.py) → task c (d: depends_on)"
    assert lines[2].startswith("  2. task ") and lines[2].count("→") == 3
    assert "a.py imports b.py" in lines[2] and "c.py imports a.py" in lines[2]


@pytest.mark.parametrize(
    ("depth", "running", "expected"),
    [(0, 0, 2), (1, 0, 2), (5, 0, 5), (20, 0, 10), (3, 9, 10), (0, 4, 4)],
)
def test_pool_size_follows_queue_depth_between_bounds(depth: int, running: int, expected: int) -> None:
    assert pool_size(depth, running, PoolBounds()) == expected


def test_ready_queue_dispatch_and_failure_blocking() -> None:
    plan = plan_of(
        task("a", ["a"], 1),
        task("b", ["b"], 5),
        task("c", ["c"], 1, depends_on=["a"]),
        task("d", ["d"], 1, depends_on=["c"]),
    )
    a = analyze(plan, graph(files=["a", "b", "c", "d"]))
    tasks = {t: TaskState() for t in a.tasks}
    assert ready_queue(a, tasks) == ["b", "a"]  # b: 5 to the end; a: 3
    assert to_dispatch(a, tasks, PoolBounds(min=1, max=1)) == ["b"]
    tasks["a"] = TaskState(status=TaskStatus.FAILED)
    assert blocked_tasks(a, tasks) == ["c", "d"]
    assert pipeline_status(tasks, analysed=True, cancelled=False) == PipelineStatus.RUNNING
    done = {t: TaskState(status=TaskStatus.DONE) for t in a.tasks}
    assert pipeline_status(done, analysed=True, cancelled=False) == PipelineStatus.SUCCEEDED
    assert [priority_key(r, 500) for r in (1, 125, 126, 500)] == [1, 1, 2, 4]


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[dict], dict[str, float]]:
    n = draw(st.integers(2, 25))
    durations = {f"t{i}": draw(st.sampled_from([0.5, 1.0, 1.0, 2.0, 8.0])) for i in range(n)}
    tasks = []
    for i in range(n):
        deps = sorted({f"t{j}" for j in draw(st.lists(st.integers(0, i - 1), max_size=3))}) if i else []
        tasks.append(task(f"t{i}", [f"f{i}"], durations[f"t{i}"], depends_on=deps))
    return tasks, durations


@settings(max_examples=60, deadline=None)
@given(dags(), st.integers(1, 6))
def test_simulated_makespan_within_graham_bound(
    dag: tuple[list[dict], dict[str, float]], workers: int
) -> None:
    tasks, durations = dag
    a = analyze(plan_of(*tasks), FileGraph(files=[], edges=[]))
    bounds = PoolBounds(min=1, max=workers)
    bound = lower_bound(a, durations, workers)
    # priority dispatch is greedy list scheduling: never idle while a task is ready, so Graham's bound
    # holds (<= work/m + critical path <= 2x the lower bound); batch-by-batch idles, so only >= bound
    prio = simulate(a, durations, bounds, "priority")
    assert bound - 1e-9 <= prio <= 2 * bound + 1e-9
    assert simulate(a, durations, bounds, "batch") >= bound - 1e-9
