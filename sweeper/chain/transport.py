"""tronpy's HTTP provider, re-seated on our own ``httpx.Client`` (pooling, timeouts, logging).

tronpy builds the request bodies (``visible`` flags and all); this class only carries them. Failures
surface as httpx exceptions (mapped by ``sweeper.chain.errors``) or ``ChainUnavailable`` for bodies that
are not JSON. Only the API method and timing are logged, never bodies or headers.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urljoin

import httpx
import structlog
from tronpy.providers import HTTPProvider
from tronpy.version import VERSION

from sweeper.errors import ChainUnavailable

log = structlog.get_logger(__name__)


class HttpxProvider(HTTPProvider):  # type: ignore[misc]  # tronpy is untyped
    """A ``tronpy`` provider whose traffic goes through an injected ``httpx.Client``."""

    def __init__(
        self, endpoint_uri: str, *, http: httpx.Client, timeout: float = 10.0, api_key: str | None = None
    ) -> None:
        # HTTPProvider.__init__ is skipped on purpose: it opens a `requests` session we never use.
        if not endpoint_uri.endswith("/"):
            endpoint_uri += "/"  # urljoin would drop the last path segment otherwise
        self.endpoint_uri = endpoint_uri
        self.timeout = timeout
        self.use_api_key = False  # tronpy's TronGrid key rotation; we send our one key ourselves
        self.jw_token = None
        self._http = http
        self._headers = {"User-Agent": f"sweeper tronpy/{VERSION}"}
        if api_key:
            self._headers["TRON-PRO-API-KEY"] = api_key

    def make_request(self, method: str, params: Any = None) -> Any:
        """POST ``params`` as JSON to ``method`` (e.g. ``wallet/getaccount``) and return the decoded body."""
        started = time.perf_counter()
        status = 0
        try:
            resp = self._http.post(
                urljoin(self.endpoint_uri, method),
                json={} if params is None else params,
                headers=self._headers,
                timeout=self.timeout,
            )
            status = resp.status_code
            resp.raise_for_status()
            try:
                return resp.json()
            except ValueError as exc:
                raise ChainUnavailable(f"{method}: node answered a body that is not JSON") from exc
        finally:
            log.debug(
                "tron.request",
                method=method,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
