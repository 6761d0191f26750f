"""telemetry/live.publish: the live gauges are replaced at each scrape, and traffic splits by version."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from coderunner.models.deployment import (
    DeploymentDescription,
    DeploymentSpec,
    DeploymentStatus,
    InstanceRecord,
)
from coderunner.models.rollout import RolloutLink, RolloutPhase
from coderunner.models.rollout_api import RolloutStatus
from coderunner.models.sandbox import BackendStats, RouterInfo
from coderunner.telemetry.live import LiveView, publish
from coderunner.telemetry.metrics import REGISTRY


def view(name: str, rollout: bool = False) -> LiveView:
    instances = [InstanceRecord(instance_id=f"{name}-v1-0", ordinal=0, version="v1", healthy=True,
                                cpu_percent=3.0, memory_bytes=1 << 20),
                 InstanceRecord(instance_id=f"{name}-v1-1", ordinal=1, version="v1", healthy=False)]
    link = RolloutLink(workflow_id=f"rollout/{name}/v2", version="v2", from_version="v1", canary_weight=25,
                       phase=RolloutPhase.PAUSED) if rollout else None
    desc = DeploymentDescription(
        workflow_id=f"deployment/{name}", spec=DeploymentSpec(name=name, command=["python"], replicas=2),
        status=DeploymentStatus.DEGRADED, status_reason=None, router_url=None, instances=instances,
        events=[], replacements=0, rollout=link)
    status = RolloutStatus(workflow_id=f"rollout/{name}/v2", deployment=name, version="v2", from_version="v1",
                           phase=RolloutPhase.PAUSED, step=2, steps=5, step_description="pause",
                           canary_weight=25) if rollout else None
    router = RouterInfo(deployment=name, port=1, backends=[], window_s=10, stats=[
        BackendStats(instance_id=f"{name}-v1-0", version="v1", requests=90, errors=9,
                     latency_ms_samples=[10.0] * 20),
        BackendStats(instance_id=f"{name}-v2-2", version="v2", requests=30, errors=0,
                     latency_ms_samples=[40.0] * 20)])
    return LiveView(description=desc, rollout=status, router=router)


def samples(metric: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = generate_latest(REGISTRY).decode()
    return {tuple(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == metric}


def test_publish_reads_state_and_splits_traffic_by_version() -> None:
    publish([view("lv-a", rollout=True)], window_s=10)
    replicas = {dict(k)["kind"]: v for k, v in samples("coderunner_deployment_replicas").items()}
    assert replicas == {"desired": 2, "current": 2, "healthy": 1}
    assert samples("coderunner_rollout_phase") == {
        (("deployment", "lv-a"), ("phase", "paused"), ("version", "v2")): 1.0}
    rps = {dict(k)["group"]: v for k, v in samples("coderunner_traffic_requests_per_second").items()}
    assert rps == {"stable": 9.0, "canary": 3.0}
    errors = {dict(k)["group"]: v for k, v in samples("coderunner_traffic_error_ratio").items()}
    assert errors == {"stable": 0.1, "canary": 0.0}
    p95 = {dict(k)["group"]: v for k, v in samples("coderunner_traffic_latency_p95_seconds").items()}
    assert p95 == {"stable": 0.01, "canary": 0.04}
    assert set(samples("coderunner_instance_cpu_percent")) == {
        (("deployment", "lv-a"), ("instance", "lv-a-v1-0"), ("version", "v1"))}


def test_without_a_rollout_all_traffic_is_stable_and_gone_deployments_disappear() -> None:
    publish([view("lv-a", rollout=True)], window_s=10)
    publish([view("lv-b")], window_s=10)
    names = {dict(k)["deployment"] for k in samples("coderunner_deployment_info")}
    assert names == {"lv-b"}
    assert {dict(k)["group"] for k in samples("coderunner_traffic_requests_per_second")} == {"stable"}
    assert samples("coderunner_rollout_step") == {}
