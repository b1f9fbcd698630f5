"""Chain time for judging a transaction's expiry without asking the node before every signature."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sweeper.models import BlockRef

HEAD_REFRESH_S = 3.0
"""How long one head read serves: a block. The estimate between reads is off by less than that, against
the signing policy's 300 s skew and 60 s lifetime (docs/SECURITY.md §3)."""


class ChainClock:
    """The head block's timestamp, read at most once per ``refresh_s`` and carried forward on the
    monotonic clock in between: what the in-process signing policy judges expiry by.

    A read that fails raises (the signature is refused and retried, as before): no guess is made from a
    head older than ``refresh_s``.
    """

    def __init__(
        self,
        head: Callable[[], BlockRef],
        *,
        refresh_s: float = HEAD_REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._head = head
        self._refresh = refresh_s
        self._monotonic = monotonic
        self._seen: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int:
        now = self._monotonic()
        with self._lock:
            seen = self._seen
        if seen is None or now - seen[0] >= self._refresh:
            seen = (now, self._head().timestamp_ms)
            with self._lock:
                self._seen = seen
        return seen[1] + int((now - seen[0]) * 1000)
