"""CodeRunner's own Prometheus metrics, served by the worker next to the Temporal SDK's."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

HEALTH_CHECKS = Counter(
    "coderunner_health_checks", "Instance health probes by result", ["result"], registry=REGISTRY
)
REPLACEMENTS = Counter(
    "coderunner_instance_replacements",
    "Instances replaced by a health sweep",
    ["deployment"],
    registry=REGISTRY,
)
LIMIT_KILLS = Counter(
    "coderunner_instance_limit_kills",
    "Instances the kernel killed for exceeding a declared limit (memory, cpu time), seen by a sweep",
    ["deployment", "limit"],
    registry=REGISTRY,
)
INSTANCES_CREATED = Counter(
    "coderunner_instances_created", "Sandbox instances created", ["deployment"], registry=REGISTRY
)
DEPLOYMENTS = Gauge(
    "coderunner_deployments", "Deployments by status (from the store)", ["status"], registry=REGISTRY
)
INSTANCES = Gauge(
    "coderunner_instances",
    "Desired instances per live deployment (from the store)",
    ["deployment"],
    registry=REGISTRY,
)

# -- autoscaler (issue 4) -------------------------------------------------------------------------
AUTOSCALE_REPLICAS = Gauge(
    "coderunner_autoscale_replicas",
    "Autoscaler view of a deployment's stable replicas",
    ["deployment", "kind"],
    registry=REGISTRY,  # kind: desired | current
)
AUTOSCALE_DECISIONS = Counter(
    "coderunner_autoscale_decisions",
    "Autoscaler decisions by direction and limiting rule",
    ["deployment", "direction", "reason"],
    registry=REGISTRY,
)
AUTOSCALE_SPEND = Gauge(
    "coderunner_autoscale_spend",
    "Spend this month (instance-hours x price)",
    ["deployment"],
    registry=REGISTRY,
)
AUTOSCALE_BUDGET_LEVEL = Gauge(
    "coderunner_autoscale_budget_level",
    "Highest budget threshold reached this month (0/75/90/100)",
    ["deployment"],
    registry=REGISTRY,
)
AUTOSCALE_BUDGET_ALERTS = Counter(
    "coderunner_autoscale_budget_alerts",
    "Budget alerts raised",
    ["deployment", "level"],
    registry=REGISTRY,
)
# canary rollouts (activities/analysis.py)
CANARY_WEIGHT = Gauge(
    "coderunner_canary_weight", "Percent of traffic routed to the canary", ["deployment"], registry=REGISTRY
)
ANALYSIS_VERDICTS = Counter(
    "coderunner_canary_analysis_verdicts",
    "Canary analysis windows by verdict",
    ["deployment", "verdict"],
    registry=REGISTRY,
)
ROLLBACKS = Counter(
    "coderunner_rollout_rollbacks", "Canary rollouts aborted", ["deployment"], registry=REGISTRY
)
PROMOTIONS = Counter(
    "coderunner_rollout_promotions", "Canary rollouts promoted", ["deployment"], registry=REGISTRY
)
