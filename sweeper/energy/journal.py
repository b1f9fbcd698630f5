"""Where stake and burn keep their signed transactions, so an order is one transaction forever.

The signed transaction (and so its txid, the order id) is stored under our order number *before* it is
broadcast. Calling ``order`` again re-broadcasts the stored bytes as-is; a stored transaction is replaced
only after it has expired and the node provably does not have it.

:class:`MemoryJournal` is the in-process implementation; production passes one backed by the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from sweeper.energy.base import RentalSource
from sweeper.models import BroadcastOutcome, EnergyOrder, OrderStatus, SignedTx

if TYPE_CHECKING:
    from sweeper.chain.port import Chain


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One stored transaction with what it was for (receiver, sun moved or delegated, energy)."""

    tx: SignedTx
    receiver: str
    amount_sun: int
    energy: int


class TxJournal(Protocol):
    """Durable map from our order number to the transaction signed for it."""

    def get(self, key: str) -> JournalEntry | None: ...

    def put(self, key: str, entry: JournalEntry) -> None: ...


class MemoryJournal:
    """A journal in a dict: real semantics, no durability (tests, the CLI, single-process demos)."""

    def __init__(self) -> None:
        self._entries: dict[str, JournalEntry] = {}

    def get(self, key: str) -> JournalEntry | None:
        return self._entries.get(key)

    def put(self, key: str, entry: JournalEntry) -> None:
        self._entries[key] = entry


def submit_once(
    chain: Chain,
    journal: TxJournal,
    key: str,
    build: Callable[[], JournalEntry],
) -> JournalEntry:
    """Broadcast the transaction stored under ``key``, building and storing one first if there is none."""
    entry = journal.get(key)
    if entry is None:
        entry = build()
        journal.put(key, entry)
    elif chain.receipt(entry.tx.txid) is not None:
        return entry
    if chain.broadcast(entry.tx) is BroadcastOutcome.EXPIRED and not chain.transaction_known(entry.tx.txid):
        entry = build()
        journal.put(key, entry)
        chain.broadcast(entry.tx)
    return entry


def status_from_receipt(chain: Chain, txid: str) -> OrderStatus:
    """An order that is one transaction is as done as that transaction's receipt says."""
    receipt = chain.receipt(txid)
    if receipt is None:
        return OrderStatus.PENDING
    return OrderStatus.DELIVERED if receipt.success else OrderStatus.FAILED


class JournaledSource(RentalSource):
    """Lookup and status for sources whose order is one signed transaction kept in a journal (stake, burn)."""

    name: str
    _chain: Chain
    _journal: TxJournal

    def _order(self, order_no: str, entry: JournalEntry, status: OrderStatus) -> EnergyOrder:
        raise NotImplementedError

    def lookup(self, order_no: str) -> EnergyOrder | None:
        entry = self._journal.get(order_no)
        if entry is None:
            return None
        return self._order(order_no, entry, status_from_receipt(self._chain, entry.tx.txid))

    def status(self, order: EnergyOrder) -> EnergyOrder:
        found = self.lookup(order.order_no)
        if found is not None:
            return found
        if order.provider_order_id is None:
            return order
        return replace(order, status=status_from_receipt(self._chain, order.provider_order_id))
