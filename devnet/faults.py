"""Fault injection per target (the node and each provider simulator) and the ASGI middleware applying it.

The middleware applies transport faults (latency, HTTP errors, timeouts) to its target's requests.
`count` limits how many times a setting fires before it clears itself: the middleware spends one unit
per request it delays or fails, the node one per dropped broadcast; `duration` (seconds) clears it
after that long. Provider-specific fields (error_code, insufficient_resources, callbacks,
callback_delay_s) are read, and counted, by the provider apps through `Faults.get`; the settings
object stays the same until the next `set`.

Rate limiting as TRON nodes answer it (docs/TRON.md §10): TronGrid's HTTP 403 (a 30 s penalty, or
"Exceed the user daily usage" with `daily_quota`), 429 and 503, with `Retry-After` when `retry_after`
is set; and java-tron's own limiter (`RateLimiterServlet`), which answers HTTP **200** with
`{"Error": "class java.lang.IllegalAccessException : lack of computing resources"}` and no header,
set with `error_body`. Giving `status` or `error_body` without `error_rate` fails every request.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

CALLBACK_MODES = ("normal", "drop", "duplicate", "delay")
TIMEOUT_S = 30.0  # longer than any client timeout in this project
# TronGrid's full-node 403 bodies (TronGrid rate-limit docs; tronpy drops a key on the daily-quota text)
TRONGRID_PENALTY = "The key exceeds the frequency limit(15), and the query server is suspended for 30s"
TRONGRID_DAILY = "Exceed the user daily usage (100000), the maximum query frequency is 1 time per second"
LIMITER_CLASS = "java.lang.IllegalAccessException"  # RateLimiterServlet via Util.printErrorMsg


@dataclass(frozen=True)
class FaultSettings:
    """One target's faults; the defaults mean "behave normally"."""

    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 503
    timeout_rate: float = 0.0
    drop_broadcasts: bool = False
    error_code: str | int | None = None
    callbacks: str = "normal"
    callback_delay_s: float = 0.0
    insufficient_resources: bool = False
    count: int | None = None
    duration: float | None = None  # seconds until the setting clears itself
    retry_after: int | None = None  # seconds, sent as `Retry-After` with a non-200 error
    error_body: str | None = (
        None  # java-tron limiter: HTTP 200 {"Error": "class …IllegalAccessException : <this>"}
    )
    daily_quota: bool = False  # a 403 says "Exceed the user daily usage" instead of the 30 s penalty

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def error_response(self) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """(status, body, extra headers) of one injected error."""
        if self.error_body is not None:  # RateLimiterServlet: resp.getWriter().println(printErrorMsg(…))
            text = f"class {LIMITER_CLASS} : {self.error_body}"
            return 200, json.dumps({"Error": text}).encode() + b"\n", []
        if self.status == 403:
            text = TRONGRID_DAILY if self.daily_quota else TRONGRID_PENALTY
        else:
            text = f"devnet injected fault ({self.status})"
        headers = [] if self.retry_after is None else [(b"retry-after", str(self.retry_after).encode())]
        return self.status, json.dumps({"Error": text}).encode(), headers


NORMAL = FaultSettings()
FIELD_NAMES = frozenset(f.name for f in fields(FaultSettings))


