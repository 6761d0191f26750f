"""Build (once per URL) the SQLAlchemy engine of the app database, and create its tables.

One URL rule for every process: explicit argument, then $CODERUNNER_DATABASE_URL, then a SQLite
file in the state dir. SQLite is tuned for several writer threads (WAL, busy timeout, BEGIN
IMMEDIATE) because activities run in threads; PostgreSQL is what the distributed stack uses.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import SQLModel, create_engine

from coderunner.config.home import HomeLayout, home_dir
from coderunner.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

ENV_URL = "CODERUNNER_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SCHEMA_LOCK_KEY = 0x436F_6465_5275  # pg advisory lock: several workers may start at once

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def resolve_url(url: str | None = None) -> str:
    """The database URL this process uses, normalised so `postgresql://` means psycopg 3."""
    raw = url or os.environ.get(ENV_URL) or f"sqlite:///{HomeLayout(home_dir()).app_db}"
    parsed = make_url(raw)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside a writer; BEGIN IMMEDIATE takes the write lock up front so the
    busy timeout applies, instead of failing with 'database is locked' on a read->write upgrade."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _build(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _tune_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    create_schema(engine)
    return engine


def create_schema(engine: Engine) -> None:
    """Create missing tables; on PostgreSQL under an advisory lock so N workers starting together
    don't race each other's CREATE TABLE."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
        SQLModel.metadata.create_all(conn)


def make_engine(url: str | None = None) -> Engine:
    """The cached engine for `url` (see `resolve_url`), with its tables created on first use."""
    key = resolve_url(url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _build(make_url(key))
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and before dropping a database)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
