"""Read-only aggregate queries over the ledger, for ``/metrics`` and ``sweeper status``.

Every figure is computed from the database at call time, so many worker and web processes report the
same numbers. Each function is one short read transaction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from sweeper.ledger.records import OrderRequestStatus
from sweeper.ledger.repository import Ledger
from sweeper.ledger.tables import Base
from sweeper.models import TERMINAL_STATES, SweepState

SWEEPS: Table = Base.metadata.tables["sweeps"]
ORDERS: Table = Base.metadata.tables["energy_orders"]
CURSORS: Table = Base.metadata.tables["scanner_cursor"]

LATENCY_BUCKETS_S: tuple[float, ...] = (5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)
"""Upper bounds (seconds) of the confirmed-sweep latency histogram; +Inf is implied."""


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Cumulative bucket counts of created_at → updated_at of CONFIRMED sweeps, for one token."""

    token_symbol: str
    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_seconds: float


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def confirmed_latency_histograms(
    ledger: Ledger, bounds: Sequence[float] = LATENCY_BUCKETS_S
) -> list[LatencyHistogram]:
    """A cumulative histogram per token over every CONFIRMED sweep, counted by the database."""
    latency = _seconds_between(ledger.engine.dialect.name, SWEEPS.c.created_at, SWEEPS.c.updated_at)
    columns = [func.sum(case((latency <= bound, 1), else_=0)) for bound in bounds]
    query = (
        select(SWEEPS.c.token_symbol, func.count(), func.coalesce(func.sum(latency), 0.0), *columns)
        .where(SWEEPS.c.state == SweepState.CONFIRMED.value)
        .group_by(SWEEPS.c.token_symbol)
        .order_by(SWEEPS.c.token_symbol)
    )
    with ledger._read() as conn:
        rows = conn.execute(query).all()
    return [
        LatencyHistogram(
            token_symbol=row[0],
            buckets=tuple((bound, int(n or 0)) for bound, n in zip(bounds, row[3:], strict=True)),
            count=int(row[1]),
            sum_seconds=float(row[2]),
        )
        for row in rows
    ]


def recent_confirmed_latencies(ledger: Ledger, limit: int = 1000) -> dict[str, list[float]]:
    """Latency in seconds of the ``limit`` most recently created CONFIRMED sweeps, by token."""
    query = (
        select(SWEEPS.c.token_symbol, SWEEPS.c.created_at, SWEEPS.c.updated_at)
        .where(SWEEPS.c.state == SweepState.CONFIRMED.value)
        .order_by(SWEEPS.c.id.desc())
        .limit(limit)
    )
    out: dict[str, list[float]] = {}
    with ledger._read() as conn:
        for symbol, created, updated in conn.execute(query):
            out.setdefault(symbol, []).append(_elapsed(created, updated))
    return out


def _elapsed(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile of ``values`` (0 ≤ q ≤ 1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def order_counts(
    ledger: Ledger, statuses: Sequence[OrderRequestStatus] | None = None
) -> list[tuple[str, OrderRequestStatus, int]]:
    """How many energy orders each source has in each status (optionally only some statuses)."""
    query = select(ORDERS.c.source, ORDERS.c.status, func.count()).group_by(ORDERS.c.source, ORDERS.c.status)
    if statuses is not None:
        query = query.where(ORDERS.c.status.in_([s.value for s in statuses]))
    with ledger._read() as conn:
        rows = conn.execute(query.order_by(ORDERS.c.source, ORDERS.c.status)).all()
    return [(source, OrderRequestStatus(status), int(n)) for source, status, n in rows]


@dataclass(frozen=True, slots=True)
class SourceCharges:
    """What one source's orders were quoted, charged and refunded (sun), and how many charged off-quote."""

    source: str
    quoted_sun: int
    charged_sun: int
    refunded_sun: int
    mismatches: int

    @property
    def cost_sun(self) -> int:
        """What the source really took: charged minus refunded."""
        return self.charged_sun - self.refunded_sun


def source_charges(ledger: Ledger) -> list[SourceCharges]:
    """Per source, over orders with a known cost: quoted, charged (cost + refund), refunded, mismatches."""
    refunded = func.coalesce(ORDERS.c.refunded_sun, 0)
    query = (
        select(
            ORDERS.c.source,
            func.coalesce(func.sum(ORDERS.c.quoted_sun), 0),
            func.coalesce(func.sum(ORDERS.c.cost_sun + refunded), 0),
            func.coalesce(func.sum(refunded), 0),
            func.coalesce(func.sum(case((ORDERS.c.charge_mismatch.is_(True), 1), else_=0)), 0),
        )
        .where(ORDERS.c.cost_sun.is_not(None), ORDERS.c.refused_at.is_(None))
        .group_by(ORDERS.c.source)
        .order_by(ORDERS.c.source)
    )
    with ledger._read() as conn:
        rows = conn.execute(query).all()
    return [SourceCharges(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def order_sources(ledger: Ledger) -> list[str]:
    """Every source that has ever been sent an order."""
    query = select(ORDERS.c.source).distinct().order_by(ORDERS.c.source)
    with ledger._read() as conn:
        return list(conn.execute(query).scalars())


def cursors(ledger: Ledger) -> dict[str, int]:
    """Each scanner cursor's last fully processed block."""
    with ledger._read() as conn:
        rows = conn.execute(select(CURSORS.c.name, CURSORS.c.block_number).order_by(CURSORS.c.name)).all()
    return {name: int(block) for name, block in rows}


@dataclass(frozen=True, slots=True)
class StateCount:
    """How many sweeps of one token are in one state, and the sun they cost (no amounts: cheap to count)."""

    state: SweepState
    token_symbol: str
    token_contract: str
    count: int
    cost_sun: int


def state_counts(ledger: Ledger) -> list[StateCount]:
    """Sweeps by state and token with their cost: one grouped query, counted by the database."""
    group = (SWEEPS.c.state, SWEEPS.c.token_symbol, SWEEPS.c.token_contract)
    query = (
        select(*group, func.count(), func.coalesce(func.sum(SWEEPS.c.cost_sun), 0))
        .group_by(*group)
        .order_by(*group)
    )
    with ledger._read() as conn:
        rows = conn.execute(query).all()
    return [StateCount(SweepState(s), sym, c, int(n), int(cost)) for s, sym, c, n, cost in rows]


def oldest_open_created_at(ledger: Ledger) -> datetime | None:
    """When the oldest sweep still open (not CONFIRMED, FAILED or SKIPPED) was detected, if any."""
    open_states = [s.value for s in SweepState if s not in TERMINAL_STATES]
    query = select(func.min(SWEEPS.c.created_at)).where(SWEEPS.c.state.in_(open_states))
    with ledger._read() as conn:
        value = conn.execute(query).scalar()
    return value if isinstance(value, datetime) else None
