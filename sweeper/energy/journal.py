"""Where stake and burn keep their signed transactions, so an order is one transaction forever.

The signed transaction (and so its txid, the order id) is stored under our order number *before* it is
broadcast. Calling ``order`` again re-broadcasts the stored bytes as-is; a stored transaction is replaced
only after it has expired and the node provably does not have it.

:class:`MemoryJournal` is the in-process implementation; production passes one backed by the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from sweeper.energy.base import RentalSource
from sweeper.errors import ProviderOutOfResources
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

    @property
    def resource(self) -> str:
        """``ENERGY`` or ``BANDWIDTH`` for a delegation (read from the signed contract), else ``""``."""
        try:
            value = json.loads(self.tx.raw_json)["raw_data"]["contract"][0]["parameter"]["value"]
        except (ValueError, KeyError, IndexError, TypeError):
            return ""
        resource = value.get("resource", "") if isinstance(value, dict) else ""
        return resource if isinstance(resource, str) else ""


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
    outcome = chain.broadcast(entry.tx)
    if outcome is BroadcastOutcome.EXPIRED and provably_dead(chain, entry.tx):
        entry = build()
        journal.put(key, entry)
        outcome = chain.broadcast(entry.tx)
    if outcome is BroadcastOutcome.NO_BANDWIDTH:
        # Refused, not sent: our wallet cannot pay its own bytes (nor burn TRX for them) right now.
        raise ProviderOutOfResources(
            f"the wallet cannot pay the bandwidth of its transaction {entry.tx.txid}"
        )
    return entry


def provably_dead(chain: Chain, tx: SignedTx) -> bool:
    """True once ``tx`` can never be included: the solidified block is past its expiration (no later
    block may include it) and no block up to there holds it (docs/TRON.md §2.2, §8; OQ-T1, OQ-T4)."""
    if chain.solid_block().timestamp_ms <= tx.expiration_ms:
        return False
    if chain.solid_receipt(tx.txid) is not None or chain.receipt(tx.txid) is not None:
        return False
    return not chain.transaction_known(tx.txid)


def receipt_outcome(chain: Chain, txid: str) -> tuple[OrderStatus, int]:
    """An order that is one transaction is as done as that transaction's receipt says; with its fee."""
    receipt = chain.receipt(txid)
    if receipt is None:
        return OrderStatus.PENDING, 0
    return (OrderStatus.DELIVERED if receipt.success else OrderStatus.FAILED), receipt.fee_sun


def status_from_receipt(chain: Chain, txid: str) -> OrderStatus:
    return receipt_outcome(chain, txid)[0]


class JournaledSource(RentalSource):
    """Lookup and status for sources whose order is one signed transaction kept in a journal (stake, burn)."""

    name: str
    _chain: Chain
    _journal: TxJournal

    def _order(self, order_no: str, entry: JournalEntry, status: OrderStatus, fee_sun: int) -> EnergyOrder:
        """The order ``entry`` carries out; ``fee_sun`` is what its transaction burned (0 until mined)."""
        raise NotImplementedError

    def lookup(self, order_no: str) -> EnergyOrder | None:
        entry = self._journal.get(order_no)
        if entry is None:
            return None
        status, fee = receipt_outcome(self._chain, entry.tx.txid)
        return self._order(order_no, entry, status, fee)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        found = self.lookup(order.order_no)
        if found is not None:
            return found
        if order.provider_order_id is None:
            return order
        return replace(order, status=status_from_receipt(self._chain, order.provider_order_id))
