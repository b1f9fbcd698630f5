"""The ledger journal keeps one signed stake/burn transaction per order, across processes and crashes."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.energy.journal import JournalEntry, TxJournal
from sweeper.energy.stake import StakeSource
from sweeper.errors import TransientError
from sweeper.keys import LocalSigner
from sweeper.ledger import Ledger, create_engine_for
from sweeper.ledger.journal import JournalConflict, LedgerJournal
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, OrderStatus, SignedTx
from tests.fixtures.db import tron_address

pytestmark = pytest.mark.integration

TRX = 1_000_000
NOW_MS = 1_700_000_000_000
RECEIVER = tron_address("receiver")


def entry(n: int, *, expiration_ms: int = NOW_MS + 60_000) -> JournalEntry:
    tx = SignedTx(
        txid=f"{n:064x}", raw_json=f'{{"txID": "{n:064x}", "raw_data": {{}}}}', expiration_ms=expiration_ms
    )
    return JournalEntry(tx=tx, receiver=RECEIVER, amount_sun=6_500 * TRX + n, energy=65_000)


@pytest.fixture
def journal_ledger(ledger: Ledger) -> Ledger:
    """The ``ledger`` fixture with an empty tx_journal (the shared PostgreSQL database outlives tests)."""
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tx_journal"))
    return ledger


def reopened(ledger: Ledger) -> Ledger:
    """Another Ledger on the same database, as a restarted worker process would build it."""
    return Ledger(create_engine_for(ledger.engine.url))


def test_an_empty_journal_has_no_entry(journal_ledger: Ledger) -> None:
    assert LedgerJournal(journal_ledger, "stake").get("sw1a0o1") is None


def test_the_journal_implements_the_tx_journal_protocol(journal_ledger: Ledger) -> None:
    journal: TxJournal = LedgerJournal(journal_ledger, "stake")

    journal.put("sw1a0o1", entry(1))

    assert journal.get("sw1a0o1") == entry(1)


def test_a_stored_entry_is_read_back_whole_by_another_process(journal_ledger: Ledger) -> None:
    LedgerJournal(journal_ledger, "stake").put("sw1a0o1", entry(1))

    other = reopened(journal_ledger)
    try:
        found = LedgerJournal(other, "stake").get("sw1a0o1")
    finally:
        other.engine.dispose()

    assert found == entry(1)
    assert found is not None and found.tx.raw_json == entry(1).tx.raw_json


def test_putting_the_same_transaction_again_changes_nothing(journal_ledger: Ledger) -> None:
    journal = LedgerJournal(journal_ledger, "stake", clock_ms=lambda: NOW_MS)
    journal.put("sw1a0o1", entry(1))
    with journal_ledger.engine.connect() as conn:
        before = conn.execute(sa.text("SELECT * FROM tx_journal")).all()

    journal.put("sw1a0o1", entry(1))

    with journal_ledger.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM tx_journal")).all() == before


def test_another_transaction_is_refused_while_the_stored_one_has_not_expired(journal_ledger: Ledger) -> None:
    journal = LedgerJournal(journal_ledger, "stake", clock_ms=lambda: NOW_MS)
    journal.put("sw1a0o1", entry(1))

    with pytest.raises(JournalConflict) as info:
        journal.put("sw1a0o1", entry(2))

    assert isinstance(info.value, TransientError)
    assert journal.get("sw1a0o1") == entry(1)


def test_another_transaction_replaces_the_stored_one_once_it_has_expired(journal_ledger: Ledger) -> None:
    clock = [NOW_MS]
    journal = LedgerJournal(journal_ledger, "burn", clock_ms=lambda: clock[0])
    journal.put("sw1a0o1", entry(1, expiration_ms=NOW_MS + 60_000))
    clock[0] = NOW_MS + 60_000

    journal.put("sw1a0o1", entry(2, expiration_ms=NOW_MS + 120_000))

    assert journal.get("sw1a0o1") == entry(2, expiration_ms=NOW_MS + 120_000)
    with journal_ledger.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM tx_journal")).scalar_one() == 1


def test_each_source_keeps_its_own_entry_under_the_same_key(journal_ledger: Ledger) -> None:
    stake = LedgerJournal(journal_ledger, "stake")
    burn = LedgerJournal(journal_ledger, "burn")

    stake.put("sw1a0o1", entry(1))
    burn.put("sw1a0o1", entry(2))

    assert (stake.get("sw1a0o1"), burn.get("sw1a0o1")) == (entry(1), entry(2))
    assert stake.get("sw1a0o1:reclaim") is None


def test_of_two_workers_signing_for_the_same_order_at_once_one_transaction_is_kept(
    journal_ledger: Ledger,
) -> None:
    second = reopened(journal_ledger)
    journals = [LedgerJournal(db, "stake", clock_ms=lambda: NOW_MS) for db in (journal_ledger, second)]
    barrier = threading.Barrier(2)
    outcomes: dict[int, str] = {}

    def put(i: int) -> None:
        barrier.wait()
        try:
            journals[i].put("sw7a0o1", entry(10 + i))
            outcomes[i] = "stored"
        except JournalConflict:
            outcomes[i] = "conflict"

    threads = [threading.Thread(target=put, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        second.engine.dispose()

    assert sorted(outcomes.values()) == ["conflict", "stored"]
    winner = next(i for i, outcome in outcomes.items() if outcome == "stored")
    assert journals[0].get("sw7a0o1") == entry(10 + winner)


# --- with the real chain: a restarted worker re-sends the journaled transaction -----------------------


def staked_pool(devnet: Devnet) -> tuple[LocalSigner, str]:
    priv, _ = generate_key()
    pool = LocalSigner(priv)
    _, receiver = generate_key()
    devnet.chain.create_pool(pool.address, 100 * TRX, 100_000 * 100_000)
    devnet.chain.fund(receiver, 1 * TRX)
    devnet.chain.produce_blocks(1)
    return pool, receiver


def test_a_stake_order_signed_before_a_crash_is_broadcast_as_is_after_the_restart(
    journal_ledger: Ledger, devnet: Devnet, chain: TronChain
) -> None:
    pool, receiver = staked_pool(devnet)
    amount = 6_500 * TRX
    signed = chain.build_delegate_energy(pool, receiver, amount)
    # The worker stored the signed delegation, then died before broadcasting it.
    LedgerJournal(journal_ledger, "stake").put("sw1a0o1", JournalEntry(signed, receiver, amount, 65_000))

    restarted = reopened(journal_ledger)
    try:
        source = StakeSource(chain, pool, journal=LedgerJournal(restarted, "stake"))
        order = source.order("sw1a0o1", receiver, ENERGY_TRANSFER_TO_HOLDER)
        devnet.chain.produce_blocks(2)
        again = source.order("sw1a0o1", receiver, ENERGY_TRANSFER_TO_HOLDER)
        status = source.status(order)
    finally:
        restarted.engine.dispose()

    assert order.provider_order_id == again.provider_order_id == signed.txid
    assert status.status is OrderStatus.DELIVERED
    assert chain.delegated_energy_sun(pool.address, receiver) == amount
