"""Tables of the config service, in the app database next to deployments (SQLite or PostgreSQL).

`config_environments.head` is the check-and-set counter: a write commits only if it moves the head
from the version it read. Values are stored per version (a full snapshot), secrets as ciphertext
only; `value_hash` is a keyed hash so diffs and the audit log can say "changed" without a value.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Table, Text
from sqlmodel import Field, SQLModel

from coderunner.store.tables import UTCDateTime, utcnow


class ConfigProject(SQLModel, table=True):
    __tablename__ = "config_projects"

    name: str = Field(primary_key=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ConfigEnvironment(SQLModel, table=True):
    __tablename__ = "config_environments"

    project: str = Field(primary_key=True, max_length=40, foreign_key="config_projects.name")
    name: str = Field(primary_key=True, max_length=40)
    head: int = 0


class ConfigVersion(SQLModel, table=True):
    __tablename__ = "config_versions"

    project: str = Field(primary_key=True, max_length=40)
    environment: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    rollback_of: int | None = None


class ConfigValue(SQLModel, table=True):
    """One key of one version: plain `value`, or `ciphertext` (never both)."""

    __tablename__ = "config_values"

    project: str = Field(primary_key=True, max_length=40)
    environment: str = Field(primary_key=True, max_length=40)
    version: int = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=128)
    secret: bool = False
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    value: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ciphertext: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    value_hash: str = Field(max_length=80)


class ConfigDataKey(SQLModel, table=True):
    """A data key wrapped by a master key; rotation rewrites `wrapped` and `master_key_id` only."""

    __tablename__ = "config_data_keys"

    id: str = Field(primary_key=True, max_length=120)
    master_key_id: str = Field(index=True, max_length=80)
    wrapped: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ConfigAudit(SQLModel, table=True):
    """Append-only, hash-chained: `hash = sha256(prev_hash + the row's canonical fields)`."""

    __tablename__ = "config_audit"

    seq: int = Field(primary_key=True)
    at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=200)
    action: str = Field(max_length=40)
    project: str = Field(max_length=40)
    environment: str = Field(max_length=40)
    key: str = Field(max_length=128)
    version: int
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    value_hash: str = Field(max_length=80)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class ConfigAuditHead(SQLModel, table=True):
    """The chain's last (seq, hash), written with every append: a deleted last row shows as a gap."""

    __tablename__ = "config_audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model (SQLModel types `__table__` loosely)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


CONFIG_TABLES: list[type[SQLModel]] = [
    ConfigProject,
    ConfigEnvironment,
    ConfigVersion,
    ConfigValue,
    ConfigDataKey,
    ConfigAudit,
    ConfigAuditHead,
]
