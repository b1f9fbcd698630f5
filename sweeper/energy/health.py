"""A circuit breaker per energy source, so a failing provider is skipped instead of retried every sweep.

closed ──N consecutive transient failures──> open ──reset time passed──> half-open
half-open ──the trial call succeeds──> closed;  half-open ──it fails──> open again

Only transient failures count: a provider that refuses a bad request is not unhealthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from sweeper.errors import TransientError


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive transient failures of one source; the clock is injectable for tests."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = 3,
        reset_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failures = max(1, failures)
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_out = False
        self._held_until = float("-inf")

    @property
    def state(self) -> BreakerState:
        if self._clock() < self._held_until:
            return BreakerState.OPEN
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def healthy(self) -> bool:
        """True when a call would be allowed now (closed, or half-open with no trial under way)."""
        state = self.state
        return state is BreakerState.CLOSED or (state is BreakerState.HALF_OPEN and not self._trial_out)

    def allow(self) -> bool:
        """May we call the source now? In half-open state only one trial call is let through."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def record_success(self) -> None:
        self._consecutive = 0
        self._opened_at = None
        self._trial_out = False

    def trip(self) -> None:
        """Open now for ``reset_seconds``, whatever the count and whatever succeeds meanwhile: the source
        did something its quotes cannot be trusted after (charged far from them)."""
        self._opened_at = self._clock()
        self._held_until = self._opened_at + self.reset_seconds
        self._trial_out = False

    def record_failure(self, exc: BaseException | None = None) -> None:
        """Count a failure; non-transient errors (bad request, auth) do not open the circuit."""
        if exc is not None and not isinstance(exc, TransientError):
            if self._trial_out:
                self.record_success()
            return
        self._consecutive += 1
        if self._trial_out or self._consecutive >= self.failures:
            self._opened_at = self._clock()
        self._trial_out = False
