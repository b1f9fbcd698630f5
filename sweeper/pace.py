"""When to take the first look after an order: when each source's energy has lately been seen on chain.

A fixed first look ``poll_seconds`` after every order finds nothing whenever a source takes longer, and
each empty look is a whole task (broker round trip, ledger reads, node reads). Measured on the devnet
(sources delegating one block after the order, 3 s blocks): 2,810 of 3,000 sweeps looked once at +3 s for
nothing. How long the providers take on mainnet is not documented (docs/PROVIDERS.md, open questions),
so it is learned, per source and kind of order, in each process:

- the first look waits the second-shortest of the last ``WINDOW`` delays from placing an order to the
  look that saw it delivered, within ``[floor, ceiling]``: the earliest time at which at least two recent
  orders were already seen done. It moves later only when nearly every order is seen later, so a source
  that delivers at the first look most of the time keeps it;
- each delay is measured to the time the look was due, not when a busy worker ran it: queueing makes
  the figure no later (a look woken early by a callback counts from when it ran);
- every ``PROBE_EVERY``-th order of a source is looked at after ``floor`` anyway, so a source that became
  faster is seen to be (two fast probes in the window bring the first look back to them);
- with fewer than two deliveries learned it is ``floor``: the behaviour before this module.

Only latency depends on it, never money: a look that comes early finds nothing and polls again every
``poll_seconds``; one that comes late sees the energy then (the order's timeout and the failover are
unchanged, counted from the order, not from the look).
"""

from __future__ import annotations

import threading
from collections import deque

WINDOW = 16
"""Recent deliveries remembered per (source, kind of order)."""
PROBE_EVERY = 8
"""One order in this many gets the first look after ``floor``, whatever was learned."""


class DeliveryPace:
    """Per (source, step): how long after placing an order its energy was first seen; thread-safe."""

    def __init__(self, floor: float, ceiling: float) -> None:
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._orders: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def seen(self, source: str, step: str, seconds: float) -> None:
        """An order of ``source`` was first seen delivered ``seconds`` after it was placed."""
        if seconds <= 0:
            return
        with self._lock:
            self._seen.setdefault((source, step), deque(maxlen=WINDOW)).append(seconds)

    def first_look(self, source: str, step: str) -> float:
        """Seconds from placing an order of ``source`` to the first look at it."""
        key = (source, step)
        with self._lock:
            n = self._orders.get(key, 0)
            self._orders[key] = n + 1
            recent = list(self._seen.get(key, ()))
        if n % PROBE_EVERY == PROBE_EVERY - 1 or len(recent) < 2:
            return self.floor
        return min(self.ceiling, max(self.floor, sorted(recent)[1]))
