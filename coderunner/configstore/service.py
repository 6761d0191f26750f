"""ConfigService: the one entry point for config reads and writes (CLI, SDK, activities).

Writes are check-and-set on the environment's head version: read the head, build the next snapshot
(crypto done before the transaction, so a missing key leaves nothing half-written), then commit only
if the head is still what was read. Without an expected version a lost race is simply retried on the
new head, so two concurrent writers never lose an update; with one, the caller gets VersionConflict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col
from sqlmodel import select as sm_select

from coderunner.configstore import audit
from coderunner.configstore.datakeys import DataKeys
from coderunner.configstore.errors import ConfigInputError, ConfigNotFound, VersionConflict
from coderunner.configstore.keyring import MasterKeys
from coderunner.configstore.sealing import Sealer
from coderunner.configstore.tables import (
    CONFIG_TABLES,
    ConfigEnvironment,
    ConfigProject,
    ConfigValue,
    ConfigVersion,
    table_of,
)
from coderunner.decisions.config_diff import apply_changes, diff_entries
from coderunner.models.configstore import (
    DEFAULT_ENVIRONMENTS,
    NAME_PATTERN,
    AuditAction,
    AuditEntry,
    AuditReport,
    ConfigChange,
    ConfigEntry,
    ConfigRef,
    ConfigSnapshot,
    DiffLine,
    VersionInfo,
)
from coderunner.store.tables import utcnow

_WRITE_LOCK = 0x436F_6E66_6967  # pg advisory lock: config writes (and the audit chain) serialise
_RETRIES = 50
_ready: set[int] = set()
_NAME = re.compile(NAME_PATTERN)


def ensure_tables(engine: Engine) -> None:
    if id(engine) not in _ready:
        tables = [table_of(t) for t in CONFIG_TABLES]
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK})
            SQLModel.metadata.create_all(conn, tables=tables, checkfirst=True)
        _ready.add(id(engine))


class ConfigService:
    def __init__(self, engine: Engine, master: MasterKeys) -> None:
        ensure_tables(engine)
        self.engine = engine
        self.master = master
        self._insert: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self.keys = DataKeys(engine, master, self._insert)
        self.sealer = Sealer(self.keys)

    # ---- projects and environments ----------------------------------------------------------------

    def ensure_project(self, project: str, actor: str) -> None:
        """Create `project` with the default environments if it does not exist (idempotent)."""
        _check_name(project, "--project")
        with self.engine.begin() as conn:
            conn.execute(
                self._insert(ConfigProject)
                .values(name=project, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            for env in DEFAULT_ENVIRONMENTS:
                conn.execute(
                    self._insert(ConfigEnvironment)
                    .values(project=project, name=env, head=0)
                    .on_conflict_do_nothing(index_elements=["project", "name"])
                )

    def add_environment(self, project: str, environment: str, actor: str, reason: str = "") -> None:
        _check_name(environment, "--env")
        self._require_project(project)
        stmt = self._insert(ConfigEnvironment).values(project=project, name=environment, head=0)
        with self._write() as conn:
            done = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["project", "name"]).returning(
                    col(ConfigEnvironment.name)
                )
            ).first()
            if done is None:
                raise ConfigInputError(f"--env: environment {environment!r} already exists in {project}")
            audit.append(
                conn,
                utcnow(),
                [
                    audit.record(
                        actor, AuditAction.ENVIRONMENT_ADDED, project, environment, "", 0, reason, ""
                    )
                ],
            )

    def projects(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.exec(sm_select(ConfigProject.name).order_by(col(ConfigProject.name))).all())

    def environments(self, project: str) -> dict[str, int]:
        """Environment name -> head version."""
        self._require_project(project)
        query = sm_select(ConfigEnvironment).where(col(ConfigEnvironment.project) == project)
        with Session(self.engine) as session:
            return {row.name: row.head for row in session.exec(query.order_by(col(ConfigEnvironment.name)))}

    def head(self, project: str, environment: str) -> int:
        with Session(self.engine) as session:
            row = session.get(ConfigEnvironment, (project, environment))
        if row is None:
            self._require_project(project)
            known = ", ".join(self.environments(project))
            raise ConfigNotFound(
                f"--env: unknown environment {environment!r} in project {project!r} "
                f"(known: {known}; add one with `coderunner config env add`)"
            )
        return row.head

    # ---- reads -----------------------------------------------------------------------------------

    def snapshot(
        self, project: str, environment: str, version: int | None = None, *, reveal: bool = False
    ) -> ConfigSnapshot:
        """The environment at `version` (default: head); secrets masked unless `reveal`."""
        head = self.head(project, environment)
        version = head if version is None else version
        if not 0 <= version <= head:
            raise ConfigNotFound(f"--version: {project}/{environment} has versions 1..{head}, not {version}")
        entries = self.sealer.entries(self._rows(project, environment, version), reveal)
        meta = self._version(project, environment, version)
        return ConfigSnapshot(
            project=project,
            environment=environment,
            version=version,
            entries=entries,
            created_at=meta.created_at if meta else None,
            actor=meta.actor if meta else "",
            reason=meta.reason if meta else "",
        )

    def reveal(
        self,
        project: str,
        environment: str,
        key: str,
        actor: str,
        reason: str = "",
        version: int | None = None,
    ) -> ConfigEntry:
        """One value in plaintext; the reveal itself is audited (who, which key, which version)."""
        version = self.snapshot(project, environment, version).version
        found = next((r for r in self._rows(project, environment, version) if r.key == key), None)
        if found is None:
            raise ConfigNotFound(f"KEY: {key!r} is not set in {project}/{environment} v{version}")
        entry = self.sealer.entries([found], True)[0]  # only this key is decrypted
        if entry.secret:
            row = audit.record(
                actor, AuditAction.REVEAL, project, environment, key, version, reason, self.sealer.hash(entry)
            )  # before the transaction: SQLite's must not nest
            with self._write() as conn:
                audit.append(conn, utcnow(), [row])
        return entry

    def resolve(self, ref: ConfigRef) -> dict[str, str]:
        """Decrypted values of a pinned reference: what the activity that starts an instance injects."""
        if ref.version is None:
            raise ConfigInputError("config.version: resolve a concrete version (deploy pins it)")
        return self.snapshot(ref.project, ref.environment, ref.version, reveal=True).values()

    def history(self, project: str, environment: str) -> list[VersionInfo]:
        self.head(project, environment)
        query = (
            sm_select(ConfigVersion)
            .where(col(ConfigVersion.project) == project, col(ConfigVersion.environment) == environment)
            .order_by(col(ConfigVersion.version).desc())
        )
        with Session(self.engine) as session:
            versions = list(session.exec(query).all())
            counts: dict[int, int] = dict(
                session.execute(
                    select(ConfigValue.version, text("count(*)"))  # type: ignore[call-overload]
                    .where(col(ConfigValue.project) == project, col(ConfigValue.environment) == environment)
                    .group_by(col(ConfigValue.version))
                ).all()
            )
        return [
            VersionInfo(
                version=v.version,
                created_at=v.created_at,
                actor=v.actor,
                reason=v.reason,
                keys=counts.get(v.version, 0),
                rollback_of=v.rollback_of,
            )
            for v in versions
        ]

    def diff(
        self, project: str, env_a: str, version_a: int | None, env_b: str, version_b: int | None
    ) -> list[DiffLine]:
        """Masked diff from (env_a, version_a) to (env_b, version_b); secrets compared by keyed hash."""
        a = self._hashed(project, env_a, version_a)
        b = self._hashed(project, env_b, version_b)
        return diff_entries(a[0], b[0], a[1], b[1])

    # ---- writes ----------------------------------------------------------------------------------

    def write(
        self,
        project: str,
        environment: str,
        changes: Sequence[ConfigChange],
        actor: str,
        reason: str = "",
        expected_version: int | None = None,
        action: AuditAction = AuditAction.SET,
    ) -> int:
        """Apply `changes` as one new version; returns it. Check-and-set, see the module docstring."""
        if not changes:
            raise ConfigInputError("nothing to change: give at least one key")
        self.ensure_project(project, actor)
        return self._commit(
            project,
            environment,
            actor,
            reason,
            expected_version,
            action,
            lambda current: apply_changes(current, changes),
            {c.key for c in changes},
        )

    def rollback(
        self,
        project: str,
        environment: str,
        to_version: int,
        actor: str,
        reason: str = "",
        expected_version: int | None = None,
    ) -> int:
        """A new version whose content equals `to_version` (history is never rewritten)."""
        target = self.snapshot(project, environment, to_version, reveal=True)
        if to_version < 1:
            raise ConfigNotFound("--to: versions start at 1")
        return self._commit(
            project,
            environment,
            actor,
            reason or f"rollback to v{to_version}",
            expected_version,
            AuditAction.ROLLBACK,
            lambda _current: list(target.entries),
            None,
            rollback_of=to_version,
        )

    def replace(
        self,
        project: str,
        environment: str,
        entries: Sequence[ConfigEntry],
        actor: str,
        reason: str = "",
        expected_version: int | None = None,
    ) -> int:
        """Make the environment exactly `entries` (import): one new version, validated beforehand."""
        self.ensure_project(project, actor)
        return self._commit(
            project,
            environment,
            actor,
            reason,
            expected_version,
            AuditAction.IMPORT,
            lambda _current: sorted(entries, key=lambda e: e.key),
            None,
        )

    def rotate_master_key(
        self, add_active: Any, retire: Any, actor: str, reason: str = ""
    ) -> tuple[int, list[str]]:
        """Re-wrap every data key under the (new) active master key, then retire keys nothing uses.

        `add_active()` makes a new key active in the keyring (a KMS: a new key version); `retire(ids)`
        drops master keys by id. Readers keep working throughout: old and new keys both open.
        """
        old_ids = self.keys.referenced_master_ids()
        new_id = add_active()
        moved = self.keys.rewrap_all()
        still = self.keys.referenced_master_ids()
        retired = retire({k for k in old_ids if k not in still and k != new_id})
        row = audit.record(actor, AuditAction.ROTATE_KEY, "*", "*", new_id, 0,
                           reason or f"{moved} data keys re-wrapped", "")
        with self._write() as conn:
            audit.append(conn, utcnow(), [row])
        return moved, retired

    # ---- audit -----------------------------------------------------------------------------------

    def audit_log(
        self, project: str | None = None, environment: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        return audit.entries(self.engine, project, environment, limit)

    def verify_audit(self) -> AuditReport:
        return audit.verify(self.engine)

    # ---- internals -------------------------------------------------------------------------------

    def _commit(
        self,
        project: str,
        environment: str,
        actor: str,
        reason: str,
        expected: int | None,
        action: AuditAction,
        build: Any,
        touched: set[str] | None,
        rollback_of: int | None = None,
    ) -> int:
        for _ in range(_RETRIES):
            base = self.head(project, environment)
            if expected is not None and base != expected:
                raise VersionConflict(
                    f"{project}/{environment} is at v{base}, not v{expected}: "
                    "re-read and retry (nothing was changed)"
                )
            current = self.sealer.entries(self._rows(project, environment, base), True)
            entries: list[ConfigEntry] = build(current)
            version = base + 1
            rows, hashes = self.sealer.seal(project, environment, version, entries)
            records = audit.records_for(
                actor, action, project, environment, version, reason, current, entries, hashes, touched
            )
            with self._write() as conn:
                moved = conn.execute(
                    update(ConfigEnvironment)
                    .where(
                        col(ConfigEnvironment.project) == project,
                        col(ConfigEnvironment.name) == environment,
                        col(ConfigEnvironment.head) == base,
                    )
                    .values(head=version)
                ).rowcount
                if moved == 1:
                    now = utcnow()
                    conn.execute(
                        table_of(ConfigVersion)
                        .insert()
                        .values(
                            project=project,
                            environment=environment,
                            version=version,
                            created_at=now,
                            actor=actor,
                            reason=reason,
                            rollback_of=rollback_of,
                        )
                    )
                    if rows:
                        conn.execute(table_of(ConfigValue).insert(), rows)
                    audit.append(conn, now, records)
                    return version
            if expected is not None:
                raise VersionConflict(
                    f"{project}/{environment} moved past v{base} meanwhile: re-read and retry"
                )
        raise VersionConflict(f"{project}/{environment}: gave up after {_RETRIES} concurrent retries")

    def _write(self) -> Any:
        """A write transaction; on PostgreSQL it takes the config write lock (SQLite: BEGIN IMMEDIATE)."""
        return _locked(self.engine)

    def _rows(self, project: str, environment: str, version: int) -> list[ConfigValue]:
        query = (
            sm_select(ConfigValue)
            .where(
                col(ConfigValue.project) == project,
                col(ConfigValue.environment) == environment,
                col(ConfigValue.version) == version,
            )
            .order_by(col(ConfigValue.key))
        )
        with Session(self.engine) as session:
            return list(session.exec(query).all())

    def _version(self, project: str, environment: str, version: int) -> ConfigVersion | None:
        with Session(self.engine) as session:
            return session.get(ConfigVersion, (project, environment, version))

    def _hashed(
        self, project: str, environment: str, version: int | None
    ) -> tuple[list[ConfigEntry], dict[str, str]]:
        head = self.head(project, environment)
        version = head if version is None else version
        if not 0 <= version <= head:
            raise ConfigNotFound(f"--version: {project}/{environment} has versions 1..{head}, not {version}")
        rows = self._rows(project, environment, version)
        return self.sealer.entries(rows, False), {r.key: r.value_hash for r in rows}

    def _require_project(self, project: str) -> None:
        with Session(self.engine) as session:
            found = session.get(ConfigProject, project) is not None
        if not found:  # outside the session: SQLite's BEGIN IMMEDIATE must not nest
            known = ", ".join(self.projects()) or "none yet"
            raise ConfigNotFound(
                f"--project: unknown project {project!r} (known: {known}; "
                "the first `coderunner config set` creates it)"
            )


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK})
        yield conn


def _check_name(value: str, field: str) -> None:
    if not _NAME.match(value):
        raise ConfigInputError(
            f"{field}: {value!r} is not a valid name (lowercase letters, digits and '-', "
            "max 40, starting and ending with a letter or digit)"
        )
