"""PostgreSQL: a sweep's writes are single statements in autocommit, a move and its history row included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import default

from sweeper.errors import StateConflict
from sweeper.ledger import DepositAddress, Ledger
from sweeper.ledger.records import OrderRequestStatus, TxKind, TxStatus
from sweeper.models import SignedTx, SweepState
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

on_postgres = pytest.mark.parametrize("ledger", ["postgres"], indirect=True)


@contextmanager
def statements(led: Ledger) -> Iterator[list[tuple[str, bool]]]:
    """Each statement the ledger runs, with whether its connection was in autocommit (no BEGIN/COMMIT)."""
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((" ".join(statement.split()), bool(conn.connection.driver_connection.autocommit)))

    engines = led.engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def _open(led: Ledger, seed: str) -> int:
    address = tron_address(seed)
    led.add_addresses([DepositAddress(address, "mnemonic:1")])
    sweep = led.open_sweep(address, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    return sweep.id


@on_postgres
def test_a_move_is_one_autocommit_statement_that_writes_its_history_row(ledger: Ledger) -> None:
    sid = _open(ledger, "one-statement-move")
    with statements(ledger) as seen:
        moved = ledger.move(
            sid, SweepState.DETECTED, SweepState.ENERGY_ORDERED, note="ordered", energy_needed=65_000
        )
    assert len(seen) == 1 and seen[0][1] is True, seen
    assert seen[0][0].startswith("WITH moved AS (UPDATE sweeps")
    assert moved is not None and moved == ledger.get_sweep(sid)  # the row as it left it, typed as read
    assert moved.energy_needed == 65_000 and moved.version == 1
    last = ledger.history(sid)[-1]
    assert (last.from_state, last.to_state) == (SweepState.DETECTED, SweepState.ENERGY_ORDERED)
    assert last.detail == {"note": "ordered", "set": {"energy_needed": 65_000}}


@on_postgres
def test_a_move_that_lost_its_race_writes_no_history_and_changes_nothing(ledger: Ledger) -> None:
    sid = _open(ledger, "lost-race-move")
    before = ledger.get_sweep(sid)
    assert ledger.move(sid, SweepState.ENERGY_ORDERED, SweepState.ENERGY_READY) is None  # not there
    assert ledger.move(sid, SweepState.DETECTED, SweepState.SKIPPED, expected_version=7) is None  # stale
    assert ledger.get_sweep(sid) == before
    assert [h.to_state for h in ledger.history(sid)] == [SweepState.DETECTED]


@on_postgres
def test_a_move_that_would_open_a_second_sweep_is_refused_whole(ledger: Ledger) -> None:
    first = _open(ledger, "second-open")
    assert ledger.move(first, SweepState.DETECTED, SweepState.SKIPPED, reason="dust") is not None
    second = ledger.open_sweep(tron_address("second-open"), USDT, 7_000_000, HOT_WALLET)
    assert second is not None and second.id != first
    with pytest.raises(StateConflict):
        ledger.move(first, SweepState.SKIPPED, SweepState.DETECTED)
    assert ledger.get_sweep(first).state is SweepState.SKIPPED  # type: ignore[union-attr]
    assert [h.to_state for h in ledger.history(first)] == [SweepState.DETECTED, SweepState.SKIPPED]


@on_postgres
def test_the_other_writes_of_a_sweep_step_are_one_autocommit_statement_each(ledger: Ledger) -> None:
    sid = _open(ledger, "single-writes")
    tx = SignedTx(txid="ab" * 32, raw_json="{}", expiration_ms=1)
    with statements(ledger) as seen:
        order = ledger.record_order_request(sid, "energy", "itrx", "o1", 65_000, quoted_sun=1_000)
        assert ledger.update_order("itrx", "o1", status=OrderRequestStatus.PENDING, provider_order_id="p")
        assert ledger.set_fields(sid, SweepState.DETECTED, order_no="o1") is not None
        assert ledger.set_next_check(sid, ledger.now() + timedelta(seconds=3)) is SweepState.DETECTED
        stored = ledger.store_signed_tx(sid, TxKind.TRANSFER, tx)
        assert ledger.mark_tx(tx.txid, TxStatus.BROADCAST, from_status=TxStatus.SIGNED)
        ledger.note(sid, SweepState.DETECTED, "seen", {"balance": 1})
    assert [autocommit for _, autocommit in seen] == [True] * 7, seen
    assert (order.order_no, order.status, order.quoted_sun) == ("o1", OrderRequestStatus.REQUESTED, 1_000)
    assert stored.txid == tx.txid and stored.status is TxStatus.SIGNED and stored.sweep_id == sid

    # A repeat inserts nothing and answers with the stored row (read after the insert kept it).
    assert ledger.record_order_request(sid, "energy", "itrx", "o1", 65_000).id == order.id
    again = ledger.store_signed_tx(sid, TxKind.TRANSFER, tx)
    assert (again.txid, again.created_at, again.status) == (tx.txid, stored.created_at, TxStatus.BROADCAST)
    with pytest.raises(StateConflict):
        ledger.record_order_request(sid, "top_up", "itrx", "o1", 65_000)  # the number is another step's


def test_the_inserts_that_keep_a_repeat_are_compiled_once_on_both_dialects(ledger: Ledger) -> None:
    """SQLAlchemy 2.0 leaves the dialects' ``INSERT … ON CONFLICT`` out of its statement cache (every call
    compiled again, about 0.25 ms of CPU); the ledger's own insert-or-keep statements are kept."""
    hits: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        hits.append((" ".join(statement.split())[:40], context.cache_hit))

    warm = _open(ledger, "compiled-once-warm")
    ledger.record_order_request(warm, "energy", "itrx", "w1", 65_000)
    ledger.store_signed_tx(warm, TxKind.TRANSFER, SignedTx(txid="cd" * 32, raw_json="{}", expiration_ms=1))
    address = tron_address("compiled-once")
    ledger.add_addresses([DepositAddress(address, "mnemonic:2")])
    engines = ledger.engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        sweep = ledger.open_sweep(address, USDT, 5_000_000, HOT_WALLET)
        assert sweep is not None
        ledger.record_order_request(sweep.id, "energy", "itrx", "c1", 65_000)
        ledger.store_signed_tx(sweep.id, TxKind.TRANSFER, SignedTx("ef" * 32, "{}", 1))
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
    inserts = [(text, hit) for text, hit in hits if "INSERT" in text]
    assert len(inserts) >= 3, hits
    assert all(hit == default.CACHE_HIT for _, hit in inserts), inserts


@on_postgres
def test_opening_a_sweep_is_one_statement_and_a_repeat_or_a_stranger_changes_nothing(ledger: Ledger) -> None:
    address = tron_address("one-statement-open")
    ledger.add_addresses([DepositAddress(address, "mnemonic:3")])
    with statements(ledger) as seen:
        sweep = ledger.open_sweep(address, USDT, 5_000_000, HOT_WALLET, detected_block=77)
    assert sweep is not None and [autocommit for _, autocommit in seen] == [True], seen
    assert sweep == ledger.get_sweep(sweep.id) and sweep.detected_block == 77
    [first] = ledger.history(sweep.id)
    assert (first.from_state, first.to_state, first.reason) == (None, SweepState.DETECTED, "detected")
    assert first.detail == {"amount": 5_000_000, "detected_block": 77, "dry_run": False}

    assert ledger.open_sweep(address, USDT, 9_000_000, HOT_WALLET) == sweep  # the open one, unchanged
    assert ledger.open_sweep(tron_address("never-watched"), USDT, 5_000_000, HOT_WALLET) is None
    assert len(ledger.history(sweep.id)) == 1
