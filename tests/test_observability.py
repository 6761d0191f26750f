"""Observability against a live worker *process*: its /metrics, the real Prometheus, the dashboard.

One module-wide scene: a worker process (its own task queue, /metrics on a free port) runs a
deployment of 2 with a canary rollout held at 50 %, autoscaling with a budget, and real requests
through the router. Then:
- every metric name a dashboard panel or an alert rule uses is exported by that worker (the pipeline
  set too: tests/test_pipeline_metrics.py checks their values);
- the live gauges say what the workflows say (status, version, replicas, step, weight, traffic);
- the real `prometheus` binary (loopback, temp dir, 1 s scrapes) loads our rules, scrapes the
  worker and answers a query for a CodeRunner series.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from coderunner.config.ports import free_port
from coderunner.decisions.policy_templates import get_template
from coderunner.models.autoscaler import BudgetSettings
from coderunner.models.rollout import RolloutStrategy
from coderunner.models.rollout_api import RolloutStatus
from starter.sdk import CodeRunner
from starter.tools.harness import HostProcess
from tests.system_tools import require
from tests.test_deployment_workflow import deployed, hits, spec
from tests.worker_processes import WorkerProcesses

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "coderunner.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
NAME_RE = re.compile(r"\b(?:coderunner|temporal)_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("_sum", "_count", "_created")}


class Scene:
    def __init__(self, cr: CodeRunner, name: str, metrics_url: str, router_url: str) -> None:
        self.cr, self.name, self.metrics_url, self.router_url = cr, name, metrics_url, router_url

    def scrape(self) -> str:
        return httpx.get(self.metrics_url, timeout=10).text


@pytest_asyncio.fixture(scope="module")
async def scene(home: Path, temporal_env: WorkflowEnvironment, sandbox_host: HostProcess,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scene]:
    client: Client = temporal_env.client
    name = f"o{uuid.uuid4().hex[:8]}"
    port = free_port()
    with WorkerProcesses(home, temporal_env, sandbox_host, client, f"obs-{name}",
                         tmp_path_factory.mktemp("obs-workers")) as workers:
        workers.env["CODERUNNER_METRICS_PORT"] = str(port)
        workers.start()
        cr = workers.cr
        desc = await deployed(cr, spec(name, 2))
        policy = get_template("web-app").model_copy(update={"min_replicas": 2, "max_replicas": 3})
        await cr.autoscaling.enable(name, policy, BudgetSettings(monthly=5.0))
        strategy = RolloutStrategy.from_shorthand("50,100", "10m", "10m")  # holds at 50 %, no windows
        await cr.rollouts.start(name, "v2", env={"VERSION": "v2"}, strategy=strategy)
        await cr.rollouts.wait(name, lambda s: s.canary_weight == 50, timeout_s=90)
        await hits(desc.router_url or "", 40)
        try:
            yield Scene(cr, name, f"http://127.0.0.1:{port}/metrics", desc.router_url or "")
        finally:
            await cr.autoscaling.disable(name, reason="test done")
            await cr.rollouts.abort(name, reason="test done")
            await cr.delete(name, reason="test done")


def _used_names() -> set[str]:
    """Metric names in every panel query of the dashboard and every rule expression."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    rules = yaml.safe_load(RULES.read_text())
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    return {n for e in exprs for n in NAME_RE.findall(e)}


