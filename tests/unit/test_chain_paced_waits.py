"""A sent transfer waits as long as the chain says, not one poll per block (docs/ARCHITECTURE.md §10.1).

The in-memory chain makes a block every 3 s and keeps its solid block ``solid_depth`` blocks behind the
head. Time passes here exactly as a sweep asks: each wait of ``n`` seconds lets ``n / 3`` blocks be made.
So the number of ``advance`` runs from the broadcast to CONFIRMED is what a worker would run, and the head
at the confirmation shows whether the sweep slept past the first block it could have confirmed at.
"""

from __future__ import annotations

import pytest

from sweeper.models import SweepState
from tests.fixtures.db import tron_address
from tests.support.memory import HOT, USDT_CONTRACT, heart

pytestmark = pytest.mark.unit

USDT = 1_000_000
A = tron_address("paced-a")
BLOCK_S = 3.0


def sent(h, sid):
    """Advance a sweep with its energy on the address until its transfer is sent; the wait it asked for."""
    step = h.flow.advance(sid)
    assert step.state is SweepState.BROADCAST, step
    return step.retry_in


def until_confirmed(h, sid, wait):
    """Let each asked-for wait pass as blocks; every ``advance`` run and the wait it asked for."""
    runs = []
    while wait is not None:
        assert wait >= h.flow.config.poll_seconds  # never polls faster than it did
        h.tick(wait, blocks=max(1, int(wait // BLOCK_S)))
        step = h.flow.advance(sid)
        runs.append((step.state, step.retry_in))
        wait = step.retry_in
        assert len(runs) < 40
    return runs


def mined_block(h, sid):
    return h.chain.receipts[h.ledger.get_sweep(sid).txid].block_number


def swept(**config):
    h = heart(**config)
    h.deposit(A, 20 * USDT)
    h.chain.delegate(A, 70_000)  # the energy is there: the first run signs and sends
    return h, h.open(A)


def test_on_mainnet_depths_a_sent_transfer_is_confirmed_in_two_more_runs_at_the_first_block_it_can_be():
    # 19 confirmations (the default) and a solid block 19 behind the head, as on mainnet: polling every
    # 3 s took one run per block, about 20 from the broadcast to CONFIRMED.
    h, sid = swept(confirmations=19)
    h.chain.solid_depth = 19
    first = sent(h, sid)
    assert first == 30.0  # capped: a dropped transfer is sent again while it still lives (60 s)

    runs = until_confirmed(h, sid, first)

    assert [state for state, _ in runs] == [SweepState.BROADCAST, SweepState.CONFIRMED]
    block = mined_block(h, sid)
    assert h.ledger.get_sweep(sid).confirmed_block == block
    assert h.chain.head == block + 19  # it woke at the first head where solid ≥ block and depth ≥ 19
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 20 * USDT


def test_with_the_benchmark_depths_the_run_that_sends_is_followed_only_by_the_one_that_confirms():
    # bench/e2e.py: 1 confirmation, solid block 2 behind the head. Polling took 3 runs after the send.
    h, sid = swept(confirmations=1)
    h.chain.solid_depth = 2
    first = sent(h, sid)
    assert first == 3 * BLOCK_S  # mined in the next block, solid two blocks later

    runs = until_confirmed(h, sid, first)

    assert runs == [(SweepState.CONFIRMED, None)]
    assert h.chain.head == mined_block(h, sid) + 2


def test_a_sweep_woken_early_waits_only_for_the_blocks_still_to_come():
    # A callback or reconcile may run advance at any time: it looks, and sleeps for what is left.
    h, sid = swept(confirmations=19)
    h.chain.solid_depth = 19
    sent(h, sid)
    h.tick(BLOCK_S)  # mined in this block
    block = mined_block(h, sid)
    for woken_at in range(19):
        step = h.flow.advance(sid)
        left = block + 19 - h.chain.head
        assert step.state is SweepState.BROADCAST
        assert step.retry_in == max(3.0, min(left * BLOCK_S, 90.0)), woken_at
        h.tick(BLOCK_S)
    assert h.flow.advance(sid).state is SweepState.CONFIRMED
    assert h.chain.head == block + 19


def test_a_solid_block_that_falls_further_behind_only_makes_the_sweep_look_again_later():
    h, sid = swept(confirmations=1)
    h.chain.solid_depth = 2
    first = sent(h, sid)
    h.chain.solid_depth = 8  # the solid block stalls (fewer SRs confirming) after the wait was computed
    runs = until_confirmed(h, sid, first)
    assert runs[-1] == (SweepState.CONFIRMED, None)
    assert all(state is SweepState.BROADCAST for state, _ in runs[:-1])
    assert h.chain.solid_block().number >= mined_block(h, sid)
    assert h.chain.head <= mined_block(h, sid) + 8 + 1  # no more than about a block past the first chance
    assert len(h.ledger.txs_for_sweep(sid)) == 1


def test_a_transfer_a_node_dropped_is_sent_again_after_the_first_wait_and_confirmed_once():
    h, sid = swept(confirmations=19)
    h.chain.solid_depth = 19
    h.chain.drop_broadcasts = True
    first = sent(h, sid)
    h.tick(first, blocks=int(first // BLOCK_S))  # 10 blocks: 30 s of its 60 s of life are left
    h.chain.drop_broadcasts = False
    step = h.flow.advance(sid)  # not mined: the same bytes again, then one block
    assert step.state is SweepState.BROADCAST and step.retry_in == h.flow.config.poll_seconds
    runs = until_confirmed(h, sid, step.retry_in)
    assert runs[-1] == (SweepState.CONFIRMED, None)
    assert len(runs) <= 3
    assert len(h.ledger.txs_for_sweep(sid)) == 1  # the same transfer, never a second one
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 20 * USDT


def test_a_transfer_that_reverts_is_failed_once_its_block_is_solid_not_before():
    h, sid = swept(confirmations=19)
    h.chain.solid_depth = 19
    h.chain.revert_transfers = True
    runs = until_confirmed(h, sid, sent(h, sid))
    assert runs[-1] == (SweepState.FAILED, None)
    assert h.chain.solid_block().number == mined_block(h, sid)  # judged by the solid receipt, at once


def test_a_node_that_goes_away_right_after_the_broadcast_only_means_a_poll():
    h, sid = swept(confirmations=1)
    sent_by_node = h.chain.broadcast

    def broadcast_then_go_away(tx):
        outcome = sent_by_node(tx)
        h.chain.down = True  # the transfer is out; the heights cannot be read
        return outcome

    h.chain.broadcast = broadcast_then_go_away
    step = h.flow.advance(sid)
    assert step.state is SweepState.BROADCAST and step.retry_in == h.flow.config.poll_seconds
    h.chain.broadcast = sent_by_node
    h.chain.down = False
    assert h.run(sid) == "CONFIRMED"
    assert len(h.ledger.txs_for_sweep(sid)) == 1
