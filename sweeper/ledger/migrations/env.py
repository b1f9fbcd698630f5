"""Alembic environment: migrates through the Engine handed over by ``sweeper.ledger.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.tables import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: use sweeper.ledger.migrate.upgrade(url) or set sqlalchemy.url")
    return url


def run_online() -> None:
    given = config.attributes.get("engine")
    owned = not isinstance(given, Engine)
    engine: Engine = given if isinstance(given, Engine) else create_engine_for(_url())
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            raw = connection.connection.driver_connection if sqlite else None
            if raw is not None:
                # SQLite rebuilds a table to change it (batch mode); with foreign keys enforced, dropping a
                # referenced table fails even though the rebuilt one holds every row. SQLite's own recipe:
                # keys off outside the transaction, checked before commit, on again after.
                raw.execute("PRAGMA foreign_keys=OFF")
            try:
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    render_as_batch=sqlite,
                    # pysqlite keeps out of transactions (see engine.py), so DDL is atomic there too.
                    transactional_ddl=True,
                )
                with context.begin_transaction():
                    context.run_migrations()
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
