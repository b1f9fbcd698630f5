"""Per-address locks: one worker at a time works on an address, so its steps never interleave.

The state machine is correct without them (every move is a compare-and-set); they keep two workers from
doing the same foreign call at once. Workers share Redis locks (``tasks.locks``); one process uses these.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from sweeper.errors import LockBusy


class AddressLocks(Protocol):
    """Serialises work on one address across workers; ``hold`` raises LockBusy when it is taken."""

    def hold(self, address: str) -> AbstractContextManager[None]: ...


class LocalLocks:
    """Process-local locks: enough for one process (tests, the CLI); workers share Redis locks."""

    def __init__(self, wait_seconds: float = 5.0) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._wait = wait_seconds

    @contextmanager
    def hold(self, address: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(address, threading.Lock())
        if not lock.acquire(timeout=self._wait):
            raise LockBusy(f"address {address} is busy")
        try:
            yield
        finally:
            lock.release()
