"""Store activities: the only place the app database is written (from a thread, it is sync I/O)."""

from __future__ import annotations

import asyncio

from temporalio import activity

from coderunner.models.activity_io import Ack, AuditEventInput, DeploymentSnapshot
from coderunner.store.repository import Store
from coderunner.telemetry.metrics import REPLACEMENTS


class StoreActivities:
    def __init__(self, store: Store) -> None:
        self.store = store

    @activity.defn(name="record_deployment")
    async def record_deployment(self, snap: DeploymentSnapshot) -> Ack:
        await asyncio.to_thread(
            self.store.upsert_deployment,
            name=snap.name,
            environment=snap.environment,
            version=snap.version,
            status=snap.status,
            replicas=snap.replicas,
            workflow_id=snap.workflow_id,
            spec=snap.spec,
        )
        return Ack()

    @activity.defn(name="record_event")
    async def record_event(self, event: AuditEventInput) -> Ack:
        written = await asyncio.to_thread(
            self.store.record_event,
            event.deployment,
            event.kind,
            event.actor,
            event.reason,
            event.details,
            event.event_key,
        )
        if written and event.kind == "instance_replaced":
            REPLACEMENTS.labels(event.deployment).inc()
        return Ack(detail=None if written else "already recorded")

    def all(self) -> list:
        return [self.record_deployment, self.record_event]
