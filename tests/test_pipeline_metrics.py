"""Pipeline metrics, scraped from a worker *process*'s /metrics: while a run waits for a person (a
dead letter, the breaker open after 2 failures of 3 attempts) the live gauges say so; once it ends
they are gone and the run's counters (attempts by outcome, cache lookups and hits, runs by status,
makespan against the critical path) say what happened; a second run is answered from the cache."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from coderunner.config.ports import free_port
from coderunner.models.pipeline import PipelineStatus
from coderunner.models.pipeline_qa import SkipMode
from starter.sdk.pipelines import Pipelines
from tests.pipeline_helpers import sh, write_plan
from tests.polling import until
from tests.worker_processes import WorkerProcesses

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(url)).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


async def run_until_dead_letter(pipes: Pipelines, plan: Path, run: str) -> str:
    workflow_id = await pipes.run(plan, run)
    await until(lambda: pipes.dead_letters(workflow_id), bool, "poison in the DLQ", 120)
    return workflow_id


async def test_worker_exports_pipeline_metrics(
    crash_workers: WorkerProcesses, tmp_path: Path, name: str
) -> None:
    port = free_port()
    crash_workers.env["CODERUNNER_METRICS_PORT"] = str(port)
    crash_workers.start()
    url = f"http://127.0.0.1:{port}/metrics"
    pipeline = f"m-{name}"
    tasks = [
        {"id": "a", "owns": ["a.txt"], "agent": {"dev": sh("echo a > a.txt"), "qa": sh("grep -q a a.txt")},
         "estimate": 2},
        {"id": "poison", "owns": ["p.txt"], "agent": {"dev": ["false"]}, "estimate": 1},
    ]
    breaker = {"window": 10, "min_count": 3, "failure_ratio": 0.5, "cooldown_s": 600}
    plan = write_plan(tmp_path, pipeline, tasks, pool={"min": 2, "max": 2},
                      failures={"max_attempts": 2, "backoff_s": 0.1, "breaker": breaker})
    cr = crash_workers.cr
    pipes = Pipelines(cr.client, cr.settings.model_copy(update={"home": tmp_path / "home"}))

    first = await run_until_dead_letter(pipes, plan, "r1")
    live = {"pipeline": pipeline, "run": "r1"}
    seen = await until(
        lambda: scrape(url),
        lambda s: value(s, "coderunner_pipeline_dlq_size", **live) == 1
        and value(s, "coderunner_pipeline_breaker_open", **live) == 1,
        "the dead letter and the open breaker in /metrics",
    )
    assert value(seen, "coderunner_pipeline_breaker_state", **live, state="open") == 1
    assert value(seen, "coderunner_pipeline_breaker_state", **live, state="closed") is None
    assert value(seen, "coderunner_pipeline_queue_depth", **live) == 0
    assert value(seen, "coderunner_pipeline_tasks_running", **live) == 0
    assert value(seen, "coderunner_pipeline_pool_size", **live) == 2
    assert value(seen, "coderunner_pipeline_critical_path_seconds", **live) == 2.0
    assert (value(seen, "coderunner_pipeline_elapsed_seconds", **live) or 0) > 0

    await pipes.skip(first, "poison", reason="metrics test", dependents=SkipMode.PROCEED, actor="test")
    assert (await pipes.wait(first)).status == PipelineStatus.SUCCEEDED
    done = await until(
        lambda: scrape(url),
        lambda s: value(s, "coderunner_pipeline_runs_total", pipeline=pipeline, status="succeeded") == 1
        and value(s, "coderunner_pipeline_dlq_size", **live) is None,
        "the finished run counted and its live gauges gone",
    )

    def attempts(stage: str, outcome: str, samples: Samples) -> float | None:
        return value(samples, "coderunner_pipeline_attempts_total", pipeline=pipeline, stage=stage,
                     outcome=outcome)

    assert attempts("dev", "ok", done) == 1 and attempts("dev", "failed", done) == 2
    assert attempts("qa", "ok", done) == 1 and attempts("dev", "cached", done) is None
    assert value(done, "coderunner_pipeline_cache_lookups_total", pipeline=pipeline) == 3
    assert value(done, "coderunner_pipeline_cache_hits_total", pipeline=pipeline) is None  # never hit yet
    makespan = value(done, "coderunner_pipeline_makespan_seconds", pipeline=pipeline)
    ratio = value(done, "coderunner_pipeline_makespan_ratio", pipeline=pipeline)
    assert makespan is not None and makespan > 0 and ratio == makespan / 2.0

    second = await run_until_dead_letter(pipes, plan, "r2")  # a: same inputs, answered by the cache
    await pipes.skip(second, "poison", reason="metrics test", dependents=SkipMode.PROCEED, actor="test")
    assert (await pipes.wait(second)).cached == 1
    again = await until(
        lambda: scrape(url),
        lambda s: value(s, "coderunner_pipeline_runs_total", pipeline=pipeline, status="succeeded") == 2,
        "the second run counted",
    )
    assert value(again, "coderunner_pipeline_cache_hits_total", pipeline=pipeline) == 1
    assert value(again, "coderunner_pipeline_cache_lookups_total", pipeline=pipeline) == 6
    assert attempts("dev", "cached", again) == 1 and attempts("dev", "failed", again) == 4
