"""Live state for the dashboard, read at scrape time: per deployment what its workflows say now.

Counters are counted where things happen (activities); state — status, version, replicas, rollout
phase and step, traffic by canary/stable, budget — is *read* when Prometheus scrapes, the way
kube-state-metrics reads the API server: the deployment's `describe` query, its rollout's and
autoscaler's `status` queries and one window of router stats. So every worker answers the same
numbers (dashboards take max()), nothing has to be kept in step by the workflows, and a deployment
that is gone disappears from /metrics at the next scrape.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from coderunner.decisions.stats import aggregate
from coderunner.hosts.provider import SandboxError, SandboxProvider
from coderunner.models.autoscaler import AutoscalerStatus, autoscaler_id
from coderunner.models.deployment import DeploymentDescription, workflow_id_for
from coderunner.models.rollout import FINISHED_PHASES
from coderunner.models.rollout_api import RolloutStatus
from coderunner.models.sandbox import BackendStats, InstanceStats, RouterInfo
from coderunner.telemetry.metrics import (
    AUTOSCALE_BUDGET,
    AUTOSCALE_BUDGET_LEVEL,
    AUTOSCALE_SPEND,
    CANARY_WEIGHT,
    DEPLOYMENT_INFO,
    DEPLOYMENT_REPLICAS,
    INSTANCE_CPU,
    INSTANCE_MEMORY,
    ROLLOUT_PHASE,
    ROLLOUT_STEP,
    ROLLOUT_STEPS,
    TRAFFIC_ERROR_RATIO,
    TRAFFIC_P95,
    TRAFFIC_RPS,
)

log = logging.getLogger("coderunner.metrics")

WINDOW_S = 30.0  # router stats window behind the traffic gauges
QUERY_TIMEOUT_S = 3.0
METRICS_READER = "metrics"  # its own CPU interval (between scrapes), apart from the sweep's and autoscaler's
LIVE_GAUGES = (DEPLOYMENT_INFO, DEPLOYMENT_REPLICAS, INSTANCE_CPU, INSTANCE_MEMORY, ROLLOUT_PHASE,
               ROLLOUT_STEP, ROLLOUT_STEPS, TRAFFIC_RPS, TRAFFIC_ERROR_RATIO, TRAFFIC_P95, AUTOSCALE_BUDGET)


class LiveView(BaseModel):
    """What one deployment's workflows and router say right now."""

    description: DeploymentDescription
    rollout: RolloutStatus | None = None
    autoscaler: AutoscalerStatus | None = None
    router: RouterInfo | None = None
    stats: list[InstanceStats] = []  # CPU and memory read from the host now, not as of the last sweep


class LiveSource:
    """The worker's Temporal client and sandbox provider, used read-only at scrape time."""

    def __init__(self, client: Client, provider: SandboxProvider, window_s: float = WINDOW_S) -> None:
        self.client, self.provider, self.window_s = client, provider, window_s

    async def view(self, name: str) -> LiveView | None:
        try:
            desc = await self.client.get_workflow_handle(workflow_id_for(name)).query(
                "describe", result_type=DeploymentDescription)
        except RPCError as err:
            log.debug("metrics: no describe for %s: %s", name, err)
            return None
        view = LiveView(description=desc)
        if desc.rollout is not None and desc.rollout.phase not in FINISHED_PHASES:
            try:
                view.rollout = await self.client.get_workflow_handle(desc.rollout.workflow_id).query(
                    "status", result_type=RolloutStatus)
            except RPCError as err:
                log.debug("metrics: no rollout status for %s: %s", name, err)
        view.autoscaler = await self._autoscaler(name)
        view.stats = await self._stats([i.instance_id for i in desc.instances])
        try:
            view.router = await self.provider.get_router(name, window_s=self.window_s)
        except (SandboxError, OSError) as err:
            log.debug("metrics: no router for %s: %s", name, err)
        return view

    async def _stats(self, ids: list[str]) -> list[InstanceStats]:
        if not ids:
            return []
        try:
            return await self.provider.stats(ids, reader=METRICS_READER)
        except (SandboxError, OSError) as err:  # one vanished since describe: the sweep's figures stand
            log.debug("metrics: no instance stats for %s: %s", ids, err)
            return []

    async def _autoscaler(self, name: str) -> AutoscalerStatus | None:
        handle = self.client.get_workflow_handle(autoscaler_id(name))
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return None
            return await handle.query("status", result_type=AutoscalerStatus)
        except RPCError:
            return None

    async def refresh(self, names: Sequence[str]) -> None:
        """Read every named deployment (concurrently, each bounded) and publish the gauges."""

        async def one(name: str) -> LiveView | None:
            try:
                return await asyncio.wait_for(self.view(name), QUERY_TIMEOUT_S)
            except TimeoutError:
                log.warning("metrics: reading %s took over %.0fs; left out of this scrape", name,
                            QUERY_TIMEOUT_S)
                return None

        views = await asyncio.gather(*(one(n) for n in names))
        publish([v for v in views if v is not None], self.window_s)


