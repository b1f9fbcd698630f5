"""Fault injection per target (the node and each provider simulator) and the ASGI middleware applying it.

The middleware applies transport faults (latency, 5xx, timeouts) to its target's requests. `count`
limits how many times a setting fires before it clears itself: the middleware spends one unit per
request it delays or fails, the node one per dropped broadcast. Provider-specific fields (error_code,
insufficient_resources, callbacks, callback_delay_s) are read, and counted, by the provider apps
through `Faults.get`; the settings object stays the same until the next `set`.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

CALLBACK_MODES = ("normal", "drop", "duplicate", "delay")
TIMEOUT_S = 30.0  # longer than any client timeout in this project


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        self.stopping = threading.Event()

    def set(self, target: str, **options: Any) -> FaultSettings:
        """Replace `target`'s faults (unspecified fields take their defaults); ValueError on bad input."""
        if target not in self.targets:
            raise ValueError(f"unknown fault target {target!r}; expected one of {', '.join(self.targets)}")
        unknown = set(options) - FIELD_NAMES
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        settings = replace(NORMAL, **options)
        _validate(settings)
        with self._lock:
            self._settings[target] = settings
            if settings.count is None:
                self._remaining.pop(target, None)
            else:
                self._remaining[target] = settings.count
        return settings

    def get(self, target: str) -> FaultSettings:
        """Current settings for `target` (does not consume `count`)."""
        with self._lock:
            return self._settings.get(target, NORMAL)

    def consume(self, target: str) -> None:
        """Spend one unit of `target`'s count (the fault fired once); clears the setting at zero."""
        with self._lock:
            left = self._remaining.get(target)
            if left is None:
                return
            if left <= 1:
                self._settings.pop(target, None)
                self._remaining.pop(target, None)
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
            else:
                self._settings.pop(target, None)
                self._remaining.pop(target, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
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
            body = json.dumps({"Error": f"devnet injected fault ({settings.status})"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": settings.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
