"""Freed heap handed back to the operating system, so a worker's RSS stays flat over months.

glibc's ``malloc`` keeps what a process frees for its next allocations and returns only the free space
at the top of its heap (``M_TRIM_THRESHOLD``); a worker that decodes blocks and answers between
long-lived objects leaves its heap with free holes it never returns. Measured in a pool process over
3,000 sweeps: RSS 130.6 → 150.6 MB, of which one ``malloc_trim(0)`` gave back 15 MB (to 135.6 MB),
while the Python objects alive (``tracemalloc``) grew by 2 MB. ``malloc_trim`` releases the free pages
inside the heap too (glibc manual, "Memory Allocation Tunables"; ``man 3 malloc_trim``: "attempts to
release free memory from the heap ... at any place in the heap, not just the top").

Called at most once per ``SWEEPER_MEMORY_TRIM_SECONDS`` (default 10; 0 turns it off): after a task in
a pool process, on the worker's timer in its main process. It takes about 2 ms when there is memory to
return and microseconds when there is none. Where the C library is not glibc (musl, macOS) there is no
``malloc_trim`` and nothing is done.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog
from celery import Celery, bootsteps
from celery.signals import task_postrun


def glibc_trim() -> Callable[[], int] | None:
    """``malloc_trim(0)`` of this process's C library, or None where it has none.

    Looked up among the symbols already loaded (``dlopen(NULL)``), not with ``ctypes.util.find_library``,
    which runs ``ldconfig -p`` in a subprocess each time the app is built.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: int(trim(0))


class Trimmer:
    """Calls ``trim`` at most once per ``interval`` seconds, whoever asks; thread-safe."""

    def __init__(
        self,
        trim: Callable[[], int] | None,
        interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trim = trim if interval > 0 else None
        self._interval = interval
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = threading.Lock()
        self.trims = 0

    @property
    def enabled(self) -> bool:
        return self._trim is not None

    @property
    def interval(self) -> float:
        return self._interval

    def maybe(self) -> bool:
        """Trim if ``interval`` has passed since the last trim; True when it did."""
        if self._trim is None:
            return False
        now = self._monotonic()
        with self._lock:
            if now - self._last < self._interval:
                return False
            self._last = now
        self._trim()
        self.trims += 1
        return True


log = structlog.get_logger("sweeper.memory")

_trimmer: Trimmer | None = None


def install(app: Celery, interval: float) -> Trimmer:
    """Trim after tasks (pool processes) and on the worker's timer (its main process)."""
    global _trimmer  # noqa: PLW0603 - one per process, read by the signal handler
    _trimmer = Trimmer(glibc_trim(), interval)
    if _trimmer.enabled:
        task_postrun.connect(_after_task, weak=False)
        app.steps["worker"].add(_TrimStep)
    return _trimmer


def _after_task(**_: Any) -> None:
    if _trimmer is not None:
        _trimmer.maybe()


class _TrimStep(bootsteps.StartStopStep):
    """The worker's main process (the consumer) frees what it decoded too: trim it on the timer."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._tref: Any = None

    def start(self, parent: Any) -> None:
        if _trimmer is not None and _trimmer.enabled:
            self._tref = parent.timer.call_repeatedly(_trimmer.interval, _trimmer.maybe)
            log.info("worker.memory_trim", every_seconds=_trimmer.interval)

    def stop(self, parent: Any) -> None:
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None
