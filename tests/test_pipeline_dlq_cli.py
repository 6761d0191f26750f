"""`coderunner pipeline dlq list|show|retry|skip` and `pipeline abort`, run as a user would, against
the session's stack: decisions reach the workflow, bad input exits 2 and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from coderunner.models.pipeline import PipelineDescription, PipelineStatus, TaskStatus, TaskView
from coderunner.models.pipeline_qa import DeadLetter
from starter.sdk import CodeRunner
from starter.sdk.pipelines import Pipelines
from starter.views.pipelines import status_text
from tests.cli_helpers import acoderunner
from tests.pipeline_helpers import sh, write_plan
from tests.polling import until


async def test_dlq_list_show_skip_retry_and_bad_input(
    cr: CodeRunner, cli_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    plan = write_plan(
        tmp_path,
        name,
        [
            {"id": "poison", "owns": ["p.txt"], "agent": {"dev": sh("echo boom; exit 3")}, "estimate": 1},
            {"id": "flake", "owns": ["f.txt"], "agent": {"dev": sh("exit 4")}, "estimate": 1},
            {"id": "after", "owns": ["a.txt"], "agent": {"dev": sh("echo a > a.txt")}, "estimate": 1,
             "depends_on": ["poison"]},
        ],
        failures={"max_attempts": 1, "breaker": {"min_count": 50, "window": 50}},
    )
    pipes = Pipelines(cr.client, cr.settings)
    workflow_id = await pipes.run(plan, "r1")
    run = f"{name}/r1"
    await until(lambda: pipes.dead_letters(workflow_id), lambda d: len(d) == 2, "two dead letters")

    listed = await acoderunner("pipeline", "dlq", "list", run, env=cli_env)
    assert listed.returncode == 0, listed.stderr
    assert "poison" in listed.stdout and "dev command failed (exit 3): boom" in listed.stdout
    as_json = json.loads((await acoderunner("pipeline", "dlq", "list", run, "--json", env=cli_env)).stdout)
    assert sorted(d["task"] for d in as_json) == ["flake", "poison"]
    shown = await acoderunner("pipeline", "dlq", "show", run, "poison", env=cli_env)
    assert shown.returncode == 0 and "1 failed attempt(s)" in shown.stdout and "boom" in shown.stdout

    unknown = "'nope' is not a dead letter of this run (dead letters: flake, poison)"
    for bad, message in [
        (("dlq", "show", run, "nope"), unknown),
        (("dlq", "retry", run, "nope", "--reason", "x"), "'nope' is not a dead letter of this run"),
        (("dlq", "skip", run, "poison", "--reason", " "), "reason: Value error, must not be blank"),
        (("dlq", "skip", run, "poison", "--reason", "x", "--dependents", "maybe"), "--dependents"),
        (("dlq", "retry", run, "poison", "--reason", "x", "--env", "NOEQUALS"), "--env: give KEY=VALUE"),
    ]:
        done = await acoderunner("pipeline", *bad, env=cli_env)
        assert done.returncode == 2, (bad, done.stdout, done.stderr)
        assert message in done.stderr, (bad, done.stderr)
    assert len(await pipes.dead_letters(workflow_id)) == 2  # nothing changed

    skipped = await acoderunner(
        "pipeline", "dlq", "skip", run, "flake", "--reason", "not needed", "--by", "dana", env=cli_env
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "flake skipped (dependents proceed); 1 dead letter(s) left" in skipped.stdout
    retried = await acoderunner(
        "pipeline", "dlq", "retry", run, "poison", "--reason", "fixed the command", "--by", "erin",
        "--dev", "echo ok > p.txt", "-e", "TOKEN=s3cr3t", env=cli_env,
    )
    assert retried.returncode == 0, retried.stderr
    assert "poison queued for a new round of attempts (command changed, env TOKEN)" in retried.stdout
    result = await pipes.wait(workflow_id)
    assert result.status == PipelineStatus.SUCCEEDED and result.skipped == ["flake"] and result.done == 2
    desc = await pipes.describe(workflow_id)
    assert [(d.kind.value, d.task, d.actor, d.reason) for d in desc.decisions] == [
        ("skip", "flake", "dana", "not needed"),
        ("retry", "poison", "erin", "fixed the command"),
    ]
    assert "s3cr3t" not in desc.model_dump_json()  # env values are not kept in the audit trail or views

    for late in (("dlq", "skip", run, "poison", "--reason", "late"), ("abort", run, "--reason", "late")):
        done = await acoderunner("pipeline", *late, env=cli_env)
        assert done.returncode == 2 and "has already ended (succeeded)" in done.stderr, done.stderr


def test_status_text_shows_the_breaker_integration_and_dead_letters() -> None:
    desc = PipelineDescription(
        name="p", run="r", status=PipelineStatus.RUNNING, reason="", stage="dev", pool_size=2, running=0,
        ready=0, done=1, failed=0, cached=0,
        tasks=[TaskView(id="a", status=TaskStatus.DEAD, attempt=3, cached=False, rank=1,
                        detail="dev command failed (exit 3): boom\nmore")],
        critical_path=["a"], critical_path_s=1.0, elapsed_s=2.0,
        dead_letters=[DeadLetter(task="a", attempts=3, detail="boom", since_s=1.0)],
        breaker="closed (1 of the last 3 attempts failed)", integration="failed",
    )
    text = status_text(desc)
    assert "circuit breaker: closed (1 of the last 3 attempts failed)" in text
    assert "integration: failed" in text
    assert "dead letters (waiting for a person): a" in text
    assert "dev command failed (exit 3): boom" in text and "more" not in text
