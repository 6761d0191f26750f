"""Config service models: projects, environments, versioned snapshots of variables and secrets.

A snapshot is the whole environment at one version, so "what did production run at version 7" is
one read, and a rollback is a copy. Values live here only in memory; what is stored for a secret is
ciphertext (see coderunner/configstore/crypto.py), and every model that leaves the service carries
secrets masked unless a caller explicitly asked to reveal them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

DEFAULT_ENVIRONMENTS = ("development", "staging", "production")
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"  # projects and environments, like deployment names
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
MAX_VALUE_BYTES = 64 * 1024
MAX_DESCRIPTION = 500
RESERVED_KEYS = frozenset({"PORT", "INSTANCE_ID"})
MASK = "********"


def check_value(value: str | None) -> str | None:
    """Values become environment variables: bounded in size, and never holding NUL."""
    if value is not None:
        size = len(value.encode())
        if size > MAX_VALUE_BYTES:
            raise ValueError(f"value is {size} bytes; the limit is {MAX_VALUE_BYTES} (64 KiB)")
        if "\x00" in value:
            raise ValueError("value contains a NUL character, which no environment variable can hold")
    return value


class ConfigEntry(BaseModel):
    """One variable or secret as a caller sees it; `value` is None when masked."""

    key: str = Field(pattern=KEY_PATTERN)
    value: str | None = None
    secret: bool = False
    description: str = Field(default="", max_length=MAX_DESCRIPTION)

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, key: str) -> str:
        if key in RESERVED_KEYS:
            raise ValueError(f"{key} is set by the sandbox itself; choose another name")
        return key

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        return check_value(value)

    @field_validator("description")
    @classmethod
    def _one_line(cls, text: str) -> str:
        if "\n" in text or "\r" in text:
            raise ValueError("description must be one line")
        return text

    def masked(self) -> ConfigEntry:
        return self.model_copy(update={"value": MASK}) if self.secret else self


class ConfigChange(BaseModel):
    """A set (value given) or an unset (`remove=True`) of one key, as one write applies it."""

    key: str = Field(pattern=KEY_PATTERN)
    value: str | None = None
    secret: bool = False
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    remove: bool = False

    @field_validator("key")
    @classmethod
    def _not_reserved(cls, key: str) -> str:
        return ConfigEntry._not_reserved(key)

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        return check_value(value)


class ConfigSnapshot(BaseModel):
    """An environment at one immutable version (0 = empty, before the first write)."""

    project: str
    environment: str
    version: int
    entries: list[ConfigEntry] = Field(default_factory=list)
    created_at: datetime | None = None
    actor: str = ""
    reason: str = ""

    def values(self) -> dict[str, str]:
        return {e.key: e.value for e in self.entries if e.value is not None}

    def masked(self) -> ConfigSnapshot:
        return self.model_copy(update={"entries": [e.masked() for e in self.entries]})


class VersionInfo(BaseModel):
    version: int
    created_at: datetime
    actor: str
    reason: str
    keys: int
    rollback_of: int | None = None


class DiffKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


class DiffLine(BaseModel):
    """One key that differs; secret values are always MASK, plain values shown."""

    key: str
    kind: DiffKind
    secret: bool
    old: str | None = None
    new: str | None = None


class AuditAction(StrEnum):
    SET = "set"
    UNSET = "unset"
    ROLLBACK = "rollback"
    IMPORT = "import"
    REVEAL = "reveal"
    ROTATE_KEY = "rotate-key"
    ENVIRONMENT_ADDED = "environment-added"


class AuditEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: AuditAction
    project: str
    environment: str
    key: str
    version: int
    reason: str
    value_hash: str  # keyed hash of the value (HMAC), never the value
    prev_hash: str
    hash: str


class AuditReport(BaseModel):
    ok: bool
    rows: int
    problems: list[str] = Field(default_factory=list)


class ConfigRef(BaseModel):
    """What a deployment spec and a workflow carry: a reference, never values.

    `follow` (the default when no version was given) means the deployment takes new versions as
    canary rollouts; a pinned version never moves. `version` is always concrete once deployed.
    """

    project: str = Field(pattern=NAME_PATTERN)
    environment: str = Field(pattern=NAME_PATTERN)
    version: int | None = Field(default=None, ge=1)
    follow: bool = True
    reload: bool = Field(default=True, description="false: opt out of automatic canary reloads")

    @model_validator(mode="before")
    @classmethod
    def _pinned_when_versioned(cls, data: Any) -> Any:
        """A version written by the user pins; `follow` is only implied when not said."""
        if isinstance(data, dict) and "follow" not in data:
            return {**data, "follow": data.get("version") is None}
        return data


class ResolvedConfig(BaseModel):
    """The activity-side answer for an instance: values decrypted, only for the app's environment."""

    ref: ConfigRef
    values: dict[str, str]
