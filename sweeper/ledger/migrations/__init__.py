"""Alembic migrations for the ledger; run them with ``sweeper.ledger.migrate.upgrade(url)``."""
