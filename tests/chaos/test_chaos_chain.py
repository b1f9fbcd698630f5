"""Chain faults: the node unreachable for a while, answering 5xx or hanging, and a broadcast that is
accepted but never mined (its transaction expires and is replaced exactly once, after the expiry)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.ledger.records import TxKind, TxStatus
from sweeper.models import USDT_MAINNET, SweepState
from tests.chaos.harness import TRX, USDT, Chaos, NodeLink
from tests.chaos.invariants import check_invariants
from tests.support.stack import add_deposits, drive, stack

pytestmark = pytest.mark.chaos

IN_FLIGHT = (SweepState.ENERGY_ORDERED, SweepState.ACTIVATING, SweepState.ENERGY_READY, SweepState.SIGNED)


def test_sweeps_wait_out_a_node_that_is_unreachable_for_a_while_and_finish_once_it_is_back(
    chaos_site: Chaos,
) -> None:
    link = NodeLink(chaos_site.devnet.ports()["node"]).up()
    try:
        chaos_site.configure(SWEEPER_TRON__NODE_URL=link.url, SWEEPER_TRON__TIMEOUT="2")
        chaos_site.site.scan_from_head()
        chaos_site.start(workers=2)
        chaos_site.deposit(6, activated=3)
        chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

        link.down()  # refused connections, open ones cut; blocks and deliveries go on without us
        time.sleep(8)
        link.up()

        chaos_site.settle()
    finally:
        link.down()
    found = chaos_site.check()
    assert found.swept == 6


def test_sweeps_finish_exactly_once_through_node_5xx_hangs_and_a_dropped_broadcast(chaos_site: Chaos) -> None:
    chaos_site.configure(SWEEPER_TRON__TIMEOUT="2")
    chaos_site.site.scan_from_head()
    chaos_site.start(workers=2)
    faults = chaos_site.devnet.faults
    chaos_site.deposit(6, activated=3)
    chaos_site.wait_for_state(lambda s: s.state in IN_FLIGHT, "a sweep in flight")

    faults.set("node", error_rate=0.3, status=503)
    time.sleep(4)
    faults.set("node", timeout_rate=0.15, latency_ms=50)  # hung requests: the client gives up after 2 s
    time.sleep(4)
    faults.set("node", drop_broadcasts=True, count=2)  # "accepted", then lost: the same bytes go again
    chaos_site.wait_for_state(lambda s: s.state is SweepState.CONFIRMED, "a sweep confirmed", timeout=90)
    faults.clear("node")

    chaos_site.settle()
    found = chaos_site.check()
    assert found.swept == 6


def test_a_broadcast_accepted_but_never_mined_is_replaced_exactly_once_and_only_after_it_expired(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node says "accepted" and loses the transaction every time. Until the solidified block is past
    its expiration the sweep re-broadcasts the same bytes, whatever the worker's clock says; after it, it
    signs one replacement."""
    with stack(devnet, tmp_path, monkeypatch) as (rt, hot):
        (address,) = add_deposits(rt, 1)
        devnet.chain.fund(address, 1 * TRX)
        devnet.chain.mint(address, 50 * USDT)
        devnet.chain.produce_blocks(1)
        sweep = rt.flow.detect(address, USDT_MAINNET)
        assert sweep is not None
        devnet.faults.set("node", drop_broadcasts=True)
        skew = [0.0]
        rt.flow.clock = lambda: time.time() + skew[0]

        states = drive(rt, [sweep.id], timeout=6)  # stays BROADCAST: nothing is ever mined
        (first,) = rt.ledger.txs_for_sweep(sweep.id, TxKind.TRANSFER)
        assert states == {sweep.id: SweepState.BROADCAST}
        # A worker whose clock is ten minutes ahead: by chain time it is still valid, so it is re-sent as is.
        skew[0] = 600.0
        assert rt.flow.advance(sweep.id).state is SweepState.BROADCAST
        assert [t.txid for t in rt.ledger.txs_for_sweep(sweep.id, TxKind.TRANSFER)] == [first.txid]

        # Once the solidified block is past its expiration it is provably never mined: replaced once.
        reader = TronChain(devnet.node_url)
        try:
            while reader.solid_block().timestamp_ms <= first.expiration_ms:
                assert rt.flow.advance(sweep.id).state is SweepState.BROADCAST
                time.sleep(1.0)
        finally:
            reader.close()
        devnet.faults.clear("node")
        rt.flow.advance(sweep.id)
        skew[0] = 0.0
        states = drive(rt, [sweep.id], timeout=60)

        assert states == {sweep.id: SweepState.CONFIRMED}
        txs = rt.ledger.txs_for_sweep(sweep.id, TxKind.TRANSFER)
        assert [t.status for t in txs] == [TxStatus.EXPIRED, TxStatus.CONFIRMED]
        replaced = [h for h in rt.ledger.history(sweep.id) if h.to_state is SweepState.ENERGY_READY]
        assert len(replaced) == 2  # energy arrived once, the expired transfer was replaced once
        check_invariants(devnet, rt.ledger, {address: 50 * USDT}, hot)
