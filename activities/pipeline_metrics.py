"""Prometheus from the PipelineWorkflow, through a local activity (as `rollout_metric`): a replay
never runs it again, so a run is counted once."""

from __future__ import annotations

from temporalio import activity

from coderunner.models.pipeline_io import RunMetric
from coderunner.telemetry.metrics import PIPELINE_MAKESPAN, PIPELINE_MAKESPAN_RATIO, PIPELINE_RUNS


class PipelineMetricActivities:
    @activity.defn(name="pipeline_metric")
    async def pipeline_metric(self, metric: RunMetric) -> None:
        PIPELINE_RUNS.labels(metric.pipeline, metric.status.value).inc()
        PIPELINE_MAKESPAN.labels(metric.pipeline).set(metric.makespan_s)
        if metric.critical_path_s > 0:
            PIPELINE_MAKESPAN_RATIO.labels(metric.pipeline).set(metric.makespan_s / metric.critical_path_s)

    def all(self) -> list[object]:
        return [self.pipeline_metric]
