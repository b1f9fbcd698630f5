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
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                # pysqlite is told to keep out of transactions (see engine.py), so DDL is atomic there too.
                transactional_ddl=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
