"""The ledger's schema: SQLAlchemy 2 typed declarative tables, portable between SQLite and PostgreSQL.

Money is BigInteger in base units (sun); token amounts are ``Uint256`` (any TRC20 balance); times are
aware UTC. States are plain strings guarded by CHECK
constraints, so migrations never have to alter a native enum type. ``migrations/versions`` must agree
with this module (a test runs autogenerate and expects no difference).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sweeper.ledger.records import OrderRequestStatus, TxKind, TxStatus
from sweeper.ledger.types import Uint256, UTCDateTime
from sweeper.models import TERMINAL_STATES, SweepState

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ADDRESS = String(64)
TXID = String(64)


def _one_of(column: str, values: type[SweepState | TxKind | TxStatus | OrderRequestStatus]) -> str:
    return f"{column} IN ({', '.join(repr(str(v.value)) for v in values)})"


OPEN_SWEEP_WHERE = "state NOT IN ({})".format(", ".join(repr(s.value) for s in sorted(TERMINAL_STATES)))
"""Rows matching this are open sweeps; at most one per (address, token_contract)."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), int: BigInteger()}


class DepositAddressRow(Base):
    """A watched deposit address; ``key_ref`` names where the signer finds the key, never the key."""

    __tablename__ = "deposit_addresses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS, unique=True)
    key_ref: Mapped[str] = mapped_column(String(128))
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class SweepRow(Base):
    """One sweep; every change is a compare-and-set on ``state`` (and optionally ``version``)."""

    __tablename__ = "sweeps"
    __table_args__ = (
        CheckConstraint(_one_of("state", SweepState), name="state"),
        Index(
            "uq_sweeps_open_per_token",
            "address",
            "token_contract",
            unique=True,
            sqlite_where=text(OPEN_SWEEP_WHERE),
            postgresql_where=text(OPEN_SWEEP_WHERE),
        ),
        Index("ix_sweeps_state_next_check_at", "state", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS, ForeignKey("deposit_addresses.address"), index=True)
    token_symbol: Mapped[str] = mapped_column(String(16))
    token_contract: Mapped[str] = mapped_column(ADDRESS)
    amount: Mapped[int] = mapped_column(Uint256())
    destination: Mapped[str] = mapped_column(ADDRESS)
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    energy_needed: Mapped[int | None]
    energy_source: Mapped[str | None] = mapped_column(String(32))
    order_no: Mapped[str | None] = mapped_column(String(64))
    txid: Mapped[str | None] = mapped_column(TXID)
    cost_sun: Mapped[int]
    dry_run: Mapped[bool] = mapped_column(Boolean)
    detected_block: Mapped[int | None]
    confirmed_block: Mapped[int | None]
    next_check_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(Integer)


class ChainTransactionRow(Base):
    """A signed transaction, stored before its broadcast so a retry re-sends the very same bytes."""

    __tablename__ = "chain_transactions"
    __table_args__ = (
        CheckConstraint(_one_of("kind", TxKind), name="kind"),
        CheckConstraint(_one_of("status", TxStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    txid: Mapped[str] = mapped_column(TXID, unique=True)
    sweep_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("sweeps.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    signed_json: Mapped[str] = mapped_column(Text)
    expiration_ms: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int | None]
    fee_sun: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EnergyOrderRow(Base):
    """One provider order per sweep step, written as REQUESTED before the HTTP call is made."""

    __tablename__ = "energy_orders"
    __table_args__ = (
        UniqueConstraint("source", "order_no"),
        CheckConstraint(_one_of("status", OrderRequestStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(Integer, ForeignKey("sweeps.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    provider_order_id: Mapped[str | None] = mapped_column(String(128))
    energy: Mapped[int]
    cost_sun: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    quoted_sun: Mapped[int | None]
    """What the chosen quote said the order would cost: the spend budgets count it until a cost is known."""
    refused_at: Mapped[datetime | None]
    """When the source refused the order outright (or it was never sent): it cost nothing."""
    reclaimed_at: Mapped[datetime | None]
    """When what the order delegated (our own stake) was taken back, or found to need no taking back."""
    refunded_sun: Mapped[int | None]
    """What the provider gave back (a refunded or partly filled order); ``cost_sun`` is already net of it."""
    charge_mismatch: Mapped[bool | None] = mapped_column(Boolean)
    """The provider charged far from what its quote said (the source's breaker was opened for it)."""


class DeploymentRow(Base):
    """The one row naming this deployment; its id is part of every provider order number."""

    __tablename__ = "deployment"

    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deployment_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class CallbackEventRow(Base):
    """A provider callback, recorded once under a unique event key (replays find it taken)."""

    __tablename__ = "callback_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    order_no: Mapped[str | None] = mapped_column(String(64), index=True)


class ScannerCursorRow(Base):
    """The last block a scanner has fully processed."""

    __tablename__ = "scanner_cursor"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    block_number: Mapped[int]
    updated_at: Mapped[datetime]


class TxJournalRow(Base):
    """A stake or burn transaction signed under our order number, kept so a crash never re-signs it."""

    __tablename__ = "tx_journal"
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128))
    txid: Mapped[str] = mapped_column(TXID)
    signed_json: Mapped[str] = mapped_column(Text)
    expiration_ms: Mapped[int]
    receiver: Mapped[str] = mapped_column(ADDRESS)
    amount_sun: Mapped[int]
    energy: Mapped[int]
    created_at: Mapped[datetime]


class SweepHistoryRow(Base):
    """Append-only: database triggers refuse UPDATE and DELETE on this table."""

    __tablename__ = "sweep_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(Integer, ForeignKey("sweeps.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(Text)


class SpendControlRow(Base):
    """An operator switch every worker reads before it spends: ``spending`` paused is the kill switch."""

    __tablename__ = "spend_controls"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime]


class AddressReleaseRow(Base):
    """When an operator last released an address from quarantine (``sweeper release``).

    An address is quarantined while it has a FAILED sweep that ended after its last release; the
    quarantine is read from the sweeps themselves, so no failure can be missed by a lost write.
    """

    __tablename__ = "address_releases"

    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    released_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)


class BudgetCrossingRow(Base):
    """One crossing of a spend budget, recorded once per budget, scope and window (one loud log line)."""

    __tablename__ = "budget_crossings"
    __table_args__ = (UniqueConstraint("budget", "scope", "window_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    budget: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(80))
    window_start: Mapped[datetime]
    used: Mapped[int]
    allowed: Mapped[int]
    at: Mapped[datetime]


APPEND_ONLY_SQLITE = [
    "CREATE TRIGGER sweep_history_no_update BEFORE UPDATE ON sweep_history "
    "BEGIN SELECT RAISE(ABORT, 'sweep_history is append-only'); END",
    "CREATE TRIGGER sweep_history_no_delete BEFORE DELETE ON sweep_history "
    "BEGIN SELECT RAISE(ABORT, 'sweep_history is append-only'); END",
]
APPEND_ONLY_POSTGRESQL = [
    "CREATE FUNCTION sweep_history_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'sweep_history is append-only'; END $$",
    "CREATE TRIGGER sweep_history_append_only BEFORE UPDATE OR DELETE ON sweep_history "
    "FOR EACH ROW EXECUTE FUNCTION sweep_history_append_only()",
]


def _guard(statements: list[str], dialect: str) -> None:
    """Tables made with metadata.create_all() get the same guard as migrated ones."""
    for sql in statements:
        ddl = DDL(sql).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]
        event.listen(SweepHistoryRow.__table__, "after_create", ddl)


_guard(APPEND_ONLY_SQLITE, "sqlite")
_guard(APPEND_ONLY_POSTGRESQL, "postgresql")
