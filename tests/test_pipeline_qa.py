"""Delivery pipeline II on the real stack: QA after each dev step, fix attempts ahead of new work with
backoff, dead letters and a person's decisions (SDK), the circuit breaker, the integration stage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from coderunner.models import search_attributes as sa
from coderunner.models.pipeline import PipelineDescription, PipelineStatus, TaskStatus
from coderunner.models.pipeline_qa import DecisionKind, SkipMode
from starter.sdk import CodeRunner
from starter.sdk.errors import UserError
from starter.sdk.pipelines import Pipelines
from tests.pipeline_helpers import journal_of, sh, steps, write_plan
from tests.polling import until

# first attempt writes "broken"; a fix attempt (it sees the QA output) writes what it was told
FLAKY_DEV = sh(
    'if [ -n "$CODERUNNER_FEEDBACK" ]; then printf "fixed after: %s" "$CODERUNNER_FEEDBACK" > {f};'
    " else echo broken > {f}; fi"
)
FLAKY_QA = sh("grep -q fixed {f} || { echo 'QA: {f} says broken'; exit 1; }")
# as FLAKY_QA, but a failing QA first waits at a barrier (a TCP port: sandboxes share the host's
# network, not its files), so the failures of several tasks end together however loaded the machine is
BARRIER_QA = """
import pathlib, socket, sys, time
if "fixed" in pathlib.Path("{f}").read_text():
    sys.exit(0)
