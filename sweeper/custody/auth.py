"""HMAC request authentication between workers and the signer service: signed, fresh, used once.

Each request carries ``X-Sweeper-Timestamp`` (unix ms), ``X-Sweeper-Nonce`` (random hex) and
``X-Sweeper-Signature``: HMAC-SHA256 under the shared key of::

    METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n sha256-hex(BODY)

The service refuses a request that is unsigned, signed with another key, more than ``window_ms`` from
its clock, or whose nonce it has already seen within the window (a replay), each with a reason
(docs/SECURITY.md §4). The key is never logged or sent; compare is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from sweeper.errors import SignerRejected

TIMESTAMP, NONCE, SIGNATURE = "x-sweeper-timestamp", "x-sweeper-nonce", "x-sweeper-signature"
MIN_KEY_BYTES = 32
DEFAULT_WINDOW_MS = 30_000


class AuthRefused(SignerRejected):
    """Raised by the service for a request it cannot authenticate; ``reason`` says why."""

    reason = "auth"


def check_key(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the signer's HMAC key must be at least {MIN_KEY_BYTES} bytes")
    return key


def _mac(key: bytes, parts: tuple[str, str, str, str], body: bytes) -> str:
    """``parts``: method, path, timestamp, nonce."""
    method, path, timestamp, nonce = parts
    message = "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def sign_request(
    key: bytes, method: str, path: str, body: bytes, *, now_ms: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The three headers that authenticate one request."""
    stamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    once = nonce or secrets.token_hex(16)
    return {TIMESTAMP: stamp, NONCE: once, SIGNATURE: _mac(key, (method, path, stamp, once), body)}


@dataclass
class Verifier:
    """The service side: checks each request once. Nonces are kept for twice the window."""

    key: bytes
    window_ms: int = DEFAULT_WINDOW_MS
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, *, now_ms: int | None = None
    ) -> None:
        """Return if the request is authentic and new; ``AuthRefused`` (reason set) otherwise."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        stamp, nonce, given = headers.get(TIMESTAMP), headers.get(NONCE), headers.get(SIGNATURE)
        if not stamp or not nonce or not given:
            raise AuthRefused("the request is not signed", reason="unsigned")
        if not stamp.isdigit() or len(nonce) > 128:
            raise AuthRefused("the request's timestamp or nonce is malformed", reason="malformed_auth")
        expected = _mac(self.key, (method, path, stamp, nonce), body)
        if not hmac.compare_digest(expected, given.lower()):
            raise AuthRefused("the request is signed with another key or was altered", reason="bad_signature")
        if abs(now - int(stamp)) > self.window_ms:
            raise AuthRefused(
                f"the request was signed {abs(now - int(stamp))} ms from now (at most {self.window_ms})",
                reason="stale",
            )
        with self._lock:
            for old in [n for n, at in self._seen.items() if at < now - 2 * self.window_ms]:
                del self._seen[old]
            if nonce in self._seen:
                raise AuthRefused("the request's nonce was already used", reason="replayed")
            self._seen[nonce] = now
