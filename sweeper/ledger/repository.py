"""The ledger: the source of truth for sweeps, and the only code that talks to the database.

Every state change is a compare-and-set (``UPDATE … WHERE id=? AND state=?``) whose history row is
written atomically with it, and only when a row changed: on PostgreSQL in the same statement (a
data-modifying CTE, run in autocommit like every write that is one statement), on SQLite in the same
transaction. Inserts that a retry may repeat (sweeps,
orders, transactions, callbacks) are insert-or-get on a unique key, so at-least-once delivery never
duplicates them. The domain sees the dataclasses of ``records.py``, never a Session or a Row.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Engine, Select, Table, Update, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sweeper.errors import StateConflict
from sweeper.ledger.addresses import add_addresses, check_address_shape
from sweeper.ledger.clock import LedgerClock
from sweeper.ledger.deployment import new_deployment_id
from sweeper.ledger.engine import READ_ONLY, create_engine_for
from sweeper.ledger.errors import LedgerUnavailable
from sweeper.ledger.keep import insert_or_keep
from sweeper.ledger.records import (
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
from sweeper.ledger.tables import Base
from sweeper.models import IN_FLIGHT_STATES, TERMINAL_STATES, SignedTx, SweepState, Token

ADDRESSES: Table = Base.metadata.tables["deposit_addresses"]
SWEEPS: Table = Base.metadata.tables["sweeps"]
HISTORY: Table = Base.metadata.tables["sweep_history"]
ORDERS: Table = Base.metadata.tables["energy_orders"]
TXS: Table = Base.metadata.tables["chain_transactions"]
CALLBACKS: Table = Base.metadata.tables["callback_events"]
CURSORS: Table = Base.metadata.tables["scanner_cursor"]
DEPLOYMENT: Table = Base.metadata.tables["deployment"]

MUTABLE_SWEEP_FIELDS = frozenset(
    {
        "amount",
        "reason",
        "energy_needed",
        "energy_source",
        "order_no",
        "txid",
        "cost_sun",
        "detected_block",
        "confirmed_block",
        "next_check_at",
    }
)
"""What a transition may set besides state and reason; address, token and destination never change."""

_TERMINAL = sorted(s.value for s in TERMINAL_STATES)
_IN_CHUNK = 500

# The statements every step of a sweep runs, built once: a statement built per call costs its
# construction and its cache key (about 150 µs of CPU each, measured on PostgreSQL), a built one only
# its parameters (docs/ARCHITECTURE.md §10.1).
_SWEEP_BY_ID = select(SWEEPS).where(SWEEPS.c.id == bindparam("sweep_id"))
_ORDER_BY_NO = select(ORDERS).where(
    ORDERS.c.source == bindparam("source"), ORDERS.c.order_no == bindparam("no")
)
_ORDERS_OF_SWEEP = select(ORDERS).where(ORDERS.c.sweep_id == bindparam("sweep_id")).order_by(ORDERS.c.id)
_ORDER_COUNT = select(func.count()).select_from(ORDERS).where(ORDERS.c.sweep_id == bindparam("sweep_id"))
_TX_BY_ID = select(TXS).where(TXS.c.txid == bindparam("txid"))
_NEXT_CHECK = (
    update(SWEEPS)
    .where(SWEEPS.c.id == bindparam("sweep_id"), SWEEPS.c.state.not_in(_TERMINAL))
    .values(next_check_at=bindparam("at"), updated_at=bindparam("now"))
    .returning(SWEEPS.c.state)
)
# Writes are built once too. The columns they set are the parameters' keys (SQLAlchemy adds a SET or
# VALUES entry for each key that names a column), so their WHERE parameters are named ``b_*``.
_HISTORY_ROW = insert(HISTORY)
_WATCHED = select(ADDRESSES.c.id).where(ADDRESSES.c.address == bindparam("address"))
_ADDRESS_ROW = select(ADDRESSES).where(ADDRESSES.c.address == bindparam("address"))
_ANY_WATCHED = select(ADDRESSES.c.address).where(
    ADDRESSES.c.address.in_(bindparam("addresses", expanding=True))
)
_OPEN_FOR = select(SWEEPS).where(
    SWEEPS.c.address == bindparam("address"),
    SWEEPS.c.token_contract == bindparam("contract"),
    SWEEPS.c.state.not_in(_TERMINAL),
)
_FLIGHT = (
    select(SWEEPS.c.state, func.count())
    .where(SWEEPS.c.state.in_([s.value for s in (*IN_FLIGHT_STATES, SweepState.DETECTED)]))
    .group_by(SWEEPS.c.state)
)
_HELD = (
    select(SWEEPS.c.id, SWEEPS.c.next_check_at)
    .where(SWEEPS.c.state == SweepState.DETECTED.value, SWEEPS.c.next_check_at > bindparam("now"))
    .order_by(SWEEPS.c.next_check_at, SWEEPS.c.id)  # the (state, next_check_at) index's order
    .limit(bindparam("limit"))
)
_WAKE = (
    update(SWEEPS)
    .where(SWEEPS.c.id == bindparam("b_id"), SWEEPS.c.next_check_at == bindparam("b_at"))
    .values(next_check_at=bindparam("now"))
)


@functools.cache
def _sweep_cas(keys: frozenset[str], *, versioned: bool, adds_cost: bool) -> Update:
    """``UPDATE sweeps SET <keys> … WHERE id AND state [AND version]`` returning the row as it left it.

    The columns set are named (parameters ``v_<column>``), not taken from the call's parameters, so the
    statement also runs inside a CTE; one is built per set of columns, and a sweep's steps use a few."""
    where = [SWEEPS.c.id == bindparam("b_id"), SWEEPS.c.state == bindparam("b_state")]
    if versioned:
        where.append(SWEEPS.c.version == bindparam("b_version"))
    values: dict[str, Any] = {key: bindparam(f"v_{key}", type_=SWEEPS.c[key].type) for key in sorted(keys)}
    values["version"] = SWEEPS.c.version + 1
    if adds_cost:
        values["cost_sun"] = SWEEPS.c.cost_sun + bindparam("b_add_cost")
    return update(SWEEPS).where(*where).values(**values).returning(*SWEEPS.c)


