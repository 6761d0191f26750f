"""The Store: the few synchronous queries activities and the CLI need on the app database.

Synchronous and session-per-call on purpose: activities call it through `asyncio.to_thread`, so
no session is ever shared between threads. Writes that can race (two workers, a retried activity)
are single upsert / insert-or-ignore statements, so correctness never depends on read-then-write.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import CursorResult, delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from coderunner.store.engine import make_engine
from coderunner.store.redaction import redact_env
from coderunner.store.tables import AuditEvent, DeploymentRecord, utcnow

DELETED = "deleted"


def _to_json(data: Mapping[str, Any] | BaseModel | None) -> str:
    """Serialise after redaction: the only path by which a spec or detail reaches a row."""
    if data is None:
        return "{}"
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    return json.dumps(redact_env(dict(data)), sort_keys=True, default=str)


class Store:
    """Deployment records and audit events on one engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine | None = None, *, url: str | None = None) -> None:
        self.engine = engine if engine is not None else make_engine(url)

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _insert(self, table: type) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    # -- deployments ----------------------------------------------------------------------------

    def upsert_deployment(
        self,
        *,
        name: str,
        environment: str,
        version: str,
        status: str,
        replicas: int,
        workflow_id: str,
        spec: Mapping[str, Any] | BaseModel | None = None,
    ) -> DeploymentRecord:
        """Insert or replace a deployment's row (env values redacted); keeps its created_at."""
        now = utcnow()
        values = {
            "name": name,
            "environment": environment,
            "version": version,
            "status": status,
            "replicas": replicas,
            "workflow_id": workflow_id,
            "spec_json": _to_json(spec),
            "updated_at": now,
        }
        stmt = self._insert(DeploymentRecord).values(created_at=now, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"], set_={k: stmt.excluded[k] for k in values if k != "name"}
        )
        with self._session() as session:
            session.execute(stmt)
            session.commit()
            record = session.get(DeploymentRecord, name)
        assert record is not None
        return record

    def set_status(self, name: str, status: str, *, replicas: int | None = None) -> bool:
        """Change status (and optionally replicas) only; False if the deployment is unknown."""
        values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
        if replicas is not None:
            values["replicas"] = replicas
        stmt = update(DeploymentRecord).where(col(DeploymentRecord.name) == name).values(**values)
        with self._session() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            session.commit()
        return result.rowcount > 0

    def get_deployment(self, name: str) -> DeploymentRecord | None:
        with self._session() as session:
            return session.get(DeploymentRecord, name)

    def list_deployments(
        self, *, environment: str | None = None, include_deleted: bool = False
    ) -> list[DeploymentRecord]:
        """Deployments by name; deleted ones (kept for their history) only on request."""
        query = select(DeploymentRecord).order_by(col(DeploymentRecord.name))
        if environment is not None:
            query = query.where(col(DeploymentRecord.environment) == environment)
        if not include_deleted:
            query = query.where(col(DeploymentRecord.status) != DELETED)
        with self._session() as session:
            return list(session.exec(query).all())

    def mark_deleted(self, name: str) -> bool:
        """Soft delete: the row stays (status 'deleted', 0 replicas) so `describe` can still say so."""
        return self.set_status(name, DELETED, replicas=0)

    def delete_deployment(self, name: str) -> bool:
        """Hard delete of the row; its audit events stay, they are the history."""
        stmt = delete(DeploymentRecord).where(col(DeploymentRecord.name) == name)
        with self._session() as session:
            result = cast(CursorResult[Any], session.execute(stmt))
            session.commit()
        return result.rowcount > 0

    def count_by_status(self) -> dict[str, int]:
        query = select(DeploymentRecord.status, func.count()).group_by(col(DeploymentRecord.status))
        with self._session() as session:
            return {status: count for status, count in session.exec(query).all()}

    # -- audit events ---------------------------------------------------------------------------

    def record_event(
        self,
        deployment: str,
        kind: str,
        actor: str,
        reason: str = "",
        details: Mapping[str, Any] | BaseModel | None = None,
        event_key: str | None = None,
        *,
        at: datetime | None = None,
    ) -> bool:
        """Append an event; False (and no write) if `event_key` was already recorded."""
        values = {
            "deployment": deployment,
            "at": at or utcnow(),
            "kind": kind,
            "actor": actor,
            "reason": reason,
            "details_json": _to_json(details),
            "event_key": event_key,
        }
        stmt = self._insert(AuditEvent).values(**values)
        if event_key is not None:
            stmt = stmt.on_conflict_do_nothing(index_elements=["event_key"])
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT that returns the new id
        stmt = stmt.returning(col(AuditEvent.id))
        with self._session() as session:
            inserted = session.execute(stmt).first()
            session.commit()
        return inserted is not None

    def list_events(self, deployment: str, limit: int = 50) -> list[AuditEvent]:
        """Newest first; id breaks ties between events recorded in the same instant."""
        query = (
            select(AuditEvent)
            .where(col(AuditEvent.deployment) == deployment)
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .limit(limit)
        )
        with self._session() as session:
            return list(session.exec(query).all())
