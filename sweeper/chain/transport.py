"""tronpy's HTTP provider, re-seated on our own ``httpx.Client`` (pooling, timeouts, logging).

tronpy builds the request bodies (``visible`` flags and all); this class only carries them. Network
failures surface as httpx exceptions (mapped by ``sweeper.chain.errors``). Every answer that is not an
answer is ``ChainUnavailable`` here, before tronpy can call it anything else (docs/TRON.md §10):

* any HTTP error status — TronGrid's rate limits (403 penalty or daily quota, 429, 503), a gateway's 5xx,
  an endpoint switched off (404) — with the ``Retry-After`` the node named, if any;
* an HTTP-200 ``{"Error": …}`` body: java-tron's own limiter (``lack of computing resources``) or any
  other failure to handle the request; the reason says which (``node_rate_limited`` / ``node_error``);
* a body that is not JSON (a lite full node's plain-text refusal, a proxy's HTML page).

None of these says anything about a transaction, so none may fail a sweep; only a broadcast's result code
or a receipt can. Only the API method and timing are logged, never bodies or headers.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import httpx
import structlog
from tronpy.providers import HTTPProvider
from tronpy.version import VERSION

from sweeper.chain import codec
from sweeper.errors import ChainUnavailable

log = structlog.get_logger(__name__)

RATE_LIMITED = re.compile(
    r"lack of computing resources|rate ?limit|too many requests|exceed the user daily usage|server busy",
    re.IGNORECASE,
)
"""``{"Error"}`` texts that mean the node refuses to work for us now (java-tron's limiter, TronGrid)."""
MAX_ERROR_TEXT = 200


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
        self._headers = {"User-Agent": f"sweeper tronpy/{VERSION}", "Content-Type": "application/json"}
        if api_key:
            self._headers["TRON-PRO-API-KEY"] = api_key

    def make_request(self, method: str, params: Any = None) -> Any:
        """POST ``params`` as JSON to ``method`` (e.g. ``wallet/getaccount``) and return the decoded body."""
        started = time.perf_counter()
        status = 0
        try:
            resp = self._http.post(
                urljoin(self.endpoint_uri, method),
                content=codec.dumps({} if params is None else params),
                headers=self._headers,
                timeout=self.timeout,
            )
            status = resp.status_code
            if status >= 400:
                # The message names the status only: URLs may carry credentials of hosted nodes.
                raise ChainUnavailable(
                    f"{method}: node answered HTTP {status}",
                    reason=f"http_{status}",
                    retry_after=retry_after(resp.headers.get("Retry-After")),
                )
            try:
                answer = codec.loads(resp.content)
            except ValueError as exc:
                raise ChainUnavailable(f"{method}: node answered a body that is not JSON") from exc
            if isinstance(answer, dict) and "Error" in answer:
                text = str(answer["Error"])[:MAX_ERROR_TEXT]
                limited = bool(RATE_LIMITED.search(text))
                raise ChainUnavailable(
                    f"{method}: node error: {text}", reason="node_rate_limited" if limited else "node_error"
                )
            return answer
        finally:
            log.debug(
                "tron.request",
                method=method,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from an HTTP ``Retry-After`` (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