def _exported(text: str) -> set[str]:
    """Every sample name the exposition declares, empty labelled families included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


async def test_every_metric_used_by_a_panel_or_rule_is_exported(scene: Scene) -> None:
    text = scene.scrape()
    used = _used_names()
    assert {"coderunner_pipeline_dlq_size", "coderunner_pipeline_breaker_open"} <= used
    assert any(n.startswith("temporal_") for n in used)  # the SDK's worker panels are there
    missing = used - _exported(text)
    assert not missing, f"used by the dashboard or rules but not exported: {sorted(missing)}"


def _samples(text: str, metric: str) -> dict[frozenset[tuple[str, str]], float]:
    return {frozenset(s.labels.items()): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == metric}


async def test_live_gauges_say_what_the_workflows_say(scene: Scene) -> None:
    text = scene.scrape()
    name = scene.name
    info = _samples(text, "coderunner_deployment_info")
    assert info == {frozenset({"deployment": name, "environment": "dev", "version": "v1",
                               "status": "running"}.items()): 1.0}
    replicas = {dict(k)["kind"]: v for k, v in _samples(text, "coderunner_deployment_replicas").items()
                if dict(k)["deployment"] == name}
    assert replicas["desired"] == 2 and replicas["healthy"] >= 2 and replicas["current"] >= 3  # + canary
    status: RolloutStatus = await scene.cr.rollouts.status(name)
    assert _samples(text, "coderunner_rollout_step") == {
        frozenset({"deployment": name, "version": "v2"}.items()): float(status.step)}
    assert _samples(text, "coderunner_canary_weight")[frozenset({"deployment": name}.items())] == 50
    assert _samples(text, "coderunner_rollout_phase") == {
        frozenset({"deployment": name, "version": "v2", "phase": status.phase.value}.items()): 1.0}
    budget = _samples(text, "coderunner_autoscale_budget")
    assert budget == {frozenset({"deployment": name}.items()): 5.0}
    cpu = {dict(k)["version"] for k in _samples(text, "coderunner_instance_cpu_percent")
           if dict(k)["deployment"] == name}
    assert cpu == {"v1", "v2"}  # read from the host at scrape time: canary and stable, before any sweep


async def test_traffic_gauges_split_canary_and_stable(scene: Scene) -> None:
    await hits(scene.router_url, 60)  # inside the 30 s window the gauges read
    text = scene.scrape()
    rps = {dict(k)["group"]: v for k, v in _samples(text, "coderunner_traffic_requests_per_second").items()
           if dict(k)["deployment"] == scene.name}
    assert set(rps) == {"canary", "stable"} and rps["canary"] > 0 and rps["stable"] > 0
    p95 = {dict(k)["group"] for k in _samples(text, "coderunner_traffic_latency_p95_seconds")
           if dict(k)["deployment"] == scene.name}
    assert p95 == {"canary", "stable"}


@pytest.fixture
def prometheus(scene: Scene, tmp_path: Path) -> Iterator[str]:
    """The real prometheus binary on loopback, scraping the scene's worker every second."""
    binary = require("prometheus", "prometheus")
    port = free_port()
    target = scene.metrics_url.removeprefix("http://").removesuffix("/metrics")
    shutil.copy(RULES, tmp_path / "rules.yml")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [{"job_name": "coderunner-worker", "static_configs": [{"targets": [target]}]}],
    }))
    with (tmp_path / "prometheus.log").open("w") as log:
        proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


async def _query(base: str, promql: str, timeout_s: float = 60) -> list[dict[str, object]]:
    """Poll an instant query until it has a result (deadline only as a timeout)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                answer = await http.get(f"{base}/api/v1/query", params={"query": promql})
                # while its storage opens, Prometheus answers 503 "Service Unavailable" in plain text
                body = answer.json() if answer.status_code == 200 else {}
                if body.get("status") == "success" and body["data"]["result"]:
                    result: list[dict[str, object]] = body["data"]["result"]
                    return result
            except httpx.HTTPError:
                pass  # still starting
            assert time.monotonic() < deadline, f"no result for {promql}"
            await asyncio.sleep(0.5)


async def test_real_prometheus_scrapes_the_worker_and_loads_the_rules(scene: Scene, prometheus: str) -> None:
    query = f'max by (kind) (coderunner_deployment_replicas{{deployment="{scene.name}"}})'
    result = await _query(prometheus, query)
    kinds = {r["metric"]["kind"]: float(r["value"][1]) for r in result}  # type: ignore[index]
    assert kinds["desired"] == 2 and kinds["healthy"] >= 2
    up = await _query(prometheus, 'up{job="coderunner-worker"} == 1')
    assert len(up) == 1
    assert await _query(prometheus, "temporal_worker_task_slots_available")  # the SDK's, same scrape
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=5) as http:
        while True:  # health is "unknown" until a group's first evaluation (Prometheus is up: it answered)
            groups = (await http.get(f"{prometheus}/api/v1/rules")).json()["data"]["groups"]
            rules = {r["name"]: r["health"] for g in groups for r in g["rules"]}
            if "unknown" not in rules.values() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert len(rules) == 6 and set(rules.values()) == {"ok"}, rules
