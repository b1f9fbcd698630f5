"""What the spend guards keep in the ledger: the kill switch, quarantine releases, budget crossings.

Every worker reads these rows before it spends, so an operator's ``sweeper pause`` or ``release`` is seen
by all of them at once, and a budget crossing is recorded once however many workers notice it. The
spend figures the budgets compare against are read from ``energy_orders`` (see :meth:`spent_since`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update

from sweeper.ledger.records import OrderRecord, PauseState, Quarantined
from sweeper.ledger.repository import Ledger
from sweeper.ledger.tables import Base
from sweeper.models import TERMINAL_STATES, SweepState

CONTROLS: Table = Base.metadata.tables["spend_controls"]
RELEASES: Table = Base.metadata.tables["address_releases"]
CROSSINGS: Table = Base.metadata.tables["budget_crossings"]
ORDERS: Table = Base.metadata.tables["energy_orders"]
SWEEPS: Table = Base.metadata.tables["sweeps"]

SPENDING = "spending"
"""The one switch: when paused, no worker places an energy order (rental, stake or burn)."""

_TERMINAL = sorted(s.value for s in TERMINAL_STATES)


def _not_refused() -> Any:
    return ORDERS.c.refused_at.is_(None)


def _quarantine_query() -> Any:
    """FAILED sweeps that ended after their address was last released (or never released)."""
    joined = SWEEPS.outerjoin(RELEASES, RELEASES.c.address == SWEEPS.c.address)
    return (
        select(SWEEPS.c.id, SWEEPS.c.address, SWEEPS.c.reason, SWEEPS.c.updated_at)
        .select_from(joined)
        .where(
            SWEEPS.c.state == SweepState.FAILED.value,
            (RELEASES.c.released_at.is_(None)) | (SWEEPS.c.updated_at > RELEASES.c.released_at),
        )
    )


# Read before every order, so built once (sweeper/ledger/repository.py says why).
_PAUSE = select(CONTROLS).where(CONTROLS.c.name == SPENDING)
_QUARANTINED = (
    _quarantine_query().where(SWEEPS.c.address == bindparam("address")).order_by(SWEEPS.c.id.desc()).limit(1)
)
_ADDRESS_ORDERS = (
    select(func.count(), func.min(ORDERS.c.created_at))
    .select_from(ORDERS.join(SWEEPS, SWEEPS.c.id == ORDERS.c.sweep_id))
    .where(
        SWEEPS.c.address == bindparam("address"),
        ORDERS.c.created_at >= bindparam("since"),
        _not_refused(),
    )
)
_SPENT = select(func.coalesce(func.sum(func.coalesce(ORDERS.c.cost_sun, ORDERS.c.quoted_sun, 0)), 0)).where(
    ORDERS.c.created_at >= bindparam("since"), _not_refused()
)


class SpendControls:
    """The spend guards' rows in one ledger; safe to share between threads like the ledger itself."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    # -- the kill switch ----------------------------------------------------------------------------

    def pause(self, note: str | None = None) -> bool:
        """Stop all spending; False if it was already paused (the first note is kept)."""
        return self._switch(paused=True, note=note)

    def resume(self) -> bool:
        """Let spending go on; False if it was not paused."""
        return self._switch(paused=False, note=None)

    def pause_state(self) -> PauseState:
        with self._ledger._read() as conn:
            row = conn.execute(_PAUSE).mappings().first()
        if row is None:
            return PauseState(paused=False)
        return PauseState(bool(row["paused"]), row["note"], row["changed_at"])

    def paused(self) -> bool:
        return self.pause_state().paused

    def _switch(self, *, paused: bool, note: str | None) -> bool:
        now = self._ledger._clock()
        with self._ledger._write() as conn:
            inserted = conn.execute(
                self._ledger._insert(CONTROLS)
                .values(name=SPENDING, paused=paused, note=note, changed_at=now)
                .on_conflict_do_nothing()
                .returning(CONTROLS.c.name)
            ).first()
            if inserted is not None:
                return paused
            query = (
                update(CONTROLS)
                .where(CONTROLS.c.name == SPENDING, CONTROLS.c.paused == (not paused))
                .values(paused=paused, note=note, changed_at=now)
            )
            return bool(conn.execute(query).rowcount == 1)

    # -- quarantine ---------------------------------------------------------------------------------

    def quarantined(self, address: str) -> Quarantined | None:
        """The failed sweep holding ``address`` in quarantine, if one does (its newest)."""
        with self._ledger._read() as conn:
            row = conn.execute(_QUARANTINED, {"address": address}).mappings().first()
        return Quarantined.from_row(row) if row is not None else None

    def release(self, address: str, note: str | None = None) -> Quarantined | None:
        """Let detection open sweeps for ``address`` again; what held it, or None if nothing did."""
        held = self.quarantined(address)
        if held is None:
            return None
        values = {"released_at": self._ledger._clock(), "note": note}
        with self._ledger._write() as conn:
            conn.execute(
                self._ledger._insert(RELEASES)
                .values(address=address, **values)
                .on_conflict_do_update(index_elements=[RELEASES.c.address], set_=values)
            )
        return held

    def quarantine_list(self, limit: int = 100) -> tuple[int, list[Quarantined]]:
        """How many addresses are quarantined, and the newest failure of each of the ``limit`` latest."""
        newest = (
            _quarantine_query()
            .with_only_columns(func.max(SWEEPS.c.id).label("id"))
            .group_by(SWEEPS.c.address)
            .subquery()
        )
        with self._ledger._read() as conn:
            total = int(conn.execute(select(func.count()).select_from(newest)).scalar_one())
            query = (
                select(SWEEPS.c.id, SWEEPS.c.address, SWEEPS.c.reason, SWEEPS.c.updated_at)
                .where(SWEEPS.c.id.in_(select(newest.c.id)))
                .order_by(SWEEPS.c.updated_at.desc(), SWEEPS.c.id.desc())
                .limit(limit)
            )
            rows = [Quarantined.from_row(row) for row in conn.execute(query).mappings()]
        return total, rows

    # -- what has been spent ------------------------------------------------------------------------

    def address_orders_since(self, address: str, since: datetime) -> tuple[int, datetime | None]:
        """Orders for ``address``'s sweeps since ``since`` that no source refused, and the oldest one."""
        with self._ledger._read() as conn:
            count, oldest = conn.execute(_ADDRESS_ORDERS, {"address": address, "since": since}).one()
        return int(count), oldest

    def spent_since(self, since: datetime) -> int:
        """Sun every order placed since ``since`` may have cost: the provider's figure, else the quote.

        Orders a source refused outright count nothing; every other order counts, including one whose
        answer was lost or that failed after it was accepted (it may have been charged).
        """
        with self._ledger._read() as conn:
            return int(conn.execute(_SPENT, {"since": since}).scalar_one())

    # -- budget crossings ---------------------------------------------------------------------------

    def record_crossing(
        self, budget: str, scope: str, window_start: datetime, used: int, allowed: int
    ) -> bool:
        """Record that ``budget`` was crossed for ``scope`` in the window; True only for the first report."""
        with self._ledger._write() as conn:
            inserted = conn.execute(
                self._ledger._insert(CROSSINGS)
                .values(
                    budget=budget,
                    scope=scope[:80],
                    window_start=window_start,
                    used=used,
                    allowed=allowed,
                    at=self._ledger._clock(),
                )
                .on_conflict_do_nothing()
                .returning(CROSSINGS.c.id)
            ).first()
        return inserted is not None

    def crossings(self, since: datetime | None = None) -> dict[str, int]:
        """How many times each budget was crossed (since ``since``, if given)."""
        query = select(CROSSINGS.c.budget, func.count()).group_by(CROSSINGS.c.budget)
        if since is not None:
            query = query.where(CROSSINGS.c.at >= since)
        with self._ledger._read() as conn:
            return {budget: int(n) for budget, n in conn.execute(query.order_by(CROSSINGS.c.budget))}

    # -- stake to take back -------------------------------------------------------------------------

    def unreclaimed_orders(self, sources: list[str], limit: int = 100) -> list[OrderRecord]:
        """Orders from ``sources`` (those that delegate our stake) of ended sweeps, not yet taken back."""
        if not sources:
            return []
        query = (
            select(ORDERS)
            .select_from(ORDERS.join(SWEEPS, SWEEPS.c.id == ORDERS.c.sweep_id))
            .where(
                ORDERS.c.source.in_(sources),
                ORDERS.c.reclaimed_at.is_(None),
                _not_refused(),
                SWEEPS.c.state.in_(_TERMINAL),
            )
            .order_by(ORDERS.c.id)
            .limit(limit)
        )
        with self._ledger._read() as conn:
            return [OrderRecord.from_row(row) for row in conn.execute(query).mappings()]

    def mark_reclaimed(self, source: str, order_no: str) -> bool:
        """Note that what this order delegated is back (or was never there to take back)."""
        query = (
            update(ORDERS)
            .where(
                ORDERS.c.source == source,
                ORDERS.c.order_no == order_no,
                ORDERS.c.reclaimed_at.is_(None),
            )
            .values(reclaimed_at=self._ledger._clock())
        )
        with self._ledger._write() as conn:
            return bool(conn.execute(query).rowcount == 1)
