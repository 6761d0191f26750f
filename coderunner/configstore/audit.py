"""The config audit log: append-only and hash-chained, so an edited or deleted row is detectable.

Each row's hash covers the previous row's hash and its own fields; a one-row table holds the head
(last seq and hash), written in the same transaction as every append, so deleting the newest row
shows as well. Rows carry keyed hashes of values (`crypto.keyed_hash`), never values.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from coderunner.configstore.tables import ConfigAudit, ConfigAuditHead, table_of
from coderunner.decisions.config_diff import diff_entries
from coderunner.models.configstore import AuditAction, AuditEntry, AuditReport, ConfigEntry

GENESIS = "0" * 64


def row_hash(prev_hash: str, seq: int, at: datetime, fields: dict[str, str | int]) -> str:
    body = json.dumps([prev_hash, seq, at.isoformat(), fields], sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


_FIELDS = ("actor", "action", "project", "environment", "key", "version", "reason", "value_hash")


def _fields(row: ConfigAudit | dict) -> dict[str, str | int]:
    data = row if isinstance(row, dict) else row.model_dump()
    return {name: data[name] for name in _FIELDS}


def append(conn: Connection, at: datetime, records: list[dict]) -> None:
    """Append `records` (actor, action, project, environment, key, version, reason, value_hash) to the
    chain inside the caller's transaction (which holds the write lock)."""
    head = conn.execute(select(ConfigAuditHead).where(col(ConfigAuditHead.id) == 1)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    for record in records:
        seq += 1
        digest = row_hash(prev, seq, at, _fields(record))
        conn.execute(
            table_of(ConfigAudit).insert().values(seq=seq, at=at, prev_hash=prev, hash=digest, **record)
        )
        prev = digest
    table = table_of(ConfigAuditHead)
    if head is None:
        conn.execute(table.insert().values(id=1, seq=seq, hash=prev))
    else:
        conn.execute(table.update().where(table.c.id == 1).values(seq=seq, hash=prev))


def entries(
    engine: Engine, project: str | None = None, environment: str | None = None, limit: int = 200
) -> list[AuditEntry]:
    query = sm_select(ConfigAudit).order_by(col(ConfigAudit.seq).desc()).limit(limit)
    if project:
        query = query.where(col(ConfigAudit.project) == project)
    if environment:
        query = query.where(col(ConfigAudit.environment) == environment)
    with Session(engine) as session:
        rows = session.exec(query).all()
    return [AuditEntry(**{**row.model_dump(), "action": AuditAction(row.action)}) for row in rows]


def verify(engine: Engine) -> AuditReport:
    """Walk the whole chain: every seq present, every prev_hash linking, every hash recomputed."""
    problems: list[str] = []
    with Session(engine) as session:
        rows = list(session.exec(sm_select(ConfigAudit).order_by(col(ConfigAudit.seq))).all())
        head = session.get(ConfigAuditHead, 1)
    prev, expected_seq = GENESIS, 1
    for row in rows:
        if row.seq != expected_seq:
            problems.append(f"rows {expected_seq}..{row.seq - 1} are missing (deleted)")
        if row.prev_hash != prev:
            problems.append(f"row {row.seq}: does not link to the row before it")
        if row_hash(row.prev_hash, row.seq, row.at, _fields(row)) != row.hash:
            problems.append(f"row {row.seq}: content does not match its hash (edited)")
        prev, expected_seq = row.hash, row.seq + 1
    last_seq = rows[-1].seq if rows else 0
    if head is None and rows:
        problems.append("the chain head record is missing")
    elif head is not None and (head.seq != last_seq or head.hash != prev):
        problems.append(
            f"the chain head says row {head.seq} is last, but the log ends at row {last_seq} "
            "(rows deleted from the end)"
        )
    return AuditReport(ok=not problems, rows=len(rows), problems=problems)


def records_for(
    actor: str,
    action: AuditAction,
    project: str,
    environment: str,
    version: int,
    reason: str,
    before: list[ConfigEntry],
    after: list[ConfigEntry],
    hashes: dict[str, str],
    touched: set[str] | None,
) -> list[dict]:
    """One audit row per key the write set, unset or changed (touched keys, else every difference)."""
    old = {e.key: e for e in before}
    new = {e.key: e for e in after}
    keys = touched if touched is not None else {line.key for line in diff_entries(before, after)}
    rows = []
    for key in sorted(keys):
        if key in new:
            kind = action if action != AuditAction.SET else AuditAction.SET
            rows.append(record(actor, kind, project, environment, key, version, reason, hashes[key]))
        elif key in old:
            kind = AuditAction.UNSET if action == AuditAction.SET else action
            rows.append(record(actor, kind, project, environment, key, version, reason, ""))
    if not rows:  # e.g. a rollback to identical content: the version itself is still recorded
        rows.append(record(actor, action, project, environment, "", version, reason, ""))
    return rows


def record(
    actor: str,
    action: AuditAction,
    project: str,
    environment: str,
    key: str,
    version: int,
    reason: str,
    value_hash: str,
) -> dict:
    return {
        "actor": actor,
        "action": action.value,
        "project": project,
        "environment": environment,
        "key": key,
        "version": version,
        "reason": reason,
        "value_hash": value_hash,
    }
