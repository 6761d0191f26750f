"""Metrics the dashboard and the alert rules already use but the delivery pipeline has yet to export.

The pipeline (PipelineWorkflow, `pipeline/<name>/<run>`) has not landed. Its panels in
deploy/grafana/dashboards/coderunner.json and its two alerts in deploy/prometheus/rules.yml are
ready for these names; tests/test_observability.py checks every other name they use against a live
worker's /metrics and skips only this set. Whoever lands the pipeline exports exactly these (label
`pipeline` = the pipeline name) and deletes them from here; the test then covers them too.
"""

from __future__ import annotations

# name -> (type, meaning); gauges are read live, counters counted where the event happens
PIPELINE_METRICS: dict[str, tuple[str, str]] = {
    "coderunner_pipeline_queue_depth": ("gauge", "tasks ready to run but waiting for a sandbox"),
    "coderunner_pipeline_tasks_running": ("gauge", "tasks running in sandboxes now"),
    "coderunner_pipeline_dlq_size": ("gauge", "dead-lettered tasks (failed 3 times) waiting for a person"),
    "coderunner_pipeline_breaker_open": ("gauge", "1 while the pipeline's circuit breaker is open, else 0"),
    "coderunner_pipeline_cache_hits_total": ("counter", "tasks answered from the result cache"),
    "coderunner_pipeline_cache_lookups_total": ("counter", "cache lookups; hit rate = hits / lookups"),
}
