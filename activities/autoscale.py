"""Autoscaler activities: observe the stable group, ask the deployment to scale, record, alert.

The autoscaler never touches the sandbox's instance set itself: `request_scale` calls the
DeploymentWorkflow's `scale` update through the activity's Temporal client (workflows cannot call
another workflow's update directly). The update id comes from the workflow, one per decision, so a
retried activity re-attaches to the same update instead of scaling twice; the request is an
absolute count, so even a replay after the deployment continued-as-new asks for the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from coderunner.decisions.autoscale_rules import samples_from
from coderunner.hosts.provider import RouterNotFound, SandboxError, SandboxProvider
from coderunner.models.activity_io import Ack
from coderunner.models.autoscaler import (
    AutoscaleRecord,
    BudgetAlert,
    MetricsObservation,
    MetricsRequest,
    ScaleCall,
    ScaleCallResult,
)
from coderunner.models.deployment import DeploymentDescription, OperationResult, ScaleRequest, workflow_id_for
from coderunner.models.sandbox import BackendStats, InstanceGroup, InstanceStats
from coderunner.store.repository import Store
from coderunner.store.spend import SpendStore
from coderunner.telemetry.metrics import (
    AUTOSCALE_BUDGET_ALERTS,
    AUTOSCALE_BUDGET_LEVEL,
    AUTOSCALE_DECISIONS,
    AUTOSCALE_REPLICAS,
    AUTOSCALE_SPEND,
)

_GONE = {"deleting", "deleted"}
STATS_READER = "autoscaler"  # CPU since the autoscaler's own previous read, not the health sweep's


class AutoscaleActivities:
    def __init__(self, provider: SandboxProvider, store: Store) -> None:
        self.provider = provider
        self.store = store
        self._spend: SpendStore | None = None

    @property
    def spend(self) -> SpendStore:
        if self._spend is None:
            self._spend = SpendStore(self.store)
        return self._spend

    @activity.defn(name="autoscale_gather_metrics")
    async def gather_metrics(self, req: MetricsRequest) -> MetricsObservation:
        """The deployment's view (describe query) + host stats + router window, stable group only."""
        handle = activity.client().get_workflow_handle(workflow_id_for(req.deployment))
        try:
            desc = await handle.query("describe", result_type=DeploymentDescription)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return MetricsObservation(found=False, status="not found")
            raise
        if desc.status.value in _GONE:
            return MetricsObservation(found=False, status=desc.status.value)
        stable = [i for i in desc.instances if i.group == InstanceGroup.STABLE]
        ready = [i.instance_id for i in stable if i.healthy]
        stats, stats_error = await self._stats(ready)
        backends, router_error = await self._router(req, {i.instance_id for i in stable})
        return MetricsObservation(
            status=desc.status.value,
            current_replicas=desc.spec.replicas,
            ready_replicas=len(ready),
            instances=len(desc.instances),
            canary_instances=len(desc.instances) - len(stable),
            resources=desc.spec.resources,
            samples=samples_from(req.metrics, ready, stats, backends, req.window_s,
                                 stats_error=stats_error, router_error=router_error),
        )

    async def _stats(self, ids: list[str]) -> tuple[list[InstanceStats] | None, str | None]:
        if not ids:
            return [], None
        try:
            return await self.provider.stats(ids, reader=STATS_READER), None
        except SandboxError as err:
            return None, str(err)

    async def _router(
        self, req: MetricsRequest, stable_ids: set[str]
    ) -> tuple[list[BackendStats] | None, str | None]:
        try:
            info = await self.provider.get_router(req.deployment, req.window_s)
        except RouterNotFound:
            return [], None
        except SandboxError as err:
            return None, str(err)
        keep = [
            b for b in info.stats
            if b.group == InstanceGroup.STABLE or (b.group is None and b.instance_id in stable_ids)
        ]
        return keep, None

    @activity.defn(name="autoscale_request_scale")
    async def request_scale(self, call: ScaleCall) -> ScaleCallResult:
        handle = activity.client().get_workflow_handle(workflow_id_for(call.deployment))
        update = asyncio.ensure_future(
            handle.execute_update(
                "scale",
                ScaleRequest(replicas=call.replicas, reason=call.reason, actor=call.actor),
                id=call.update_id,
                result_type=OperationResult,
            )
        )
        try:
            while True:  # heartbeat so a dead worker is noticed in seconds, not at start-to-close
                done, _ = await asyncio.wait({update}, timeout=1.0)
                if done:
                    break
                activity.heartbeat()
            result = update.result()
        except WorkflowUpdateFailedError as err:
            raise ApplicationError(f"deployment refused the scale: {err.cause}", type="ScaleRefused",
                                   non_retryable=True) from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise ApplicationError(f"deployment {call.deployment} is gone", type="ScaleRefused",
                                       non_retryable=True) from err
            raise
        finally:
            if not update.done():
                update.cancel()
                with contextlib.suppress(BaseException):
                    await update
        return ScaleCallResult(replicas=result.replicas, message=result.message)

    @activity.defn(name="autoscale_record")
    async def record(self, rec: AutoscaleRecord) -> Ack:
        """Spend (absolute), audit events (idempotent by key), and the Prometheus view of the sync."""
        for done in rec.closed:  # an earlier month's final figure, its tail included
            await asyncio.to_thread(
                self.spend.record, rec.deployment, done.month, done.amount, rec.budget, done.level
            )
        await asyncio.to_thread(
            self.spend.record, rec.deployment, rec.month, rec.spend, rec.budget, rec.level
        )
        for ev in rec.events:
            await asyncio.to_thread(
                self.store.record_event, rec.deployment, ev["kind"], ev.get("actor", "autoscaler"),
                ev.get("reason", ""), ev.get("details", {}), ev.get("event_key"),
            )
        AUTOSCALE_SPEND.labels(rec.deployment).set(rec.spend)
        AUTOSCALE_BUDGET_LEVEL.labels(rec.deployment).set(rec.level)
        for level in rec.alerts:
            AUTOSCALE_BUDGET_ALERTS.labels(rec.deployment, str(level)).inc()
        if rec.desired is not None and rec.current is not None:
            AUTOSCALE_REPLICAS.labels(rec.deployment, "desired").set(rec.desired)
            AUTOSCALE_REPLICAS.labels(rec.deployment, "current").set(rec.current)
            AUTOSCALE_DECISIONS.labels(rec.deployment, rec.direction or "none", rec.reason or "metrics").inc()
        return Ack()

    @activity.defn(name="autoscale_budget_webhook")
    async def budget_webhook(self, alert: BudgetAlert) -> Ack:
        payload = alert.model_dump(mode="json", exclude={"url"})
        payload["text"] = (f"CodeRunner: {alert.deployment} reached {alert.level}% of its {alert.month} "
                           f"budget ({alert.spend:.2f} of {alert.budget:.2f})")
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.post(alert.url, json=payload)
        if resp.status_code >= 500:
            raise RuntimeError(f"webhook answered {resp.status_code}")
        if resp.status_code >= 400:
            raise ApplicationError(f"webhook refused the alert: {resp.status_code}", non_retryable=True)
        return Ack(detail=str(resp.status_code))

    def all(self) -> list:
        return [self.gather_metrics, self.request_scale, self.record, self.budget_webhook]
