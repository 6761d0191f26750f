"""CodeRunner's own Prometheus metrics, served by the worker next to the Temporal SDK's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

HEALTH_CHECKS = Counter(
    "coderunner_health_checks", "Instance health probes by result", ["result"], registry=REGISTRY
)
REPLACEMENTS = Counter(
    "coderunner_instance_replacements", "Instances replaced by a health sweep", ["deployment"],
    registry=REGISTRY,
)
INSTANCES_CREATED = Counter(
    "coderunner_instances_created", "Sandbox instances created", ["deployment"], registry=REGISTRY
)
DEPLOYMENTS = Gauge(
    "coderunner_deployments", "Deployments by status (from the store)", ["status"], registry=REGISTRY
)
INSTANCES = Gauge(
    "coderunner_instances", "Instances per deployment (from the store)", ["deployment"], registry=REGISTRY
)
