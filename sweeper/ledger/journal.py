"""A ledger-backed ``TxJournal``: stake and burn transactions survive a worker crash.

``sweeper.energy.journal.submit_once`` stores a signed transaction under our order number before it is
broadcast, and replaces it only after the node said it expired and does not have it. The table keeps
that promise on its own too: ``put`` of the same transaction is a no-op, and a *different* one replaces
the stored one only once the stored one has expired by the clock. Otherwise it raises
:class:`JournalConflict` (transient): another worker signed first, and a retry will find and re-send
that worker's transaction instead of broadcasting a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection, RowMapping

from sweeper.energy.journal import JournalEntry
from sweeper.errors import JournalConflict
from sweeper.ledger.repository import Ledger
from sweeper.ledger.tables import Base
from sweeper.models import SignedTx

JOURNAL: Table = Base.metadata.tables["tx_journal"]


def wall_clock_ms() -> int:
    """Milliseconds since the epoch: the scale of a TRON transaction's ``expiration``."""
    return int(time.time() * 1000)


class LedgerJournal:
    """The ``TxJournal`` of one source (``stake``, ``burn``) in the ledger's ``tx_journal`` table."""

    def __init__(self, ledger: Ledger, source: str, *, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._ledger = ledger
        self.source = source
        self._clock_ms = clock_ms

    def get(self, key: str) -> JournalEntry | None:
        with self._ledger._read() as conn:
            row = self._row(conn, key)
        return _entry(row) if row is not None else None

    def put(self, key: str, entry: JournalEntry) -> None:
        """Store ``entry`` under ``key``; the same transaction again is a no-op (see the module doc)."""
        values = _values(entry)
        now = self._ledger._clock()
        with self._ledger._write() as conn:
            inserted = conn.execute(
                self._ledger._insert(JOURNAL)
                .values(source=self.source, key=key, created_at=now, **values)
                .on_conflict_do_nothing()
                .returning(JOURNAL.c.id)
            ).first()
            if inserted is not None:
                return
            stored = self._row(conn, key)
            assert stored is not None  # the insert conflicted on (source, key), and rows are never deleted
            if stored["txid"] == entry.tx.txid:
                return
            if stored["expiration_ms"] > self._clock_ms():
                raise JournalConflict(
                    f"{self.source} journal {key}: transaction {stored['txid']} is stored and not expired"
                )
            same_row = (
                JOURNAL.c.source == self.source,
                JOURNAL.c.key == key,
                JOURNAL.c.txid == stored["txid"],
            )
            replaced = conn.execute(
                update(JOURNAL).where(*same_row).values(created_at=now, **values)
            ).rowcount
            if replaced != 1:
                raise JournalConflict(f"{self.source} journal {key}: replaced concurrently")

    def _row(self, conn: Connection, key: str) -> RowMapping | None:
        query = select(JOURNAL).where(JOURNAL.c.source == self.source, JOURNAL.c.key == key)
        return conn.execute(query).mappings().first()


def _values(entry: JournalEntry) -> dict[str, Any]:
    return {
        "txid": entry.tx.txid,
        "signed_json": entry.tx.raw_json,
        "expiration_ms": entry.tx.expiration_ms,
        "receiver": entry.receiver,
        "amount_sun": entry.amount_sun,
        "energy": entry.energy,
    }


def _entry(row: RowMapping) -> JournalEntry:
    return JournalEntry(
        tx=SignedTx(txid=row["txid"], raw_json=row["signed_json"], expiration_ms=row["expiration_ms"]),
        receiver=row["receiver"],
        amount_sun=row["amount_sun"],
        energy=row["energy"],
    )
