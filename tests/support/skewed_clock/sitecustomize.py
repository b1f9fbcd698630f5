"""Runs this Python's wall clock ``SWEEPER_TEST_CLOCK_SKEW_SECONDS`` off true time, for one process.

Put this folder on a child's ``PYTHONPATH`` and Python imports it at start-up (``site`` imports the first
``sitecustomize`` on ``sys.path``: https://docs.python.org/3/library/site.html), before any module of the
worker is loaded, so ``time.time``/``time.time_ns`` and ``datetime.now``/``utcnow``/``today`` read the
skewed wall clock everywhere in that process and in the pool children it forks. Monotonic clocks and
``time.sleep`` are left alone, as on a machine whose NTP is off: only the wall clock is wrong.

Why not the system's tools: the clock cannot be set for one process (a time namespace offsets only the
monotonic and boot-time clocks, never the real-time one: https://man7.org/linux/man-pages/man7/time_namespaces.7.html),
and libfaketime 0.9.10 (Debian 12) breaks CPython 3.11's ``time.sleep`` (its absolute
``clock_nanosleep`` then fails with EINVAL).
"""

from __future__ import annotations

import datetime as _dt
import os
import time as _time
import warnings

_SKEW = float(os.environ.get("SWEEPER_TEST_CLOCK_SKEW_SECONDS", "0") or 0)

if _SKEW:
    _true_time = _time.time
    _true_time_ns = _time.time_ns
    _skew_ns = int(_SKEW * 1_000_000_000)
    _delta = _dt.timedelta(seconds=_SKEW)

    def _time_skewed() -> float:
        return _true_time() + _SKEW

    def _time_ns_skewed() -> int:
        return _true_time_ns() + _skew_ns

    class _SkewedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> _SkewedDatetime:
            return super().now(tz) + _delta

        @classmethod
        def utcnow(cls) -> _SkewedDatetime:
            return super().utcnow() + _delta

        @classmethod
        def today(cls) -> _SkewedDatetime:
            return cls.now()

    # C extensions that import the datetime C API notice the subclass's larger size; nothing else differs.
    warnings.filterwarnings("ignore", message="datetime.datetime size changed", category=RuntimeWarning)
    _time.time = _time_skewed
    _time.time_ns = _time_ns_skewed
    _dt.datetime = _SkewedDatetime  # type: ignore[misc]
