"""One wall clock for every host of a deployment: the ledger database's.

Ages are judged across hosts: how long an order has been out (``order_timeout_seconds``), whether a
claim on it is still fresh, whether a sweep's check is due. One worker writes the timestamp, another
reads it against its own now; a host whose clock runs two minutes fast would give up on an order that is
still being delivered and buy the energy again elsewhere. So every worker reads PostgreSQL's clock
(``clock_timestamp()``, the server's current time:
https://www.postgresql.org/docs/current/functions-datetime.html#FUNCTIONS-DATETIME-CURRENT), keeps the
offset from its own, and writes and compares all ledger times in that one clock. SQLite is a file on one
host, whose clock every process already shares: no offset.

Chain time (transaction expiry) is the head block's, never this (docs/ARCHITECTURE.md §6).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("sweeper.ledger")

REFRESH_S = 60.0
"""How often the offset is measured again (clocks drift by milliseconds a minute, NTP steps are rare)."""
RETRY_S = 5.0
"""After a failed or untrustworthy measurement, the next try; the last offset stays in use meanwhile."""
MAX_ROUND_TRIP_S = 0.5
"""A measurement whose round trip took longer is too vague to use (the server's time is somewhere in it)."""
WARN_SKEW_S = 5.0
"""An offset above this is logged (``clock.skewed``): the host's NTP is off."""


SERVER_NOW = text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")


class LedgerClock:
    """Seconds since the epoch by the ledger server's clock: ``clock()``; as an aware datetime: ``now()``."""

    def __init__(
        self,
        engine: Engine,
        *,
        local: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._local = local
        self._monotonic = monotonic
        self._shared = engine.dialect.name == "postgresql"
        self._offset = 0.0
        self._next = float("-inf")

    def __call__(self) -> float:
        if self._shared and self._monotonic() >= self._next:
            self._measure()
        return self._local() - self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self(), tz=UTC)

    @property
    def offset(self) -> float:
        """This host's clock minus the ledger's, in seconds, as last measured (0 on SQLite)."""
        return self._offset

    def _measure(self) -> None:
        before = self._local()
        try:
            with self._engine.connect() as conn:
                server = float(conn.execute(SERVER_NOW).scalar_one())
        except SQLAlchemyError as exc:
            # The ledger is down: every write fails anyway and is retried; keep the last offset.
            self._next = self._monotonic() + RETRY_S
            log.warning("clock.unmeasured", error=type(exc).__name__)
            return
        after = self._local()
        if after - before > MAX_ROUND_TRIP_S:
            self._next = self._monotonic() + RETRY_S
            return
        offset = (before + after) / 2 - server
        if abs(offset) > WARN_SKEW_S and abs(offset - self._offset) > 1.0:
            log.warning("clock.skewed", offset_seconds=round(offset, 1), judged_by="the ledger's clock")
        self._offset = offset
        self._next = self._monotonic() + REFRESH_S
