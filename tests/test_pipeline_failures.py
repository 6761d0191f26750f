"""QA-stage decisions, pure: attempts and backoff, fixes ahead of new work, dead letters, skips, status."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coderunner.decisions.pipeline_failures import (
    after_attempt,
    backoff_s,
    next_retry_s,
    run_status,
    skipped_by,
    stage_finished,
    to_start,
    work_queue,
)
from coderunner.decisions.pipeline_graph import analyze
from coderunner.models.pipeline import (
    FileGraph,
    PipelineStatus,
    PlanAnalysis,
    PoolBounds,
    TaskState,
    TaskStatus,
    check_plan,
)
from coderunner.models.pipeline_qa import FailurePolicy, SkipMode
from tests.pipeline_helpers import plan_of, task

POLICY = FailurePolicy(max_attempts=3, backoff_s=2.0, backoff_max_s=5.0)
W, RUN, DONE, RETRY, DEAD, SKIP = (
    TaskStatus.WAITING,
    TaskStatus.RUNNING,
    TaskStatus.DONE,
    TaskStatus.RETRYING,
    TaskStatus.DEAD,
    TaskStatus.SKIPPED,
)


def chain_plan() -> PlanAnalysis:
    """a → b → c (explicit edges), and independent x (long: rank 1) and y."""
    plan = plan_of(
        task("a", ["a.txt"], 1),
        task("b", ["b.txt"], 1, depends_on=["a"]),
        task("c", ["c.txt"], 1, depends_on=["b"]),
        task("x", ["x.txt"], 10),
        task("y", ["y.txt"], 5),
    )
    return analyze(plan, FileGraph(files=[], edges=[]))


def states(**status: TaskStatus | TaskState) -> dict[str, TaskState]:
    base = {t: TaskState() for t in ("a", "b", "c", "x", "y")}
    return base | {t: s if isinstance(s, TaskState) else TaskState(status=s) for t, s in status.items()}


@pytest.mark.parametrize(("failures", "wait"), [(1, 2.0), (2, 4.0), (3, 5.0), (10, 5.0)])
def test_backoff_doubles_up_to_its_cap(failures: int, wait: float) -> None:
    assert backoff_s(failures, POLICY) == wait


def test_three_failed_attempts_make_a_dead_letter() -> None:
    s = TaskState(status=RUN, attempt=1)
    s = after_attempt(s, False, "qa failed: 1 test", POLICY, 100.0)
    assert (s.status, s.failures, s.retry_at_s, s.detail) == (RETRY, 1, 102.0, "qa failed: 1 test")
    s = after_attempt(s.model_copy(update={"status": RUN}), False, "again", POLICY, 110.0)
    assert (s.status, s.failures, s.retry_at_s) == (RETRY, 2, 114.0)
    s = after_attempt(s.model_copy(update={"status": RUN}), False, "third", POLICY, 120.0)
    assert (s.status, s.failures, s.retry_at_s) == (DEAD, 3, None)
    ok = after_attempt(TaskState(status=RUN, failures=2), True, "passed", POLICY, 5.0)
    assert ok.status == DONE and ok.failures == 2 and ok.finished_s == 5.0


def test_a_due_fix_goes_ahead_of_new_work_whatever_its_rank() -> None:
    a = chain_plan()
    assert [t for t, _ in sorted(a.rank.items(), key=lambda kv: kv[1])][:2] == ["x", "y"]
    tasks = states(a=TaskState(status=RETRY, failures=1, retry_at_s=10.0))
    assert work_queue(a, tasks, 9.0) == ["x", "y"]  # backing off: not yet due
    assert work_queue(a, tasks, 10.0) == ["a", "x", "y"]
    assert to_start(a, tasks, PoolBounds(min=1, max=1), 10.0) == ["a"]
    assert next_retry_s(tasks) == 10.0 and next_retry_s(states()) is None


def test_the_breaker_limits_what_starts() -> None:
    a = chain_plan()
    assert to_start(a, states(), PoolBounds(min=2, max=4), 0.0, slots=0) == []
    assert to_start(a, states(), PoolBounds(min=2, max=4), 0.0, slots=1) == ["x"]
    assert to_start(a, states(), PoolBounds(min=2, max=4), 0.0) == ["x", "y", "a"]


def test_a_dead_letter_holds_its_dependents_while_independent_work_goes_on() -> None:
    a = chain_plan()
    tasks = states(a=DEAD)
    assert work_queue(a, tasks, 0.0) == ["x", "y"]
    done_else = states(a=DEAD, x=DONE, y=DONE)
    assert work_queue(a, done_else, 0.0) == [] and not stage_finished(a, done_else, 0.0)
    assert run_status(done_else, False, False) == PipelineStatus.RUNNING  # waits for a person


@pytest.mark.parametrize(
    ("mode", "skipped", "ready"),
    [(SkipMode.PROCEED, ["a"], ["b", "x", "y"]), (SkipMode.SKIP, ["a", "b", "c"], ["x", "y"])],
)
def test_skip_lets_dependents_proceed_or_skips_them(
    mode: SkipMode, skipped: list[str], ready: list[str]
) -> None:
    a = chain_plan()
    tasks = states(a=DEAD)
    assert skipped_by(a, tasks, "a", mode) == skipped
    proceed = mode == SkipMode.PROCEED
    after = tasks | {t: TaskState(status=SKIP, proceed=proceed) for t in skipped}
    assert sorted(work_queue(a, after, 0.0)) == ready


def test_status_of_a_run() -> None:
    assert (
        run_status(states(a=DONE, b=DONE, c=DONE, x=DONE, y=DONE), False, False) == PipelineStatus.SUCCEEDED
    )
    all_settled = states(a=SKIP, b=DONE, c=DONE, x=DONE, y=DONE)
    assert run_status(all_settled, False, False) == PipelineStatus.SUCCEEDED
    assert run_status(all_settled, False, False, integration_failed=True) == PipelineStatus.FAILED
    assert run_status(states(a=DEAD), False, True) == PipelineStatus.ABORTED
    assert run_status(states(a=RUN), False, True) == PipelineStatus.RUNNING  # until its step has stopped
    assert run_status(states(a=RETRY), True, False) == PipelineStatus.CANCELLED


@given(st.lists(st.booleans(), min_size=1, max_size=10), st.integers(1, 5))
def test_a_task_dies_after_exactly_max_attempts_failures_in_a_row(
    outcomes: list[bool], max_attempts: int
) -> None:
    policy = FailurePolicy(max_attempts=max_attempts, backoff_s=1.0, backoff_max_s=8.0)
    s, now, in_a_row = TaskState(), 0.0, 0
    for ok in outcomes:
        s = after_attempt(s.model_copy(update={"status": RUN}), ok, "", policy, now)
        in_a_row = 0 if ok else in_a_row + 1
        if ok:
            assert s.status == DONE
            return
        assert s.status == (DEAD if in_a_row >= max_attempts else RETRY)
        if s.status == RETRY:
            assert s.retry_at_s == now + min(8.0, 2.0 ** (in_a_row - 1))
        else:
            return
        now += 1


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "x", "y"]),
        st.sampled_from([W, RUN, DONE, RETRY, DEAD, SKIP, TaskStatus.TESTING]),
    ),
    st.floats(0, 20),
    st.integers(1, 5),
)
def test_fixes_always_start_before_new_work(status: dict[str, TaskStatus], now: float, pool: int) -> None:
    a = chain_plan()
    tasks = states(
        **{t: TaskState(status=s, retry_at_s=7.0 if s == RETRY else None) for t, s in status.items()}
    )
    started = to_start(a, tasks, PoolBounds(min=pool, max=pool), now)
    kinds = [tasks[t].status == RETRY for t in started]
    assert kinds == sorted(kinds, reverse=True)  # every fix before every new task
    assert all(tasks[t].status in (W, RETRY) for t in started)
    running = sum(1 for s in tasks.values() if s.status in (RUN, TaskStatus.TESTING))
    assert running + len(started) <= max(pool, running)
    if now < 7.0:
        assert not any(tasks[t].status == RETRY for t in started)  # never before its backoff


def test_plan_validation_covers_qa_failures_and_integration() -> None:
    bad = {
        "name": "p",
        "project": ".",
        "failures": {"max_attempt": 3, "backoff_s": -1},
        "integration": [],
        "tasks": [{"id": "a", "owns": ["a.py"], "agent": {"dev": ["true"], "qa": []}, "estimate": 1}],
    }
    plan, errors = check_plan(bad)
    assert plan is None
    shown = {str(e) for e in errors}
    assert "plan: failures.max_attempt: unknown key — remove it or check its spelling" in shown
    assert any(s.startswith("plan: failures.backoff_s:") for s in shown)
    assert any(s.startswith("task a: agent.qa: must be a non-empty command") for s in shown)
    assert any(s.startswith("plan: integration: must be a non-empty command") for s in shown)
    good = {**bad, "failures": {"max_attempts": 2}, "integration": "make check"}
    good["tasks"] = [{**bad["tasks"][0], "agent": {"dev": ["true"], "qa": "pytest -q"}}]
    plan, errors = check_plan(good)
    assert plan is not None and errors == []
    assert plan.failures.max_attempts == 2 and plan.tasks[0].agent.qa_argv() == ["sh", "-c", "pytest -q"]
