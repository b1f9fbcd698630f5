"""The HTTP layer every provider client shares: one injected ``httpx.Client``, safe retries, error mapping.

What is retried, and why:

* the request never left (``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``): always safe;
* HTTP 429: the provider refused to process it; wait ``Retry-After`` (bounded) and try again;
* a lost answer (read timeout, dropped connection) or HTTP 5xx: only for idempotent reads. For an order
  the provider may have acted, so :class:`ResponseLost` is raised and the client resolves it by lookup.

httpx exceptions never leave this module: they become :class:`~sweeper.errors.ProviderUnavailable`.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from sweeper.errors import ProviderAuthError, ProviderInvalidRequest, ProviderUnavailable, ResponseLost

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter; ``max_retry_after`` bounds how long a 429 may park us."""

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 10.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """Seconds to wait before retry number ``retry`` (0-based): uniform in [0, min(cap, base·2^n))."""
        return rng() * min(self.max_delay, self.base_delay * (2.0**retry))


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's answer with httpx kept out: status, headers and the raw body."""

    status_code: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed with decimals as ``Decimal`` (never float); ``None`` if it is not JSON."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Parse ``Retry-After`` given as seconds or as an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class ProviderHttp:
    """Sends one provider's requests through the shared client, retrying only what is safe."""

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        *,
        provider: str,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._client = client
        self.base_url = base_url.rstrip("/")
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send and return the reply, retrying only what the module docstring calls safe."""
        url = f"{self.base_url}{path}"
        attempts = max(1, self.retry.attempts)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._client.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    content=content,
                    headers=dict(headers or {}),
                    timeout=self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except _NEVER_SENT as exc:
                if last:
                    raise ProviderUnavailable(
                        f"{self.provider}: cannot connect ({type(exc).__name__})",
                        reason="provider_unreachable",
                    ) from None
                self._sleep(self.retry.backoff(attempt, self._rng))
                continue
            except httpx.TransportError as exc:
                # The request may have been delivered: a read timeout or a dropped connection.
                if idempotent and not last:
                    self._sleep(self.retry.backoff(attempt, self._rng))
                    continue
                raise ResponseLost(f"{self.provider}: no answer ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise ProviderUnavailable(f"{self.provider}: {type(exc).__name__}") from None
            reply = Reply(response.status_code, response.content, dict(response.headers))
            if reply.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if last or (wait is not None and wait > self.retry.max_retry_after):
                    raise ProviderUnavailable(
                        f"{self.provider}: rate limited (HTTP 429)", reason="rate_limited"
                    )
                self._sleep(wait if wait is not None else self.retry.backoff(attempt, self._rng))
                continue
            if reply.status_code >= 500:
                if idempotent and not last:
                    self._sleep(self.retry.backoff(attempt, self._rng))
                    continue
                if idempotent:
                    raise ProviderUnavailable(f"{self.provider}: HTTP {reply.status_code}")
                raise ResponseLost(f"{self.provider}: HTTP {reply.status_code} on a non-idempotent call")
            return reply
        raise AssertionError("unreachable")  # pragma: no cover


def coded_answer(reply: Reply, provider: str, *, order: bool = False) -> dict[str, Any]:
    """The JSON object of an answer in a ``{"code", ...}`` envelope, or the error of one without it.

    HTTP 401/403 is an authentication error and another 4xx a refused request; anything else unreadable
    is an unavailable provider, or after an order (``order``) a lost answer: the order may exist.
    """
    data = reply.json()
    if isinstance(data, dict) and "code" in data:
        return data
    if reply.status_code in (401, 403):
        raise ProviderAuthError(f"{provider}: HTTP {reply.status_code}")
    if 400 <= reply.status_code < 500:
        raise ProviderInvalidRequest(f"{provider}: HTTP {reply.status_code}")
    error: type[ProviderUnavailable] = ResponseLost if order else ProviderUnavailable
    raise error(f"{provider}: unreadable answer (HTTP {reply.status_code})")
