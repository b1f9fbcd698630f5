"""Insert-or-get records: energy orders, signed transactions, callback events, scanner cursors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sweeper.errors import StateConflict
from sweeper.ledger import Ledger, OrderRequestStatus, TxKind, TxStatus
from sweeper.ledger.records import Sweep
from sweeper.models import SignedTx
from tests.fixtures.db import HOT_WALLET, USDT

pytestmark = pytest.mark.integration

TXID = "a1" * 32


@pytest.fixture
def sweep(ledger: Ledger, watched: str) -> Sweep:
    opened = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert opened is not None
    return opened


def test_an_order_request_is_recorded_as_requested_before_the_call(ledger: Ledger, sweep: Sweep) -> None:
    order = ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0e", 64_285)

    assert (order.status, order.energy, order.provider_order_id) == (
        OrderRequestStatus.REQUESTED,
        64_285,
        None,
    )
    assert ledger.get_order("itrx", "sw1a0e") == order


def test_a_repeated_order_request_returns_the_stored_order(ledger: Ledger, sweep: Sweep) -> None:
    first = ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0e", 64_285)
    ledger.update_order("itrx", "sw1a0e", status=OrderRequestStatus.PENDING, provider_order_id="P-9")

    again = ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0e", 64_285)

    assert again.id == first.id
    assert (again.status, again.provider_order_id) == (OrderRequestStatus.PENDING, "P-9")
    assert len(ledger.orders_for_sweep(sweep.id)) == 1


def test_the_same_order_number_may_exist_once_per_source(ledger: Ledger, sweep: Sweep) -> None:
    ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0e", 64_285)
    ledger.record_order_request(sweep.id, "energy", "tronzap", "sw1a0e", 64_285)

    assert {o.source for o in ledger.find_orders("sw1a0e")} == {"itrx", "tronzap"}


def test_an_order_number_of_another_step_is_refused(ledger: Ledger, sweep: Sweep) -> None:
    ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0e", 64_285)

    with pytest.raises(StateConflict):
        ledger.record_order_request(sweep.id, "activation", "itrx", "sw1a0e", 0)


def test_an_order_update_with_a_stale_status_changes_nothing(ledger: Ledger, sweep: Sweep) -> None:
    ledger.record_order_request(sweep.id, "energy", "ea888fee", "sw1a0e", 64_285)
    delivered = OrderRequestStatus.DELIVERED
    assert ledger.update_order(
        "ea888fee", "sw1a0e", status=delivered, from_status=OrderRequestStatus.REQUESTED, cost_sun=2_600_000
    )

    late = ledger.update_order(
        "ea888fee", "sw1a0e", status=OrderRequestStatus.FAILED, from_status=OrderRequestStatus.REQUESTED
    )

    order = ledger.get_order("ea888fee", "sw1a0e")
    assert late is False
    assert order is not None and (order.status, order.cost_sun) == (delivered, 2_600_000)


def test_a_signed_tx_is_stored_once_by_txid(ledger: Ledger, sweep: Sweep) -> None:
    signed = SignedTx(txid=TXID, raw_json='{"txID": "a1"}', expiration_ms=1_900_000_000_000)

    first = ledger.store_signed_tx(sweep.id, TxKind.TRANSFER, signed)
    again = ledger.store_signed_tx(sweep.id, TxKind.TRANSFER, SignedTx(TXID, '{"other": 1}', 1))

    assert first == again
    assert (first.status, first.signed_json, first.expiration_ms) == (
        TxStatus.SIGNED,
        '{"txID": "a1"}',
        1_900_000_000_000,
    )
    assert [t.txid for t in ledger.txs_for_sweep(sweep.id, TxKind.TRANSFER)] == [TXID]


def test_a_txid_of_another_sweep_is_refused(ledger: Ledger, sweep: Sweep) -> None:
    ledger.store_signed_tx(sweep.id, TxKind.TRANSFER, SignedTx(TXID, "{}", 1))

    with pytest.raises(StateConflict):
        ledger.store_signed_tx(None, TxKind.DELEGATE, SignedTx(TXID, "{}", 1))


def test_mark_tx_follows_the_expected_status(ledger: Ledger, sweep: Sweep) -> None:
    ledger.store_signed_tx(sweep.id, TxKind.TRANSFER, SignedTx(TXID, "{}", 1))

    assert ledger.mark_tx(TXID, TxStatus.BROADCAST, from_status=TxStatus.SIGNED)
    assert not ledger.mark_tx(TXID, TxStatus.EXPIRED, from_status=TxStatus.SIGNED)
    assert ledger.mark_tx(TXID, TxStatus.CONFIRMED, block_number=77, fee_sun=345_000)

    tx = ledger.get_tx(TXID)
    assert tx is not None and (tx.status, tx.block_number, tx.fee_sun) == (TxStatus.CONFIRMED, 77, 345_000)
    assert ledger.get_tx("00" * 32) is None


def test_a_callback_event_is_recorded_once(ledger: Ledger) -> None:
    assert ledger.record_callback("itrx", "itrx:o1:1", '{"status": 40}', order_no="sw1a0e")
    assert not ledger.record_callback("itrx", "itrx:o1:1", '{"status": 40}', order_no="sw1a0e")
    assert ledger.record_callback("itrx", "itrx:o1:2", '{"status": 41}', order_no="sw1a0e")

    with ledger.engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM callback_events")).scalar_one()
    assert count == 2


def test_a_cursor_is_absent_until_set_and_then_moves(ledger: Ledger) -> None:
    assert ledger.get_cursor("blocks") is None

    assert ledger.set_cursor("blocks", 100)
    assert ledger.set_cursor("blocks", 120)

    assert ledger.get_cursor("blocks") == 120
    assert ledger.get_cursor("other") is None


def test_a_cursor_compare_and_set_refuses_a_stale_expectation(ledger: Ledger) -> None:
    ledger.set_cursor("blocks", 100)

    assert ledger.set_cursor("blocks", 150, expected=100)
    assert not ledger.set_cursor("blocks", 130, expected=100)
    assert not ledger.set_cursor("never-set", 1, expected=0)

    assert ledger.get_cursor("blocks") == 150


def test_orders_are_counted_and_their_sources_listed_in_order(ledger: Ledger, sweep: Sweep) -> None:
    assert ledger.count_orders(sweep.id) == 0
    ledger.record_order_request(sweep.id, "activation", "tronzap", "sw1a0o1", 0)
    ledger.record_order_request(sweep.id, "energy", "itrx", "sw1a0o2", 64_285)
    ledger.record_order_request(sweep.id, "energy", "tronzap", "sw1a0o3", 64_285)

    assert ledger.count_orders(sweep.id) == 3
    assert ledger.order_sources(sweep.id) == ["tronzap", "itrx"]
    assert [o.activate for o in ledger.orders_for_sweep(sweep.id)] == [True, False, False]
