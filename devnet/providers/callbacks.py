"""itrx's signed callbacks, sent from one background thread so no request ever waits on them.

Delivery follows the documented retry schedule (docs/PROVIDERS.md §2.5): a first attempt, then retries
15, 15, 30, 180, 600, 1200 and 1800 s after each failure (anything but HTTP 200), all multiplied by the
time scale.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from devnet.providers.common import compact_json, hmac_sha256_hex

log = logging.getLogger("devnet.providers.callbacks")

RETRY_SCHEDULE_S = (15, 15, 30, 180, 600, 1200, 1800)


def callback_body(payload: dict[str, Any], style: str = "compact") -> str:
    """The JSON string that is both signed and sent: compact (default) or Python's spaced default."""
    if style == "spaced":
        return json.dumps(payload, sort_keys=True)
    return compact_json(payload)


def callback_headers(secret: str, body: str, timestamp: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "TIMESTAMP": timestamp,
        "SIGNATURE": hmac_sha256_hex(secret, f"{timestamp}&{body}"),
    }


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    url: str = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    secret: str = field(compare=False)
    style: str = field(compare=False)
    attempt: int = field(compare=False, default=0)


@dataclass
class Delivery:
    """One attempt, kept for the admin/debug view and for tests of the retry schedule."""

    url: str
    serial: str
    attempt: int
    status: int | None
    at: float


class CallbackSender:
    """A heap of due callbacks drained by one daemon thread with its own httpx client."""

    def __init__(self, *, time_scale: float = 1.0, timeout: float = 5.0) -> None:
        self.time_scale = time_scale
        self._timeout = timeout
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.deliveries: list[Delivery] = []

    def send(
        self, url: str, payload: dict[str, Any], secret: str, *, style: str = "compact", delay_s: float = 0.0
    ) -> None:
        """Queue a callback; the first attempt is made after `delay_s` (real seconds, not scaled)."""
        job = _Job(time.monotonic() + delay_s, next(self._seq), url, payload, secret, style)
        with self._cv:
            if self._stopped:
                return
            heapq.heappush(self._heap, job)
            self._ensure_thread()
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)

    def pending(self) -> int:
        with self._cv:
            return len(self._heap)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="itrx-callbacks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                job = self._next_due()
                if job is None:
                    return
                self._attempt(client, job)

    def _next_due(self) -> _Job | None:
        with self._cv:
            while not self._stopped:
                if self._heap and self._heap[0].due <= time.monotonic():
                    return heapq.heappop(self._heap)
                wait = self._heap[0].due - time.monotonic() if self._heap else None
                self._cv.wait(wait)
            return None

    def _attempt(self, client: httpx.Client, job: _Job) -> None:
        body = callback_body(job.payload, job.style)
        headers = callback_headers(job.secret, body, str(int(time.time())))
        status: int | None = None
        try:
            status = client.post(job.url, content=body.encode(), headers=headers).status_code
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # e.g. the docs' "http://{mydomain}/callback"
            log.info("itrx callback to %s failed: %s", job.url, type(exc).__name__)
        self.deliveries.append(
            Delivery(job.url, str(job.payload.get("serial")), job.attempt, status, time.time())
        )
        if status == 200 or job.attempt >= len(RETRY_SCHEDULE_S):
            return
        job.due = time.monotonic() + RETRY_SCHEDULE_S[job.attempt] * self.time_scale
        job.attempt += 1
        job.seq = next(self._seq)
        with self._cv:
            if not self._stopped:
                heapq.heappush(self._heap, job)
