"""Canary analysis activities: one window of router stats per call, and the rollout's metrics.

`analyse_window` gathers router stats over the window, split by version, and returns *statistics*
(counts, errors, percentiles and the Mann-Whitney comparison, from the pure
`decisions.window_summary.summarise_window`): the raw latency samples (up to 5,000 per backend)
stay here, out of workflow history. The verdict is the pure `decisions.canary.judge_summary`,
called by the workflow, so it replays identically. `collect_window` (raw stats) stays registered
for rollouts that started before the `rollout-window-statistics` patch.
The split is by *version*, not by the host's group label: after a promotion the former canaries are
the stable group, and the next rollout must still compare new against old.
"""

from __future__ import annotations

from temporalio import activity

from coderunner.decisions.window_summary import summarise_window
from coderunner.hosts.provider import SandboxProvider
from coderunner.models.rollout import AnalysisSettings, WindowSummary
from coderunner.models.rollout_api import RolloutMetric, WindowRequest, WindowStats
from coderunner.telemetry.metrics import ANALYSIS_VERDICTS, CANARY_WEIGHT, PROMOTIONS, ROLLBACKS


class AnalysisActivities:
    def __init__(self, provider: SandboxProvider) -> None:
        self.provider = provider

    @activity.defn(name="collect_window")
    async def collect_window(self, req: WindowRequest) -> WindowStats:
        info = await self.provider.get_router(req.deployment, window_s=req.window_s)
        stats = WindowStats()
        by_id = set(req.canary_instances)
        for backend in info.stats:
            if backend.instance_id in by_id or (not by_id and backend.version == req.canary_version):
                stats.canary.append(backend)
            elif backend.version is not None:
                stats.stable.append(backend)
        return stats

    @activity.defn(name="analyse_window")
    async def analyse_window(self, req: WindowRequest) -> WindowSummary:
        stats = await self.collect_window(req)
        return summarise_window(stats.canary, stats.stable, req.settings or AnalysisSettings())

    @activity.defn(name="rollout_metric")
    async def rollout_metric(self, metric: RolloutMetric) -> None:
        """Prometheus from an activity, not the workflow: a replay must not count twice."""
        if metric.canary_weight is not None:
            CANARY_WEIGHT.labels(metric.deployment).set(metric.canary_weight)
        if metric.verdict is not None:
            ANALYSIS_VERDICTS.labels(metric.deployment, metric.verdict.value).inc()
        if metric.outcome == "rollback":
            ROLLBACKS.labels(metric.deployment).inc()
            CANARY_WEIGHT.labels(metric.deployment).set(0)
        elif metric.outcome == "promotion":
            PROMOTIONS.labels(metric.deployment).inc()
            CANARY_WEIGHT.labels(metric.deployment).set(0)

    def all(self) -> list:
        return [self.collect_window, self.analyse_window, self.rollout_metric]
