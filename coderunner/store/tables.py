"""SQLModel tables of the app database: the current state of each deployment and its audit trail.

Temporal history is the source of truth for what a workflow did; these tables are the queryable
projection that the CLI and dashboards read without replaying anything. Specs are stored redacted
(see `store.redaction`), never with env values.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Text, TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type and returns naive values; normalising on the way in and out means
    callers always compare aware UTC datetimes whichever database is behind the store.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class DeploymentRecord(SQLModel, table=True):
    """One row per deployment name: what the DeploymentWorkflow last reported."""

    __tablename__ = "deployments"

    name: str = Field(primary_key=True, max_length=200)
    environment: str = Field(index=True, max_length=100)
    version: str = Field(max_length=200)
    status: str = Field(index=True, max_length=50)
    replicas: int = 0
    workflow_id: str = Field(max_length=400)
    spec_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class AuditEvent(SQLModel, table=True):
    """Append-only audit trail: who changed what, when and why.

    `event_key` is unique so an activity retried after a crash (same key, derived from workflow
    data) records its event once; NULL keys are allowed many times on both SQLite and PostgreSQL.
    """

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    deployment: str = Field(index=True, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=True))
    kind: str = Field(max_length=50)
    actor: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    details_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    event_key: str | None = Field(default=None, unique=True, max_length=400)