_HISTORY_COLUMNS = ("sweep_id", "from_state", "to_state", "reason", "at", "detail")


@functools.cache
def _logged_move(keys: frozenset[str], *, versioned: bool, adds_cost: bool) -> Select[Any]:
    """PostgreSQL: the compare-and-set and its history row as one statement (a data-modifying CTE).

    One statement is atomic on its own ("all the statements are executed with the same snapshot", and
    the history row is inserted only for a row the UPDATE returned:
    https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING), so it runs in
    autocommit: one round trip where BEGIN, UPDATE, INSERT and COMMIT made four."""
    return _logged(_sweep_cas(keys, versioned=versioned, adds_cost=adds_cost).cte("moved"))


def _logged(changed: Any) -> Select[Any]:
    """``changed`` (a CTE of the sweep rows a write returned) with a history row for each, in the same
    statement: parameters ``h_<column>`` (``_history_params``); the rows are what the statement answers."""
    history = [bindparam(f"h_{name}", type_=HISTORY.c[name].type) for name in _HISTORY_COLUMNS[1:]]
    logged = insert(HISTORY).from_select(list(_HISTORY_COLUMNS), select(changed.c.id, *history))
    return select(*changed.c).add_cte(logged.cte("logged"))


def _history_params(
    from_state: SweepState | None,
    to_state: SweepState,
    reason: str | None,
    at: datetime,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "h_from_state": from_state.value if from_state is not None else None,
        "h_to_state": to_state.value,
        "h_reason": reason,
        "h_at": at,
        "h_detail": _history_text(detail),
    }


_REOPEN = (
    update(SWEEPS)
    .where(SWEEPS.c.id == bindparam("b_id"), SWEEPS.c.state == bindparam("b_state"))
    .values(attempt=SWEEPS.c.attempt + 1, version=SWEEPS.c.version + 1)
    .returning(*SWEEPS.c)
)
_ORDER_SET = {
    checked: update(ORDERS).where(
        ORDERS.c.source == bindparam("b_source"),
        ORDERS.c.order_no == bindparam("b_no"),
        *([ORDERS.c.status == bindparam("b_from")] if checked else []),
    )
    for checked in (False, True)
}
_TX_SET = {
    checked: update(TXS).where(
        TXS.c.txid == bindparam("b_txid"), *([TXS.c.status == bindparam("b_from")] if checked else [])
    )
    for checked in (False, True)
}


def _sweeps_query(*, by_state: bool, by_address: bool) -> Select[Any]:
    query = select(SWEEPS)
    if by_state:
        query = query.where(SWEEPS.c.state == bindparam("state"))
    if by_address:
        query = query.where(SWEEPS.c.address == bindparam("address"))
    return query.order_by(SWEEPS.c.id.desc()).limit(bindparam("limit"))


_SWEEPS = {(s, a): _sweeps_query(by_state=s, by_address=a) for s in (False, True) for a in (False, True)}
_TXS_OF_SWEEP = {
    by_kind: select(TXS)
    .where(TXS.c.sweep_id == bindparam("sweep_id"), *([TXS.c.kind == bindparam("kind")] if by_kind else []))
    .order_by(TXS.c.id)
    for by_kind in (False, True)
}


@functools.cache
def _insert_or_keep(table: Table, postgres: bool) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for ``table`` in the dialect's own syntax, built once and
    kept by the statement cache (``keep.py``)."""
    return insert_or_keep(table, postgres=postgres)


_OPEN_COLUMNS = (
    "address",
    "token_symbol",
    "token_contract",
    "amount",
    "destination",
    "state",
    "attempt",
    "cost_sun",
    "dry_run",
    "detected_block",
    "next_check_at",
    "created_at",
    "updated_at",
    "version",
)


def _logged_open() -> Select[Any]:
    """PostgreSQL: open a sweep for a watched address and write its first history row, one statement.

    ``INSERT … SELECT … WHERE EXISTS (watched) ON CONFLICT DO NOTHING RETURNING *`` inserts nothing for an
    address that is not watched or already has an open sweep for the token (the partial unique index);
    the history row is written only for a row it returned. Where BEGIN, the watched check, the insert,
    the read back, the history row and COMMIT made six round trips, a new sweep takes one."""
    values = [bindparam(f"v_{name}", type_=SWEEPS.c[name].type) for name in _OPEN_COLUMNS]
    watched = exists().where(ADDRESSES.c.address == values[0])
    opened = (
        insert_or_keep(SWEEPS, postgres=True)
        .from_select(list(_OPEN_COLUMNS), select(*values).where(watched))
        .returning(*SWEEPS.c)
        .cte("opened")
    )
    return _logged(opened)


_OPEN_LOGGED = _logged_open()


@functools.cache
def _kept_or_new(table: Table, postgres: bool) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING *``: the new row, or none when one was there (a repeat
    reads it after): one statement where the insert and the read back made a transaction of two."""
    return _insert_or_keep(table, postgres).returning(*table.c)


