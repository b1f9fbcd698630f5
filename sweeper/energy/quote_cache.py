"""A rental source's energy quotes, kept for a few seconds: prices change slowly, sweeps come in bursts.

Every sweep asks every source for a price before it orders; under a burst that is three HTTP requests per
sweep for the same answer. :class:`QuotedSource` wraps one source and answers a repeated question
(same energy, same recipient of the sweep, no activation) from the last answer for ``seconds``.

What it never keeps, so nothing about money changes:

* errors: a source that failed is asked again at once (and its circuit breaker sees every failure);
* activation quotes: whether an address needs activating is per address, and rare;
* anything but ``quote``: orders, statuses, lookups and balances always go to the source;
* sources that deliver TRX or delegate our stake (``burn``, ``stake``): their price is read from our own
  chain state, per address, not from a price list (they are not wrapped at all, see :func:`cached`).

A cached quote only ranks sources and checks the caps; the order is still placed at the source, which
charges its price at that moment, and the ledger records what it charged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sweeper.energy.base import EnergySource
from sweeper.models import EnergyOrder, Quote

MAX_ENTRIES = 256
"""Distinct questions kept per source (energy amounts and destinations are few): a bound, not a tuning."""


class QuotedSource:
    """``source`` with its energy quotes kept ``seconds``; every other call goes straight through."""

    def __init__(self, source: EnergySource, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.inner = source
        self.name = source.name
        self.capabilities = source.capabilities
        self.seconds = seconds
        self._clock = clock
        self._quotes: dict[tuple[int, str | None], tuple[float, Quote]] = {}
        self._lock = threading.Lock()

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        if activate:
            return self.inner.quote(address, energy, to=to, activate=True)
        key = (energy, to)
        now = self._clock()
        with self._lock:
            hit = self._quotes.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        fresh = self.inner.quote(address, energy, to=to, activate=False)  # errors are never kept
        with self._lock:
            if len(self._quotes) >= MAX_ENTRIES:
                self._quotes.clear()
            self._quotes[key] = (now, fresh)
        return fresh

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        return self.inner.order(order_no, address, energy, to=to, activate=activate)

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        return self.inner.quote_bandwidth(address, size)

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        return self.inner.order_bandwidth(order_no, address, size)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        return self.inner.status(order)

    def lookup(self, order_no: str) -> EnergyOrder | None:
        return self.inner.lookup(order_no)

    def balance(self) -> int:
        return self.inner.balance()

    def covers(self, address: str, energy: int) -> bool:
        return self.inner.covers(address, energy)

    def reclaim(self, order: EnergyOrder) -> str | None:
        return self.inner.reclaim(order)

    def __getattr__(self, name: str) -> Any:
        # Anything a caller reads off a concrete client (its settings, callbacks) is the client's.
        return getattr(self.inner, name)


def cached(sources: Mapping[str, EnergySource], seconds: float) -> dict[str, EnergySource]:
    """``sources`` with the rental ones' quotes kept ``seconds`` (0: none kept, the sources as they are)."""
    if seconds <= 0:
        return dict(sources)
    out: dict[str, EnergySource] = {}
    for name, source in sources.items():
        caps = source.capabilities
        rental = not (caps.delivers_trx or caps.reclaim)
        out[name] = QuotedSource(source, seconds) if rental else source
    return out
