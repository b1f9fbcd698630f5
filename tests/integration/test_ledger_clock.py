"""The ledger's clock: every host judges ages by PostgreSQL's time, whatever its own clock says."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine

from sweeper.ledger.clock import LedgerClock
from sweeper.ledger.engine import create_engine_for


@pytest.mark.postgres
@pytest.mark.parametrize("skew", [120.0, -120.0])
def test_a_host_two_minutes_off_reads_the_database_servers_time(pg_url: str, skew: float) -> None:
    engine = create_engine_for(pg_url)
    try:
        clock = LedgerClock(engine, local=lambda: time.time() + skew)
        assert abs(clock() - time.time()) < 1.0  # the server's time, not the host's
        assert abs(clock.offset - skew) < 1.0
        assert abs(clock.now().timestamp() - time.time()) < 1.0
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_offset_is_measured_once_a_minute_not_per_call(pg_url: str) -> None:
    engine = create_engine_for(pg_url)
    now = [1000.0]
    try:
        clock = LedgerClock(engine, local=lambda: time.time() + 50, monotonic=lambda: now[0])
        clock()
        first = clock.offset
        clock._local = lambda: time.time() + 90  # the host's clock steps by 40 s
        clock()
        assert clock.offset == first  # not measured again within the minute
        now[0] += 61
        clock()
        assert abs(clock.offset - 90) < 1.0
    finally:
        engine.dispose()


def test_sqlite_is_one_hosts_file_and_needs_no_offset(tmp_path) -> None:
    engine = create_engine_for(f"sqlite+pysqlite:///{tmp_path / 'l.sqlite3'}")
    clock = LedgerClock(engine, local=lambda: 5.0)
    assert clock() == 5.0 and clock.offset == 0.0


def test_an_unreachable_ledger_keeps_the_last_offset_and_raises_nothing() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    engine = create_engine(url, connect_args={"connect_timeout": 1})
    clock = LedgerClock(engine, local=lambda: 7.0)
    assert clock() == 7.0 and clock.offset == 0.0