class Ledger:
    """Plain Python API over an Engine; safe to share between threads and across worker tasks."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        # Every ledger time is the database server's on PostgreSQL, whichever host writes or reads it.
        self._clock = clock or LedgerClock(engine).now
        self._postgres = engine.dialect.name == "postgresql"
        self._reader: Engine | None = None if self._postgres else engine
        self._reader_made = threading.Lock()
        self._deployment: str | None = None
        self._open_insert = _insert_or_keep(SWEEPS, self._postgres).returning(SWEEPS.c.id)

    def engines(self) -> tuple[Engine, ...]:
        """Every engine this ledger runs statements on (the writers', then PostgreSQL's readers'), for
        whoever instruments them."""
        readers = self._readers() if self._postgres else self.engine
        return (self.engine,) if readers is self.engine else (self.engine, readers)

    def dispose(self) -> None:
        """Close every pooled connection (the writers' and, on PostgreSQL, the readers')."""
        self.engine.dispose()
        if self._reader is not None and self._reader is not self.engine:
            self._reader.dispose()

    def now(self) -> datetime:
        """The ledger's time: what "an hour ago" or "how old" means against the times it stores."""
        return self._clock()

    # -- transactions -------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _mapped_errors(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _write_one(self) -> Iterator[Connection]:
        """For a write that is one statement: on PostgreSQL it runs in autocommit (a statement is atomic
        on its own, and BEGIN and COMMIT would be two more round trips); SQLite keeps its transaction."""
        if not self._postgres:
            with self._write() as conn:
                yield conn
            return
        with _mapped_errors(), self._readers().connect() as conn:
            yield conn

    @contextmanager
    def _read(self, *, stream: bool = False) -> Iterator[Connection]:
        """A read-only connection; ``stream`` for server-side cursors (``yield_per``), which PostgreSQL
        allows only inside a transaction block, so those reads keep their BEGIN.

        Other PostgreSQL reads run as single autocommit statements on a pool of their own: under READ
        COMMITTED every statement takes its own snapshot inside a transaction as well, so BEGIN and
        ROLLBACK would only cost two round trips; and a pool whose connections stay in autocommit saves
        switching each connection in and out of it at every checkout (about 100 µs of CPU a read).
        """
        if self._postgres and not stream:
            with _mapped_errors(), self._readers().connect() as conn:
                yield conn
            return
        with _mapped_errors(), self.engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    def _readers(self) -> Engine:
        """The autocommit pool for PostgreSQL reads, made on first use with the writers' settings."""
        if self._reader is not None:
            return self._reader
        with self._reader_made:
            if self._reader is None:
                self._reader = create_engine_for(
                    self.engine.url,
                    isolation_level="AUTOCOMMIT",
                    pool_pre_ping=bool(getattr(self.engine.pool, "_pre_ping", False)),
                )
            return self._reader

    def _insert(self, table: Table) -> Any:
        """An INSERT that understands ``on_conflict_do_nothing`` on both dialects."""
        return pg_insert(table) if self._postgres else sqlite_insert(table)

    def deployment_id(self) -> str:
        """This deployment's identifier, created once (by the first migration that knows it) and kept.

        A ledger whose tables were made without migrations gets one here, insert-or-get, so two workers
        racing agree on the stored one.
        """
        if self._deployment is None:
            query = select(DEPLOYMENT.c.deployment_id).where(DEPLOYMENT.c.slot == 1)
            with self._read() as conn:
                found = conn.execute(query).scalar_one_or_none()
            if found is None:
                with self._write() as conn:
                    conn.execute(
                        self._insert(DEPLOYMENT)
                        .values(slot=1, deployment_id=new_deployment_id(), created_at=self._clock())
                        .on_conflict_do_nothing()
                    )
                    found = conn.execute(query).scalar_one()
            self._deployment = str(found)
        return self._deployment

    def ping(self) -> None:
        """Raise LedgerUnavailable unless the database answers."""
        with self._read() as conn:
            conn.execute(select(1))

    # -- deposit addresses --------------------------------------------------------------------------

    def add_addresses(self, rows: Iterable[DepositAddress], *, chunk_size: int = 10_000) -> int:
        """Watch these addresses; return how many were new. One transaction: all or nothing.

        Addresses already watched under the same key reference are skipped, so an import can be
        re-run; one already watched under another key reference aborts the whole import.
        """
        with self._write() as conn:
            return add_addresses(conn, rows, now=self._clock(), chunk_size=chunk_size)

    def get_address(self, address: str) -> DepositAddress | None:
        with self._read() as conn:
            row = conn.execute(_ADDRESS_ROW, {"address": address}).mappings().first()
        if row is None:
            return None
        return DepositAddress(row["address"], row["key_ref"], row["label"], row["created_at"])

    def is_watched(self, addresses: Iterable[str]) -> set[str]:
        """The subset of ``addresses`` that are watched deposit addresses."""
        wanted = sorted(set(addresses))
        found: set[str] = set()
        with self._read() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                found.update(conn.execute(_ANY_WATCHED, {"addresses": chunk}).scalars())
        return found

    def watched_set(self) -> frozenset[str]:
        """Every watched address, streamed from the database into one frozenset (for the scanner)."""
        with self._read(stream=True) as conn:
            result = conn.execution_options(yield_per=50_000).execute(select(ADDRESSES.c.address))
            return frozenset(result.scalars())

    def iter_addresses(self, batch_size: int = 10_000) -> Iterator[list[str]]:
        """Every watched address in batches, ordered, each batch read in its own short transaction."""
        after = ""
        while True:
            with self._read() as conn:
                query = (
                    select(ADDRESSES.c.address)
                    .where(ADDRESSES.c.address > after)
                    .order_by(ADDRESSES.c.address)
                    .limit(batch_size)
                )
                batch = list(conn.execute(query).scalars())
            if not batch:
                return
            yield batch
            after = batch[-1]

    def has_key_refs(self, scheme: str) -> bool:
        """True if some watched address's key reference uses ``scheme`` (``mnemonic`` → "mnemonic:…")."""
        query = select(ADDRESSES.c.id).where(ADDRESSES.c.key_ref.startswith(f"{scheme}:")).limit(1)
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def address_count(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(ADDRESSES)).scalar_one())

    # -- sweeps -------------------------------------------------------------------------------------

    def open_sweep(
        self,
        address: str,
        token: Token,
        amount: int,
        destination: str,
        dry_run: bool = False,
        *,
        detected_block: int | None = None,
        next_check_at: datetime | None = None,
    ) -> Sweep | None:
        """Open a DETECTED sweep, or return the one already open for (address, token).

        Returns None when ``address`` is not a watched deposit address. ``destination`` must come
        from configuration; it is stored once and no later call can change it. ``next_check_at``
        (default: now) is when reconcile should look at the sweep if no message moved it.
        """
        check_address_shape(destination)
        now = self._clock()
        values = {
            "address": address,
            "token_symbol": token.symbol,
            "token_contract": token.contract,
            "amount": amount,
            "destination": destination,
            "state": SweepState.DETECTED.value,
            "attempt": 0,
            "cost_sun": 0,
            "dry_run": dry_run,
            "detected_block": detected_block,
            "next_check_at": next_check_at or now,
            "created_at": now,
            "updated_at": now,
            "version": 0,
        }
        detail = {"amount": amount, "detected_block": detected_block, "dry_run": dry_run}
        if self._postgres:
            params = {f"v_{key}": value for key, value in values.items()}
            params.update(_history_params(None, SweepState.DETECTED, "detected", now, detail))
            for _ in range(2):  # the open sweep the insert met may end before it is read: then open anew
                with self._write_one() as conn:
                    opened = conn.execute(_OPEN_LOGGED, params).mappings().first()
                if opened is not None:
                    return Sweep.from_row(opened)
                # Nothing inserted: not watched, or a sweep is open for the token already (that one).
                with self._read() as conn:
                    if conn.execute(_WATCHED, {"address": address}).first() is None:
                        return None
                    lookup = {"address": address, "contract": token.contract}
                    found = conn.execute(_OPEN_FOR, lookup).mappings().first()
                if found is not None:
                    return Sweep.from_row(found)
            raise StateConflict(f"no sweep could be opened or found for {address} ({token.symbol})")
        with self._write() as conn:
            if conn.execute(_WATCHED, {"address": address}).first() is None:
                return None
            inserted = conn.execute(self._open_insert, values).first()
            row = conn.execute(_OPEN_FOR, {"address": address, "contract": token.contract}).mappings().one()
            sweep = Sweep.from_row(row)
            if inserted is not None:
                self._history(
                    conn, sweep.id, None, SweepState.DETECTED, reason="detected", detail=detail, at=now
                )
        return sweep

    def get_sweep(self, sweep_id: int) -> Sweep | None:
        with self._read() as conn:
            row = conn.execute(_SWEEP_BY_ID, {"sweep_id": sweep_id}).mappings().first()
        return Sweep.from_row(row) if row is not None else None

    def find_open_sweep(self, address: str, token_contract: str) -> Sweep | None:
        """The open (non-terminal) sweep for (address, token), if any."""
        with self._read() as conn:
            row = conn.execute(_OPEN_FOR, {"address": address, "contract": token_contract}).mappings().first()
        return Sweep.from_row(row) if row is not None else None

    def transition(
        self,
        sweep_id: int,
        from_state: SweepState,
        to_state: SweepState,
        *,
        reason: str | None = None,
        note: str | None = None,
        expected_version: int | None = None,
        add_cost: int = 0,
        detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Move a sweep from ``from_state`` to ``to_state`` if it is still there; True if it moved.

        ``fields`` (see MUTABLE_SWEEP_FIELDS) are set and ``add_cost`` sun added to ``cost_sun`` in the
        same UPDATE. A history row (with ``note``, ``detail`` and what was set) is written in the same
        transaction only when the row changed. ``reason`` is kept on the sweep too. Raises StateConflict
        if the move would open a second sweep for the same address and token.
        """
        moved = self.move(
            sweep_id,
            from_state,
            to_state,
            reason=reason,
            note=note,
            expected_version=expected_version,
            add_cost=add_cost,
            detail=detail,
            **fields,
        )
        return moved is not None

    def move(
        self,
        sweep_id: int,
        from_state: SweepState,
        to_state: SweepState,
        *,
        reason: str | None = None,
        note: str | None = None,
        expected_version: int | None = None,
        add_cost: int = 0,
        detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Sweep | None:
        """:meth:`transition`, answering with the sweep as the move left it (None if it did not move),
        so the caller that holds the address lock need not read it again."""
        if from_state == to_state:
            raise ValueError("a transition must change the state; use update_fields() to change fields")
        values = _mutable(fields, add_cost=add_cost)
        now = self._clock()
        values.update(state=to_state.value, updated_at=now)
        if reason is not None:
            values["reason"] = reason
        history = dict(detail or {})
        history.update({k: v for k, v in (("note", note), ("add_cost", add_cost)) if v})
        if fields:
            history["set"] = fields
        params = self._cas_params(sweep_id, from_state, expected_version, values, add_cost=add_cost)
        keys, versioned = frozenset(values), expected_version is not None
        if self._postgres:
            params.update(_history_params(from_state, to_state, reason, now, history))
            statement = _logged_move(keys, versioned=versioned, adds_cost=bool(add_cost))
            with self._write_one() as conn, _one_open_sweep(sweep_id):
                row = conn.execute(statement, params).mappings().first()
            return Sweep.from_row(row) if row is not None else None
        with self._write() as conn:
            with _one_open_sweep(sweep_id):
                cas = _sweep_cas(keys, versioned=versioned, adds_cost=bool(add_cost))
                row = conn.execute(cas, params).mappings().first()
            if row is not None:
                self._history(conn, sweep_id, from_state, to_state, reason=reason, detail=history, at=now)
        return Sweep.from_row(row) if row is not None else None

    def update_fields(
        self, sweep_id: int, state: SweepState, *, expected_version: int | None = None, **fields: Any
    ) -> bool:
        """Set fields of a sweep that is still in ``state`` (and at ``expected_version``, if given)."""
        return self.set_fields(sweep_id, state, expected_version=expected_version, **fields) is not None

    def set_fields(
        self, sweep_id: int, state: SweepState, *, expected_version: int | None = None, **fields: Any
    ) -> Sweep | None:
        """:meth:`update_fields`, answering with the sweep as it left it (None if nothing changed)."""
        values = _mutable(fields)
        if not values:
            raise ValueError("update_fields() needs at least one field")
        values["updated_at"] = self._clock()
        params = self._cas_params(sweep_id, state, expected_version, values)
        cas = _sweep_cas(frozenset(values), versioned=expected_version is not None, adds_cost=False)
        with self._write_one() as conn, _one_open_sweep(sweep_id):
            row = conn.execute(cas, params).mappings().first()
        return Sweep.from_row(row) if row is not None else None

    def add_cost(self, sweep_id: int, cost_sun: int) -> None:
        """Add what was spent on a sweep (energy, burned TRX, activation) in one atomic increment."""
        values = {"cost_sun": SWEEPS.c.cost_sun + cost_sun, "updated_at": self._clock()}
        with self._write_one() as conn:
            conn.execute(
                update(SWEEPS).where(SWEEPS.c.id == sweep_id).values(version=SWEEPS.c.version + 1, **values)
            )

    def set_next_check(self, sweep_id: int, at: datetime) -> SweepState | None:
        """Set when reconcile should look at an open sweep again; scheduling only, the version stays.

        Answers with the sweep's state (truthy) when it is open, None when it has ended: the statement
        that schedules the next look also says whether there is one."""
        with self._write_one() as conn:
            state = conn.execute(_NEXT_CHECK, {"sweep_id": sweep_id, "at": at, "now": self._clock()}).scalar()
        return SweepState(state) if state is not None else None

    def reopen(
        self, sweep_id: int, *, reason: str = "reopened", state: SweepState = SweepState.FAILED
    ) -> bool:
        """FAILED (or SKIPPED) → DETECTED with attempt + 1 (new order numbers); True if reopened."""
        if state not in (SweepState.FAILED, SweepState.SKIPPED):
            raise ValueError(f"only FAILED or SKIPPED sweeps are reopened, not {state.value}")
        now = self._clock()
        values: dict[str, Any] = {
            "b_id": sweep_id,
            "b_state": state.value,
            "state": SweepState.DETECTED.value,
            "reason": None,
            "energy_needed": None,
            "energy_source": None,
            "order_no": None,
            "txid": None,
            "next_check_at": now,
            "updated_at": now,
        }
        with self._write() as conn:
            with _one_open_sweep(sweep_id):
                changed = conn.execute(_REOPEN, values).first() is not None
            if changed:
                self._history(conn, sweep_id, state, SweepState.DETECTED, reason=reason, detail={}, at=now)
        return changed

    @staticmethod
    def _cas_params(
        sweep_id: int,
        state: SweepState,
        expected_version: int | None,
        values: dict[str, Any],
        *,
        add_cost: int = 0,
    ) -> dict[str, Any]:
        """The parameters of the compare-and-set every sweep change goes through (``_sweep_cas``)."""
        params = {f"v_{key}": value for key, value in values.items()}
        params.update(b_id=sweep_id, b_state=state.value)
        if expected_version is not None:
            params["b_version"] = expected_version
        if add_cost:
            params["b_add_cost"] = add_cost
        return params

    def _history(
        self,
        conn: Connection,
        sweep_id: int,
        from_state: SweepState | None,
        to_state: SweepState,
        *,
        reason: str | None,
        detail: dict[str, Any],
        at: datetime,
    ) -> None:
        conn.execute(
            _HISTORY_ROW,
            {
                "sweep_id": sweep_id,
                "from_state": from_state.value if from_state is not None else None,
                "to_state": to_state.value,
                "reason": reason,
                "at": at,
                "detail": _history_text(detail),
            },
        )

    def note(self, sweep_id: int, state: SweepState, reason: str, detail: dict[str, Any]) -> None:
        """Record something seen about a sweep that does not move it (a history row from and to ``state``)."""
        with self._write_one() as conn:
            self._history(conn, sweep_id, state, state, reason=reason, detail=detail, at=self._clock())

    def history(self, sweep_id: int) -> list[HistoryEntry]:
        query = select(HISTORY).where(HISTORY.c.sweep_id == sweep_id).order_by(HISTORY.c.id)
        with self._read() as conn:
            return [HistoryEntry.from_row(row) for row in conn.execute(query).mappings()]

    def due_sweeps(
        self, now: datetime, limit: int = 100, states: Iterable[SweepState] | None = None
    ) -> list[Sweep]:
        """Open sweeps whose ``next_check_at`` has passed, oldest deadline first (for reconcile)."""
        wanted = [s.value for s in states] if states is not None else None
        query = select(SWEEPS).where(SWEEPS.c.next_check_at <= now)
        if wanted is not None:
            query = query.where(SWEEPS.c.state.in_(wanted))
        query = query.where(SWEEPS.c.state.not_in(_TERMINAL))
        query = query.order_by(SWEEPS.c.next_check_at, SWEEPS.c.id).limit(limit)
        with self._read() as conn:
            return [Sweep.from_row(row) for row in conn.execute(query).mappings()]

    def flight(self) -> tuple[int, int]:
        """(sweeps in flight, sweeps DETECTED): one grouped count for the admission gate (``Guards``)."""
        with self._read() as conn:
            counts = {str(state): int(n) for state, n in conn.execute(_FLIGHT)}
        detected = counts.pop(SweepState.DETECTED.value, 0)
        return sum(counts.values()), detected

    def release_held(self, limit: int = 1) -> list[int]:
        """Wake the DETECTED sweeps waiting longest for their next look (held at the admission gate, which
        gives each a longer wait the longer the queue it joins): due now.

        A compare-and-set on the wait each sweep had, so two workers freeing slots at once wake two
        sweeps, or one twice at worst; reconcile starts the woken ones even if their task is lost.
        """
        now = self._clock()
        woken: list[int] = []
        with self._write() as conn:
            for sweep_id, at in conn.execute(_HELD, {"now": now, "limit": limit}).all():
                if conn.execute(_WAKE, {"b_id": sweep_id, "b_at": at, "now": now}).rowcount == 1:
                    woken.append(int(sweep_id))
        return woken

    def sweeps(
        self, state: SweepState | None = None, limit: int = 100, *, address: str | None = None
    ) -> list[Sweep]:
        """Sweeps, newest first, optionally in one state or for one address."""
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params["state"] = state.value
        if address is not None:
            params["address"] = address
        with self._read() as conn:
            rows = conn.execute(_SWEEPS[state is not None, address is not None], params).mappings()
            return [Sweep.from_row(row) for row in rows]

    def summary(self) -> list[StateTotals]:
        """Count, amount and cost of sweeps by state and token (keyed by contract, for ``sweeper status``).

        Amounts are exact: PostgreSQL sums NUMERIC; SQLite keeps them as text, summed here in Python.
        """
        group = (SWEEPS.c.state, SWEEPS.c.token_symbol, SWEEPS.c.token_contract)
        amount = func.coalesce(func.sum(SWEEPS.c.amount), 0) if self._postgres else func.count()
        query = (
            select(*group, func.count(), amount, func.coalesce(func.sum(SWEEPS.c.cost_sun), 0))
            .group_by(*group)
            .order_by(*group)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            amounts: dict[tuple[str, str, str], int] = {}
            if not self._postgres:
                stream = conn.execution_options(yield_per=10_000).execute(select(*group, SWEEPS.c.amount))
                for state, symbol, contract, value in stream:
                    key = (state, symbol, contract)
                    amounts[key] = amounts.get(key, 0) + int(value)
        return [
            StateTotals(
                SweepState(state),
                symbol,
                int(count),
                int(total) if self._postgres else amounts.get((state, symbol, contract), 0),
                int(cost),
                contract,
            )
            for state, symbol, contract, count, total, cost in rows
        ]

    # -- energy orders ------------------------------------------------------------------------------

    def record_order_request(
        self,
        sweep_id: int,
        step: str,
        source: str,
        order_no: str,
        energy: int,
        *,
        quoted_sun: int | None = None,
    ) -> OrderRecord:
        """Record an order as REQUESTED before calling the provider; a repeat returns the stored row.

        ``quoted_sun`` is what the chosen quote said it costs (the spend budgets count it until the
        provider names a cost). Raises StateConflict if ``order_no`` at ``source`` already belongs to
        another sweep or step.
        """
        now = self._clock()
        values = {
            "sweep_id": sweep_id,
            "step": step,
            "source": source,
            "order_no": order_no,
            "energy": energy,
            "quoted_sun": quoted_sun,
            "status": OrderRequestStatus.REQUESTED.value,
            "created_at": now,
            "updated_at": now,
        }
        with self._write_one() as conn:
            inserted = conn.execute(_kept_or_new(ORDERS, self._postgres), values).mappings().first()
        row = OrderRecord.from_row(inserted) if inserted is not None else self.get_order(source, order_no)
        assert row is not None
        if (row.sweep_id, row.step) != (sweep_id, step):
            raise StateConflict(f"order {source}:{order_no} belongs to sweep {row.sweep_id} step {row.step}")
        return row

    def update_order(
        self,
        source: str,
        order_no: str,
        *,
        status: OrderRequestStatus,
        from_status: OrderRequestStatus | None = None,
        provider_order_id: str | None = None,
        cost_sun: int | None = None,
        detail: str | None = None,
        refused: bool = False,
        refunded_sun: int | None = None,
        charge_mismatch: bool | None = None,
    ) -> bool:
        """Set an order's status (only if still ``from_status``, when given) and what the provider said.

        ``refused`` records that the source refused it outright (or it was never sent): it cost nothing.
        ``cost_sun`` is net of ``refunded_sun`` (what the provider gave back).
        """
        values: dict[str, Any] = {"status": status.value, "updated_at": self._clock()}
        if refused:
            values["refused_at"] = values["updated_at"]
        for name, value in (
            ("provider_order_id", provider_order_id),
            ("cost_sun", cost_sun),
            ("detail", detail),
            ("refunded_sun", refunded_sun),
            ("charge_mismatch", charge_mismatch),
        ):
            if value is not None:
                values[name] = value
        values.update(b_source=source, b_no=order_no)
        if from_status is not None:
            values["b_from"] = from_status.value
        with self._write_one() as conn:
            return bool(conn.execute(_ORDER_SET[from_status is not None], values).rowcount == 1)

    def charge_mismatches_since(self, since: datetime) -> dict[str, datetime]:
        """Per source, when it last charged far from its quote, if that was at or after ``since``.

        Every worker process reads this, so one process's finding closes the source for all of them
        (each process's own breaker only knows what that process saw)."""
        query = (
            select(ORDERS.c.source, func.max(ORDERS.c.updated_at))
            .where(ORDERS.c.charge_mismatch.is_(True), ORDERS.c.updated_at >= since)
            .group_by(ORDERS.c.source)
        )
        with self._read() as conn:
            return {str(source): at for source, at in conn.execute(query)}

    def void_unnamed_orders(self, sweep_id: int, detail: str) -> int:
        """Close the sweep's REQUESTED orders its row does not name *now*: they were never sent.

        One statement, judged against the sweep row as it is when it runs, never as a caller once read
        it: a worker holding a stale copy (its lock taken away) must not close the order another worker
        has just named, stored and is paying for. A source is called only after the sweep names the
        order, so a REQUESTED row the sweep has moved past was never called. Returns how many closed.
        """
        now = self._clock()
        named = exists().where(SWEEPS.c.id == sweep_id, SWEEPS.c.order_no == ORDERS.c.order_no)
        query = (
            update(ORDERS)
            .where(
                ORDERS.c.sweep_id == sweep_id,
                ORDERS.c.status == OrderRequestStatus.REQUESTED.value,
                ~named,
            )
            .values(status=OrderRequestStatus.FAILED.value, detail=detail, updated_at=now, refused_at=now)
        )
        with self._write_one() as conn:
            return int(conn.execute(query).rowcount)

    def note_provider_order_id(self, source: str, order_no: str, provider_order_id: str) -> bool:
        """Keep the provider's own id for an order that has none yet (its answer was lost); True if set.

        A verified callback names it (itrx ``serial``), so the order can be followed where the provider
        cannot look our number up; an id already known is never replaced.
        """
        where = [
            ORDERS.c.source == source,
            ORDERS.c.order_no == order_no,
            ORDERS.c.provider_order_id.is_(None),
        ]
        with self._write_one() as conn:
            result = conn.execute(update(ORDERS).where(*where).values(provider_order_id=provider_order_id))
            return bool(result.rowcount == 1)

    def claim_order(self, record: OrderRecord) -> bool:
        """Take a REQUESTED order to call its source again: True only for the one caller whose
        compare-and-set on the ``updated_at`` it read wins (a lost lock must not mean two calls)."""
        query = (
            update(ORDERS)
            .where(
                ORDERS.c.id == record.id,
                ORDERS.c.status == OrderRequestStatus.REQUESTED.value,
                ORDERS.c.updated_at == record.updated_at,
            )
            .values(updated_at=self._clock())
        )
        with self._write_one() as conn:
            return bool(conn.execute(query).rowcount == 1)

    def get_order(self, source: str, order_no: str) -> OrderRecord | None:
        with self._read() as conn:
            return self._order_row(conn, source, order_no)

    def find_orders(self, order_no: str) -> list[OrderRecord]:
        """Orders under our order number at any source (a callback may name only the number)."""
        query = select(ORDERS).where(ORDERS.c.order_no == order_no).order_by(ORDERS.c.id)
        with self._read() as conn:
            return [OrderRecord.from_row(row) for row in conn.execute(query).mappings()]

    def count_orders(self, sweep_id: int) -> int:
        """How many orders a sweep has placed (over all attempts): the next order number's counter."""
        with self._read() as conn:
            return int(conn.execute(_ORDER_COUNT, {"sweep_id": sweep_id}).scalar_one())

    def order_sources(self, sweep_id: int) -> list[str]:
        """The sources a sweep has ordered from, first order first (failover skips them)."""
        return list(dict.fromkeys(o.source for o in self.orders_for_sweep(sweep_id)))

    def orders_for_sweep(self, sweep_id: int) -> list[OrderRecord]:
        with self._read() as conn:
            rows = conn.execute(_ORDERS_OF_SWEEP, {"sweep_id": sweep_id}).mappings()
            return [OrderRecord.from_row(row) for row in rows]

    @staticmethod
    def _order_row(conn: Connection, source: str, order_no: str) -> OrderRecord | None:
        row = conn.execute(_ORDER_BY_NO, {"source": source, "no": order_no}).mappings().first()
        return OrderRecord.from_row(row) if row is not None else None

    # -- chain transactions -------------------------------------------------------------------------

    def store_signed_tx(self, sweep_id: int | None, kind: TxKind, tx: SignedTx) -> ChainTx:
        """Persist a signed transaction before it is broadcast; a repeat returns the stored row."""
        now = self._clock()
        values = {
            "txid": tx.txid,
            "sweep_id": sweep_id,
            "kind": kind.value,
            "signed_json": tx.raw_json,
            "expiration_ms": tx.expiration_ms,
            "status": TxStatus.SIGNED.value,
            "created_at": now,
            "updated_at": now,
        }
        with self._write_one() as conn:
            inserted = conn.execute(_kept_or_new(TXS, self._postgres), values).mappings().first()
        stored = ChainTx.from_row(inserted) if inserted is not None else self.get_tx(tx.txid)
        if stored is None:
            raise LedgerUnavailable(f"transaction {tx.txid} was neither stored nor found")
        if stored.sweep_id != sweep_id:
            raise StateConflict(f"transaction {tx.txid} belongs to sweep {stored.sweep_id}")
        return stored

    def mark_tx(
        self,
        txid: str,
        status: TxStatus,
        *,
        from_status: TxStatus | None = None,
        block_number: int | None = None,
        fee_sun: int | None = None,
    ) -> bool:
        """Set a transaction's status (only if still ``from_status``, when given); True if it changed."""
        values: dict[str, Any] = {"status": status.value, "updated_at": self._clock()}
        if block_number is not None:
            values["block_number"] = block_number
        if fee_sun is not None:
            values["fee_sun"] = fee_sun
        values["b_txid"] = txid
        if from_status is not None:
            values["b_from"] = from_status.value
        with self._write_one() as conn:
            return bool(conn.execute(_TX_SET[from_status is not None], values).rowcount == 1)

    def get_tx(self, txid: str) -> ChainTx | None:
        with self._read() as conn:
            row = conn.execute(_TX_BY_ID, {"txid": txid}).mappings().first()
        return ChainTx.from_row(row) if row is not None else None

    def txs_for_sweep(self, sweep_id: int, kind: TxKind | None = None) -> list[ChainTx]:
        params: dict[str, Any] = {"sweep_id": sweep_id}
        if kind is not None:
            params["kind"] = kind.value
        with self._read() as conn:
            rows = conn.execute(_TXS_OF_SWEEP[kind is not None], params).mappings()
            return [ChainTx.from_row(row) for row in rows]

    # -- callbacks and cursors ----------------------------------------------------------------------

    def record_callback(
        self, provider: str, event_key: str, payload: str, *, order_no: str | None = None
    ) -> bool:
        """Record a provider callback once; False if this event key was seen before (a replay)."""
        with self._write_one() as conn:
            inserted = conn.execute(
                self._insert(CALLBACKS)
                .values(
                    provider=provider,
                    event_key=event_key,
                    payload=payload,
                    received_at=self._clock(),
                    order_no=order_no,
                )
                .on_conflict_do_nothing()
                .returning(CALLBACKS.c.id)
            ).first()
        return inserted is not None

    def get_cursor(self, name: str) -> int | None:
        with self._read() as conn:
            query = select(CURSORS.c.block_number).where(CURSORS.c.name == name)
            value = conn.execute(query).scalar_one_or_none()
        return int(value) if value is not None else None

    def set_cursor(self, name: str, block_number: int, *, expected: int | None = None) -> bool:
        """Store a scanner's cursor; with ``expected``, only if it still stands there (True if stored)."""
        now = self._clock()
        with self._write_one() as conn:
            if expected is not None:
                query = (
                    update(CURSORS)
                    .where(CURSORS.c.name == name, CURSORS.c.block_number == expected)
                    .values(block_number=block_number, updated_at=now)
                )
                return bool(conn.execute(query).rowcount == 1)
            upsert = self._insert(CURSORS).values(name=name, block_number=block_number, updated_at=now)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[CURSORS.c.name],
                    set_={"block_number": block_number, "updated_at": now},
                )
            )
            return True