socket.create_connection(("127.0.0.1", {port})).recv(2)
time.sleep({linger})
sys.exit("QA: {f} says broken")
"""
QUIET_BREAKER = {"min_count": 50, "window": 50}  # tests that are not about the breaker keep it closed


def flaky(tid: str, owned: str, estimate: float, qa: list[str] = FLAKY_QA, **extra: Any) -> dict[str, Any]:
    agent = {
        "dev": [a.replace("{f}", owned) for a in FLAKY_DEV],
        "qa": [a.replace("{f}", owned) for a in qa],
    }
    return {"id": tid, "owns": [owned], "agent": agent, "estimate": estimate, **extra}


@contextlib.asynccontextmanager
async def barrier(parties: int) -> AsyncIterator[int]:
    """A port on which the first `parties` connections are held until all have come, then let go."""
    waiting: list[asyncio.StreamWriter] = []

    async def arrive(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        waiting.append(writer)
        if len(waiting) == parties:
            for each in waiting:
                each.write(b"go")
                each.close()

    server = await asyncio.start_server(arrive, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def cmd(tid: str, owned: str, script: str, estimate: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"id": tid, "owns": [owned], "agent": {"dev": sh(script)}, "estimate": estimate, **extra}


def pipes_for(cr: CodeRunner, tmp_path: Path) -> Pipelines:
    return Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))


def task_of(desc: PipelineDescription, tid: str) -> Any:
    return next(t for t in desc.tasks if t.id == tid)


async def test_a_fix_attempt_overtakes_queued_new_work_and_sees_the_qa_output(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    # ranks: h (38) > n (18, needs h) > f (5) > z (4); two workers. h and f start; f fails QA and backs
    # off, so z takes its slot; when h finishes, n (rank 2, new work) and f's fix (rank 3) are both
    # waiting for that one slot: the fix goes first.
    plan = write_plan(
        tmp_path,
        name,
        [
            cmd("h", "h.txt", "sleep 4; echo h > h.txt", 20),
            cmd("n", "n.txt", "echo n > n.txt", 18, depends_on=["h"]),
            flaky("f", "f.txt", 5),
            cmd("z", "z.txt", "sleep 6; echo z > z.txt", 4),
        ],
        pool={"min": 2, "max": 2},
        failures={"backoff_s": 0.1, "breaker": QUIET_BREAKER},
    )
    pipes = pipes_for(cr, tmp_path)
    workflow_id = await pipes.run(plan, "r1")
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED, result
    entries = journal_of(pipes.runs_dir, workflow_id)
    first_qa_failed = entries.index(
        next(e for e in entries if e["event"] == "qa-finish" and e["task"] == "f")
    )
    h_finished = entries.index(next(e for e in entries if e["event"] == "finish" and e["task"] == "h"))
    assert first_qa_failed < h_finished, "precondition: f's first QA must fail while h still runs"
    started = steps(entries, "start")
    # h and f are dispatched in one workflow task: which of the two writes its journal line first is a
    # race between two activities (a full run saw f first); the order that matters comes after
    assert set(started[:2]) == {("h", 1), ("f", 1)}, started
    assert started[2:] == [("z", 1), ("f", 2), ("n", 1)], started
    assert steps(entries, "qa-finish") == [("f", 1), ("f", 2)]
    fixed = (Path(result.workspace) / "f.txt").read_text()
    assert fixed == "fixed after: qa failed (exit 1): QA: f.txt says broken\n"
    desc = await pipes.describe(workflow_id)
    assert task_of(desc, "f").status == TaskStatus.DONE and task_of(desc, "f").attempt == 2
    assert desc.dead_letters == [] and desc.breaker.startswith("closed")


async def timers(pipes: Pipelines, workflow_id: str) -> list[float]:
    history = await pipes.handle(workflow_id).fetch_history()
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in history.events
        if e.WhichOneof("attributes") == "timer_started_event_attributes"
    ]


async def test_a_poison_task_reaches_the_dlq_after_exactly_three_attempts_then_a_person_decides(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    plan = write_plan(
        tmp_path,
        name,
        [
            cmd("poison", "p.txt", "echo boom; exit 3"),
            cmd("after", "a.txt", "echo a > a.txt", depends_on=["poison"]),
            cmd("indep", "i.txt", "echo i > i.txt"),
        ],
        failures={"backoff_s": 0.2, "breaker": QUIET_BREAKER},
    )
    pipes = pipes_for(cr, tmp_path)
    workflow_id = await pipes.run(plan, "r1")
    desc = await until(
        lambda: pipes.describe(workflow_id),
        lambda d: bool(d.dead_letters) and task_of(d, "indep").status == TaskStatus.DONE,
        "poison in the DLQ and the independent task done",
    )
    entries = journal_of(pipes.runs_dir, workflow_id)
    assert [a for t, a in steps(entries, "start") if t == "poison"] == [1, 2, 3]
    # the backoff: durable timers, 0.2s after the first failure, then 0.4s (a wake in between, such as
    # indep finishing, re-arms the timer with what is left of the wait)
    waits = await timers(pipes, workflow_id)
    assert waits[0] == 0.2 and [w for w in waits if w > 0.2] == [0.4], waits
    [letter] = desc.dead_letters
    assert letter.task == "poison" and letter.attempts == 3
    assert letter.detail == "dev command failed (exit 3): boom\n"
    assert task_of(desc, "after").status == TaskStatus.WAITING  # dependents wait for the decision
    assert desc.status == PipelineStatus.RUNNING and desc.stage == "dev"
    rows = await until(
        lambda: _dlq_rows(pipes, name),
        lambda rows: len(rows) == 1,
        "the run listed by its DLQ size search attribute",
    )
    assert rows == [workflow_id]

    with pytest.raises(UserError, match=r"'nope' is not a dead letter of this run \(dead letters: poison\)"):
        await pipes.retry(workflow_id, "nope", reason="typo")
    with pytest.raises(UserError, match="reason"):
        await pipes.skip(workflow_id, "poison", reason="  ")
    assert (await pipes.describe(workflow_id)).dead_letters == desc.dead_letters  # nothing changed

    done = await pipes.retry(
        workflow_id, "poison", reason="the command was wrong", actor="alice", dev=sh("echo fixed > p.txt")
    )
    assert done.message == "poison queued for a new round of attempts (command changed)"
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED and result.dead == [] and result.done == 3
    assert (Path(result.workspace) / "p.txt").read_text() == "fixed\n"
    final = await pipes.describe(workflow_id)
    [record] = final.decisions
    assert (record.kind, record.task, record.actor, record.reason, record.changes) == (
        DecisionKind.RETRY,
        "poison",
        "alice",
        "the command was wrong",
        "command changed",
    )
    with pytest.raises(UserError, match="has already ended"):
        await pipes.skip(workflow_id, "poison", reason="too late")


async def _dlq_rows(pipes: Pipelines, name: str) -> list[str]:
    query = (
        f'WorkflowType = "PipelineWorkflow" AND {sa.PIPELINE_DEAD_LETTERS.name} > 0'
        f' AND CodeRunnerPipeline = "{name}"'
    )
    return [wf.id async for wf in pipes.client.list_workflows(query)]


@pytest.mark.parametrize(
    ("mode", "skipped", "done"),
    [(SkipMode.PROCEED, ["poison"], 2), (SkipMode.SKIP, ["after", "last", "poison"], 0)],
)
async def test_skip_lets_dependents_proceed_or_skips_them(
    cr: CodeRunner, tmp_path: Path, name: str, mode: SkipMode, skipped: list[str], done: int
) -> None:
    plan = write_plan(
        tmp_path,
        name,
        [
            cmd("poison", "p.txt", "exit 1"),
            cmd("after", "a.txt", "echo a > a.txt", depends_on=["poison"]),
            cmd("last", "l.txt", "echo l > l.txt", depends_on=["after"]),
        ],
        failures={"max_attempts": 1, "breaker": QUIET_BREAKER},
    )
    pipes = pipes_for(cr, tmp_path)
    workflow_id = await pipes.run(plan, "r1")
    await until(lambda: pipes.dead_letters(workflow_id), bool, "poison in the DLQ")
    await pipes.skip(workflow_id, "poison", reason="not needed", dependents=mode, actor="bob")
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED and result.skipped == skipped and result.done == done


async def test_abort_stops_the_run_for_good(cr: CodeRunner, tmp_path: Path, name: str) -> None:
    plan = write_plan(
        tmp_path,
        name,
        [cmd("poison", "p.txt", "exit 1"), cmd("slow", "s.txt", "sleep 30")],
        failures={"max_attempts": 1, "breaker": QUIET_BREAKER},
    )
    pipes = pipes_for(cr, tmp_path)
    workflow_id = await pipes.run(plan, "r1")
    await until(lambda: pipes.dead_letters(workflow_id), bool, "poison in the DLQ")
    await pipes.abort(workflow_id, reason="wrong branch", actor="carol")
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.ABORTED and result.reason == "aborted by carol: wrong branch"
    assert result.dead == ["poison"] and result.failed == ["slow"]  # its running step was cancelled
    with pytest.raises(UserError, match="has already ended"):
        await pipes.abort(workflow_id, reason="again")


async def test_the_breaker_opens_above_half_failures_and_one_probe_closes_it(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    # a and b fail their first QA together (a barrier holds each failing QA until both are failing):
    # 2 of 2 failed → open. After the cooldown one probe (a's fix, the higher rank) runs alone; it
    # passes, the breaker closes, and only then b's fix starts. The backoff (2 s) keeps both fixes
    # waiting until the workflow has both failures (a stress run once started a's fix before b's first
    # QA had failed when the two only ran side by side: one failure of one, no breaker). The cooldown
    # (5 s) outlasts the backoff, so both fixes are ready when the breaker half-opens and the rank
    # picks the probe: with the cooldown shorter, the fix whose backoff ended first was the only one
    # ready — b's, when b's QA reported its failure a moment before a's (a later run, `assert 7 < 4`).
    # a's QA fails half a second after b's here, so that order is the one tested.
    async with barrier(2) as port:
        def qa(linger: float) -> list[str]:
            return ["python", "-c", BARRIER_QA.replace("{port}", str(port)).replace("{linger}", str(linger))]

        plan = write_plan(
            tmp_path,
            name,
            [flaky("a", "a.txt", 2, qa=qa(0.5)), flaky("b", "b.txt", 1, qa=qa(0))],
            pool={"min": 2, "max": 2},
            failures={"backoff_s": 2.0, "breaker": {"window": 4, "min_count": 2, "cooldown_s": 5.0}},
        )
        pipes = pipes_for(cr, tmp_path)
        workflow_id = await pipes.run(plan, "r1")
        result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED, result
    entries = journal_of(pipes.runs_dir, workflow_id)
    order = [(e["event"], e["task"], e["attempt"]) for e in entries if e["event"] in ("start", "qa-finish")]
    first_fix = min(order.index(("start", "a", 2)), order.index(("start", "b", 2)))
    assert max(order.index(("qa-finish", "a", 1)), order.index(("qa-finish", "b", 1))) < first_fix, (
        "precondition: both failed their first QA before any fix started", order)
    assert order.index(("qa-finish", "a", 2)) < order.index(("start", "b", 2))  # the probe ran alone
    desc = await pipes.describe(workflow_id)
    assert desc.breaker.startswith("closed") and desc.breaker_opened == 1


async def test_integration_runs_once_over_the_workspace_and_a_failure_is_a_dead_letter(
    cr: CodeRunner, tmp_path: Path, name: str
) -> None:
    plan = write_plan(
        tmp_path,
        name,
        [cmd("x", "x.txt", "echo x > x.txt"), cmd("y", "y.txt", "echo y > y.txt")],
        integration=sh("cat x.txt y.txt; test -f ok.txt"),
    )
    pipes = pipes_for(cr, tmp_path)
    workflow_id = await pipes.run(plan, "r1")
    [letter] = await until(lambda: pipes.dead_letters(workflow_id), bool, "integration in the DLQ")
    assert letter.task == "@integration" and letter.detail == "integration failed (exit 1): x\ny\n"
    await pipes.retry(workflow_id, "@integration", reason="x and y are enough", dev=sh("cat x.txt y.txt"))
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED
    desc = await pipes.describe(workflow_id)
    assert desc.integration == "passed"
    assert steps(journal_of(pipes.runs_dir, workflow_id), "integration-finish") == [
        ("@integration", 1),
        ("@integration", 2),
    ]
