"""The Alembic migrations and the SQLAlchemy models describe the same schema, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sweeper.ledger import Ledger, create_engine_for, upgrade
from sweeper.ledger.migrate import alembic_config, current_revision
from sweeper.ledger.tables import Base

pytestmark = pytest.mark.integration


def test_the_migrated_schema_matches_the_models(ledger: Ledger) -> None:
    with ledger.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)

    assert diff == []
    assert current_revision(ledger.engine) == "0004_deployment_id"


def test_upgrade_is_idempotent(ledger: Ledger) -> None:
    upgrade(ledger.engine)

    assert current_revision(ledger.engine) == "0004_deployment_id"


def test_a_fresh_sqlite_file_migrates_from_a_plain_url_and_downgrades_cleanly(sqlite_url: str) -> None:
    upgrade(sqlite_url.replace("sqlite+pysqlite://", "sqlite://"))
    engine = create_engine_for(sqlite_url)
    try:
        assert set(Base.metadata.tables) <= set(sa.inspect(engine).get_table_names())

        command.downgrade(alembic_config(engine), "base")

        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_tables_created_from_the_models_are_append_only_too(sqlite_url: str) -> None:
    engine = create_engine_for(sqlite_url)
    try:
        Base.metadata.create_all(engine)
        with engine.connect() as conn:
            triggers = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            assert {name for (name,) in triggers} == {"sweep_history_no_update", "sweep_history_no_delete"}
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = create_engine_for(sqlite_url)
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}