class Faults:
    """Thread-safe fault table shared by the servers, the admin API and the provider apps."""

    def __init__(self, targets: Iterable[str] | None = None) -> None:
        if targets is None:  # the node and every registered simulator
            from devnet.providers.registry import fault_targets

            targets = fault_targets()
        self.targets = tuple(targets)
        self._lock = threading.Lock()
        self._settings: dict[str, FaultSettings] = {}
        self._remaining: dict[str, int] = {}
        self._until: dict[str, float] = {}  # monotonic deadline of a setting with a duration
        self.stopping = threading.Event()

    def set(self, target: str, **options: Any) -> FaultSettings:
        """Replace `target`'s faults (unspecified fields take their defaults); ValueError on bad input."""
        if target not in self.targets:
            raise ValueError(f"unknown fault target {target!r}; expected one of {', '.join(self.targets)}")
        unknown = set(options) - FIELD_NAMES
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "error_rate" not in options and ("status" in options or options.get("error_body") is not None):
            options = {**options, "error_rate": 1.0}  # an error named without a rate: every request
        settings = replace(NORMAL, **options)
        _validate(settings)
        with self._lock:
            self._settings[target] = settings
            if settings.count is None:
                self._remaining.pop(target, None)
            else:
                self._remaining[target] = settings.count
            if settings.duration is None:
                self._until.pop(target, None)
            else:
                self._until[target] = time.monotonic() + settings.duration
        return settings

    def get(self, target: str) -> FaultSettings:
        """Current settings for `target` (does not consume `count`)."""
        with self._lock:
            until = self._until.get(target)
            if until is not None and time.monotonic() >= until:
                self._drop(target)
            return self._settings.get(target, NORMAL)

    def _drop(self, target: str) -> None:
        self._settings.pop(target, None)
        self._remaining.pop(target, None)
        self._until.pop(target, None)

    def consume(self, target: str) -> None:
        """Spend one unit of `target`'s count (the fault fired once); clears the setting at zero."""
        with self._lock:
            left = self._remaining.get(target)
            if left is None:
                return
            if left <= 1:
                self._drop(target)
            else:
                self._remaining[target] = left - 1

    def remaining(self, target: str) -> int | None:
        with self._lock:
            return self._remaining.get(target)

    def clear(self, target: str | None = None) -> None:
        with self._lock:
            if target is None:
                self._settings.clear()
                self._remaining.clear()
                self._until.clear()
            else:
                self._drop(target)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        for target in list(self._settings):
            self.get(target)  # expire settings whose duration is over
        with self._lock:
            return {
                t: {**s.to_dict(), "remaining": self._remaining.get(t)} for t, s in self._settings.items()
            }

    async def sleep_unless_stopping(self, seconds: float) -> None:
        """Sleep up to `seconds`, returning early once the servers are stopping."""
        remaining = seconds
        while remaining > 0 and not self.stopping.is_set():
            step = min(0.1, remaining)
            await asyncio.sleep(step)
            remaining -= step


def _validate(s: FaultSettings) -> None:
    if s.latency_ms < 0 or s.callback_delay_s < 0:
        raise ValueError("latency_ms and callback_delay_s must be >= 0")
    for name in ("error_rate", "timeout_rate"):
        if not 0.0 <= getattr(s, name) <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
    if not 100 <= s.status <= 599:
        raise ValueError("status must be an HTTP status code")
    if s.callbacks not in CALLBACK_MODES:
        raise ValueError(f"callbacks must be one of {', '.join(CALLBACK_MODES)}")
    if s.count is not None and s.count < 1:
        raise ValueError("count must be >= 1 or null")
    if s.duration is not None and s.duration <= 0:
        raise ValueError("duration must be > 0 seconds or null")
    if s.retry_after is not None and (
        isinstance(s.retry_after, bool) or not isinstance(s.retry_after, int) or s.retry_after < 0
    ):
        raise ValueError("retry_after must be a whole number of seconds >= 0")
    if s.error_body is not None and not isinstance(s.error_body, str):
        raise ValueError("error_body must be a string")


Scope = dict[str, Any]
Receive = Any
Send = Any


class FaultMiddleware:
    """ASGI middleware: latency, injected HTTP errors and hung requests for one target.

    Only paths starting with one of `prefixes` are affected (the node keeps its admin API clean).
    """

    def __init__(self, app: Any, faults: Faults, target: str, prefixes: tuple[str, ...] = ("/",)) -> None:
        self.app = app
        self.faults = faults
        self.target = target
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        settings = self.faults.get(self.target)
        if not (settings.latency_ms or settings.error_rate or settings.timeout_rate):
            await self.app(scope, receive, send)
            return
        self.faults.consume(self.target)
        if settings.latency_ms:
            await self.faults.sleep_unless_stopping(settings.latency_ms / 1000)
        if settings.timeout_rate and random.random() < settings.timeout_rate:
            await self.faults.sleep_unless_stopping(TIMEOUT_S)
            if self.faults.stopping.is_set():
                return
        if settings.error_rate and random.random() < settings.error_rate:
            status, body, extra = settings.error_response()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