def _mutable(fields: dict[str, Any], *, add_cost: int = 0) -> dict[str, Any]:
    """Check that only mutable sweep fields are set, and store enum members as their values."""
    refused = set(fields) - MUTABLE_SWEEP_FIELDS
    if refused:
        raise TypeError(f"these sweep fields cannot be set: {', '.join(sorted(refused))}")
    values = {name: value.value if isinstance(value, Enum) else value for name, value in fields.items()}
    if add_cost and "cost_sun" in values:
        raise TypeError("set cost_sun or add_cost, not both")
    return values


def _history_text(detail: dict[str, Any]) -> str | None:
    return json.dumps(detail, sort_keys=True, default=str) if detail else None


@contextmanager
def _one_open_sweep(sweep_id: int) -> Iterator[None]:
    """A change that would leave two open sweeps for one address and token (the partial unique index)."""
    try:
        yield
    except IntegrityError as exc:
        raise StateConflict(
            f"sweep {sweep_id}: another sweep is already open for this address and token"
        ) from exc


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn connection-level database failures into LedgerUnavailable (retry later).

    Only the driver's message is kept: SQLAlchemy's own text would carry the statement's parameters.
    """
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise LedgerUnavailable(f"ledger unavailable: {exc.orig}") from exc
    except PoolTimeout as exc:
        raise LedgerUnavailable("ledger unavailable: connection pool exhausted") from exc