def _split(view: LiveView) -> dict[str, list[BackendStats]]:
    """Router stats by group, split by version as the canary analysis does (canary = the new one)."""
    canary = view.rollout.version if view.rollout is not None else None
    groups: dict[str, list[BackendStats]] = {"stable": [], "canary": []}
    for backend in view.router.stats if view.router else []:
        if backend.version is not None:
            groups["canary" if backend.version == canary else "stable"].append(backend)
    if canary is None:
        del groups["canary"]
    return groups


def publish(views: Sequence[LiveView], window_s: float) -> None:
    """Replace every live gauge with what `views` say (deployments not in it disappear)."""
    for gauge in LIVE_GAUGES:
        gauge.clear()
    for view in views:
        desc = view.description
        name = desc.spec.name
        DEPLOYMENT_INFO.labels(name, desc.spec.environment, desc.spec.version, desc.status.value).set(1)
        replicas = {"desired": desc.spec.replicas, "current": len(desc.instances),
                    "healthy": sum(1 for i in desc.instances if i.healthy)}
        for kind, value in replicas.items():
            DEPLOYMENT_REPLICAS.labels(name, kind).set(value)
        live = {s.instance_id: s for s in view.stats}
        for inst in desc.instances:
            now = live.get(inst.instance_id)
            cpu = now.cpu_percent if now else inst.cpu_percent
            memory = now.memory_bytes if now else inst.memory_bytes
            if cpu is not None:
                INSTANCE_CPU.labels(name, inst.instance_id, inst.version).set(cpu)
            if memory is not None:
                INSTANCE_MEMORY.labels(name, inst.instance_id, inst.version).set(memory)
        link = desc.rollout or desc.last_rollout
        if link is not None:
            ROLLOUT_PHASE.labels(name, link.version, link.phase.value).set(1)
        CANARY_WEIGHT.labels(name).set(view.rollout.canary_weight if view.rollout else 0)
        if view.rollout is not None:
            ROLLOUT_STEP.labels(name, view.rollout.version).set(view.rollout.step)
            ROLLOUT_STEPS.labels(name, view.rollout.version).set(view.rollout.steps)
        if view.router is not None:
            for group, backends in _split(view).items():
                stats = aggregate(backends)
                TRAFFIC_RPS.labels(name, group).set(stats.requests / window_s)
                TRAFFIC_ERROR_RATIO.labels(name, group).set(stats.error_rate)
                if stats.p95_ms is not None:
                    TRAFFIC_P95.labels(name, group).set(stats.p95_ms / 1000)
        if view.autoscaler is not None:
            AUTOSCALE_SPEND.labels(name).set(view.autoscaler.spend.amount)
            AUTOSCALE_BUDGET_LEVEL.labels(name).set(view.autoscaler.spend.level)
            if view.autoscaler.budget.monthly is not None:
                AUTOSCALE_BUDGET.labels(name).set(view.autoscaler.budget.monthly)
