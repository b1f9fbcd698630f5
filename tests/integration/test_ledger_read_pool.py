"""PostgreSQL reads run on a pool of autocommit connections of their own; writes keep their transactions."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sweeper.ledger import DepositAddress, Ledger, create_engine_for
from sweeper.models import SweepState
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def pg_ledger(ledger: Ledger) -> Ledger:
    assert ledger.engine.dialect.name == "postgresql"
    return ledger


on_postgres = pytest.mark.parametrize("ledger", ["postgres"], indirect=True)


def _backend_autocommit(led: Ledger) -> list[bool]:
    """Whether each connection pooled for reads is in autocommit, asked of the driver connection."""
    pool = led._readers().pool
    conns = []
    while pool.checkedin():
        conns.append(pool.connect())
    try:
        return [bool(c.driver_connection.autocommit) for c in conns]  # type: ignore[union-attr]
    finally:
        for c in conns:
            c.close()


@on_postgres
def test_reads_use_autocommit_connections_of_their_own_and_writes_keep_transactions(
    pg_ledger: Ledger,
) -> None:
    address = tron_address("read-pool")
    pg_ledger.add_addresses([DepositAddress(address, "mnemonic:1")])
    writes_before = pg_ledger.engine.pool.checkedin()
    sweep = pg_ledger.open_sweep(address, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    assert pg_ledger.get_sweep(sweep.id) == sweep
    assert pg_ledger.get_sweep(sweep.id + 1000) is None
    assert pg_ledger.count_orders(sweep.id) == 0

    # The read went to the read pool, whose connection stays in autocommit between reads.
    assert _backend_autocommit(pg_ledger) == [True]
    # The writers' pool holds no autocommit connection: a transition is still one transaction.
    with pg_ledger.engine.connect() as conn:
        assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
    assert pg_ledger.engine.pool.checkedin() >= writes_before
    assert pg_ledger.transition(sweep.id, SweepState.DETECTED, SweepState.SKIPPED, reason="test")
    assert [h.to_state for h in pg_ledger.history(sweep.id)] == [SweepState.DETECTED, SweepState.SKIPPED]


@on_postgres
def test_dispose_closes_both_pools_and_a_later_read_opens_again(pg_ledger: Ledger) -> None:
    pg_ledger.address_count()
    readers = pg_ledger._readers()
    assert readers is not pg_ledger.engine and readers.pool.checkedin() == 1

    pg_ledger.dispose()

    # QueuePool.dispose() closes the idle connections and starts an empty pool.
    assert pg_ledger._readers().pool.checkedin() == 0
    assert pg_ledger.address_count() == 0


def test_the_read_pool_keeps_the_writers_url_and_pre_ping(pg_url: str) -> None:
    led = Ledger(create_engine_for(pg_url, pool_pre_ping=True))
    try:
        readers = led._readers()
        assert readers.url == led.engine.url
        assert readers.pool._pre_ping is True  # type: ignore[attr-defined]
        with readers.connect() as conn:
            assert conn.execute(text("SHOW transaction_isolation")).scalar_one() == "read committed"
    finally:
        led.dispose()


def test_engines_names_both_pools_on_postgresql_and_one_on_sqlite(pg_url: str, sqlite_url: str) -> None:
    on_pg = Ledger(create_engine_for(pg_url))
    on_sqlite = Ledger(create_engine_for(sqlite_url))
    try:
        assert on_pg.engines() == (on_pg.engine, on_pg._readers())
        assert on_sqlite.engines() == (on_sqlite.engine,)
    finally:
        on_pg.dispose()
        on_sqlite.dispose()
