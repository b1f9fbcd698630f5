"""The ledger: SQLAlchemy 2 tables, a compare-and-set repository and Alembic migrations.

engine = create_engine_for(url)     # SQLite (WAL, one writer at a time) or PostgreSQL (psycopg 3)
upgrade(engine)                     # alembic upgrade head, no alembic.ini needed
ledger = Ledger(engine)
"""

from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.errors import AddressConflict, InvalidKeyReference, LedgerUnavailable
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.records import (
    CallbackEvent,
    ChainTx,
    DepositAddress,
    HistoryEntry,
    OrderRecord,
    OrderRequestStatus,
    StateTotals,
    Sweep,
    TxKind,
    TxStatus,
)
from sweeper.ledger.repository import Ledger

__all__ = [
    "AddressConflict",
    "CallbackEvent",
    "ChainTx",
    "DepositAddress",
    "HistoryEntry",
    "InvalidKeyReference",
    "Ledger",
    "LedgerUnavailable",
    "OrderRecord",
    "OrderRequestStatus",
    "StateTotals",
    "Sweep",
    "TxKind",
    "TxStatus",
    "create_engine_for",
    "upgrade",
]
