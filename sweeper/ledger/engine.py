"""Engines configured for the ledger: SQLite in WAL mode with one writer at a time, PostgreSQL pooled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import URL, Connection, make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "sweeper_read_only"
"""Execution option: a SQLite transaction that only reads may start with a plain deferred BEGIN."""


def normalize_url(url: str | URL) -> URL:
    """Pick the drivers we ship: psycopg (v3) for PostgreSQL, pysqlite for SQLite."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed


def create_engine_for(url: str | URL, **kwargs: Any) -> Engine:
    """An Engine for the ledger at ``url``; ``kwargs`` override the defaults below."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        options.update(kwargs)
        engine = _create_engine(parsed, **options)
        _configure_sqlite(engine)
        return engine
    options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20, "pool_recycle": 1800}
    options.update(kwargs)
    return _create_engine(parsed, **options)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout and foreign keys on every connection; writers take the lock up front.

    pysqlite's own transaction handling starts transactions lazily and late, so a transaction that
    reads before it writes could fail with SQLITE_BUSY instead of waiting. Emitting ``BEGIN IMMEDIATE``
    ourselves makes concurrent writers queue on the busy timeout; read-only work uses a plain BEGIN.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
