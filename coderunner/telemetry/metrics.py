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
    "Spend this month (instance-hours x each instance's rate from its declared resources)",
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

# -- live state, refreshed from Temporal queries and router stats at every scrape (telemetry/live.py)
# Every worker answers these the same way (they are read, not counted), so dashboards take max().


def _live(name: str, documentation: str, *labels: str) -> Gauge:
    """A gauge of the live-state set (cleared and re-read at every scrape)."""
    return Gauge(name, documentation, list(labels), registry=REGISTRY)


DEPLOYMENT_INFO = _live(
    "coderunner_deployment_info",
    "1 per live deployment, labelled with its environment, serving version and status",
    "deployment", "environment", "version", "status",
)
DEPLOYMENT_REPLICAS = _live(
    "coderunner_deployment_replicas",
    "Replicas of a deployment by kind: desired (spec), current (instances), healthy",
    "deployment", "kind",
)
INSTANCE_CPU = _live(
    "coderunner_instance_cpu_percent",
    "CPU of one app instance in percent of one core, from the last health sweep",
    "deployment", "instance", "version",
)
INSTANCE_MEMORY = _live(
    "coderunner_instance_memory_bytes",
    "Resident memory of one app instance, from the last health sweep",
    "deployment", "instance", "version",
)
ROLLOUT_PHASE = _live(
    "coderunner_rollout_phase",
    "1 for the phase of a deployment's current (or last) rollout; paused = waiting for a person",
    "deployment", "version", "phase",
)
ROLLOUT_STEP = _live(
    "coderunner_rollout_step",
    "Current step (1-based) of a deployment's rollout in progress",
    "deployment", "version",
)
ROLLOUT_STEPS = _live(
    "coderunner_rollout_steps",
    "Number of steps of a deployment's rollout in progress",
    "deployment", "version",
)
TRAFFIC_RPS = _live(
    "coderunner_traffic_requests_per_second",
    "Requests/s through the deployment's router over the last window, by group (canary | stable)",
    "deployment", "group",
)
TRAFFIC_ERROR_RATIO = _live(
    "coderunner_traffic_error_ratio",
    "Share of requests answered 5xx or failed over the last window, by group",
    "deployment", "group",
)
TRAFFIC_P95 = _live(
    "coderunner_traffic_latency_p95_seconds",
    "95th percentile latency over the last window, by group",
    "deployment", "group",
)
AUTOSCALE_BUDGET = _live(
    "coderunner_autoscale_budget",
    "Monthly budget of a deployment with autoscaling on (currency units)",
    "deployment",
)

# -- delivery pipelines (label `pipeline` = the plan's name; `run` where a run is meant) -------------
# counted where they happen (activities/pipeline.py, activities/pipeline_qa.py)
PIPELINE_ATTEMPTS = Counter(
    "coderunner_pipeline_attempts",
    "Pipeline steps finished, by stage (dev | qa | integration) and outcome (ok | failed | cached)",
    ["pipeline", "stage", "outcome"],
    registry=REGISTRY,
)
PIPELINE_CACHE_HITS = Counter(
    "coderunner_pipeline_cache_hits", "Dev steps answered from the result cache", ["pipeline"],
    registry=REGISTRY,
)
PIPELINE_CACHE_LOOKUPS = Counter(
    "coderunner_pipeline_cache_lookups",
    "Result cache lookups; hit rate = hits / lookups, misses = lookups - hits",
    ["pipeline"],
    registry=REGISTRY,
)
# reported by the workflow once a run ends (a local activity, like `rollout_metric`)
PIPELINE_RUNS = Counter(
    "coderunner_pipeline_runs", "Pipeline runs ended, by status", ["pipeline", "status"], registry=REGISTRY
)
PIPELINE_MAKESPAN = Gauge(
    "coderunner_pipeline_makespan_seconds",
    "Wall time of the pipeline's last finished run (PM to Ops)",
    ["pipeline"],
    registry=REGISTRY,
)
PIPELINE_MAKESPAN_RATIO = Gauge(
    "coderunner_pipeline_makespan_ratio",
    "The last finished run's makespan / its estimated critical path (1 = as fast as the plan allows)",
    ["pipeline"],
    registry=REGISTRY,
)
# read live at every scrape from the `describe` of every running pipeline (telemetry/pipelines.py)
PIPELINE_QUEUE_DEPTH = _live(
    "coderunner_pipeline_queue_depth", "Tasks ready to run but waiting for a sandbox", "pipeline", "run"
)
PIPELINE_RUNNING = _live(
    "coderunner_pipeline_tasks_running", "Tasks running now (dev or QA)", "pipeline", "run"
)
PIPELINE_POOL_SIZE = _live(
    "coderunner_pipeline_pool_size", "Sandboxes the run may use now", "pipeline", "run"
)
PIPELINE_DLQ = _live(
    "coderunner_pipeline_dlq_size", "Dead letters waiting for a person's decision", "pipeline", "run"
)
PIPELINE_BREAKER_OPEN = _live(
    "coderunner_pipeline_breaker_open", "1 while the run's circuit breaker is open, else 0", "pipeline", "run"
)
PIPELINE_BREAKER_STATE = _live(
    "coderunner_pipeline_breaker_state", "1 for the breaker's state (closed | open | half_open)",
    "pipeline", "run", "state",
)
PIPELINE_ELAPSED = _live(
    "coderunner_pipeline_elapsed_seconds", "Wall time since the run started", "pipeline", "run"
)
PIPELINE_CRITICAL_PATH = _live(
    "coderunner_pipeline_critical_path_seconds", "The run's estimated critical path", "pipeline", "run"
)
PIPELINE_LIVE_GAUGES = (PIPELINE_QUEUE_DEPTH, PIPELINE_RUNNING, PIPELINE_POOL_SIZE, PIPELINE_DLQ,
                        PIPELINE_BREAKER_OPEN, PIPELINE_BREAKER_STATE, PIPELINE_ELAPSED,
                        PIPELINE_CRITICAL_PATH)
