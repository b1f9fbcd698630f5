"""tronpy's HTTP provider, re-seated on a transport of our own (pooling, timeouts, logging).

tronpy builds the request bodies (``visible`` flags and all); this module only carries them. The carrier
is a ``NodeHttp``: by default ``Urllib3NodeHttp``, a keep-alive ``urllib3`` pool, because the node is the
process's busiest peer (~28 requests a sweep) and ``httpx`` spends about 640 µs of client CPU on one of
these requests where ``urllib3`` spends about 230 µs (measured against a local node, same body).
``HttpxNodeHttp`` carries them on an injected ``httpx.Client`` instead (tests, callers that pass one).

The ``urllib3`` transport never retries and never follows a redirect: a broadcast must not be sent twice
behind the flow's back, which alone decides what to do after a failure. Like ``httpx`` with its defaults
it verifies TLS against ``certifi``'s bundle (or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), honours
``HTTP(S)_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` and sends a URL's ``user:password`` as Basic auth. Any of
its failures is ``ChainUnavailable`` naming the API method and the exception class, never the URL (URLs of
hosted nodes may carry credentials); ``httpx``'s own exceptions are mapped by ``sweeper.chain.errors``.

Every answer that is not an answer is ``ChainUnavailable`` here, before tronpy can call it anything else
(docs/TRON.md §10):

* any HTTP error status — TronGrid's rate limits (403 penalty or daily quota, 429, 503), a gateway's 5xx,
  an endpoint switched off (404) — with the ``Retry-After`` the node named, if any;
* an HTTP-200 ``{"Error": …}`` body: java-tron's own limiter (``lack of computing resources``) or any
  other failure to handle the request; the reason says which (``node_rate_limited`` / ``node_error``);
* a body that is not JSON (a lite full node's plain-text refusal, a proxy's HTML page).

None of these says anything about a transaction, so none may fail a sweep; only a broadcast's result code
or a receipt can. Only the API method and timing are logged, never bodies or headers.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import httpx
import structlog
import urllib3
from tronpy.providers import HTTPProvider
from tronpy.version import VERSION
from urllib3.util import make_headers

from sweeper.chain import codec
from sweeper.errors import ChainUnavailable

log = structlog.get_logger(__name__)

RATE_LIMITED = re.compile(
    r"lack of computing resources|rate ?limit|too many requests|exceed the user daily usage|server busy",
    re.IGNORECASE,
)
"""``{"Error"}`` texts that mean the node refuses to work for us now (java-tron's limiter, TronGrid)."""
MAX_ERROR_TEXT = 200
POOL_SIZE = 32
"""Keep-alive connections kept per node; more concurrent requests open (and drop) extra ones."""


class NodeHttp(Protocol):
    """What the provider needs of HTTP: one POST, its status, ``Retry-After`` and body."""

    failures: tuple[type[BaseException], ...]
    """Exceptions of this transport that mean "no answer"; the provider makes them ``ChainUnavailable``.
    Others leave as they are (``httpx``'s are mapped by ``sweeper.chain.errors``)."""

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, str | None, bytes]:
        """POST ``body`` to ``url``: ``(status, Retry-After header or None, content)``."""
        ...

    def close(self) -> None: ...


class HttpxNodeHttp:
    """``NodeHttp`` on an injected ``httpx.Client`` (its hooks, transport and limits apply)."""

    failures: tuple[type[BaseException], ...] = ()

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, str | None, bytes]:
        resp = self.client.post(url, content=body, headers=headers, timeout=timeout)
        return resp.status_code, resp.headers.get("Retry-After"), resp.content

    def close(self) -> None:
        self.client.close()


class _Route(NamedTuple):
    """How requests to one origin go: through a proxy or straight, with the URL's credentials if any."""

    opener: urllib3.ProxyManager | urllib3.HTTPConnectionPool
    """The origin's own pool when straight (it takes the path), the ``ProxyManager`` when proxied."""
    prefix: str
    """What goes before the path: ``""`` for a pool, ``scheme://host[:port]`` (no userinfo) for a proxy."""
    headers: Mapping[str, str]
    """Headers every request to this origin starts from (``Authorization`` from the URL's userinfo)."""


class Urllib3NodeHttp:
    """``NodeHttp`` on ``urllib3``: keep-alive pools, no retries, no redirects, env proxies and CAs.

    The environment is read once, here, as ``httpx.Client`` reads it: a proxy whose scheme is not http(s)
    is refused at once (``ValueError``), not at the first request.
    """

    failures: tuple[type[BaseException], ...] = (
        urllib3.exceptions.HTTPError,
        urllib3.exceptions.ProxySchemeUnsupported,
        http.client.HTTPException,
        OSError,
    )
    """Every exception ``urllib3`` defines (all but ``ProxySchemeUnsupported``, a ``ValueError``, derive
    from its ``HTTPError``); the last two guard against a socket or ``http.client`` error it might let
    through unwrapped. A unit test walks ``urllib3.exceptions`` so that a new class cannot slip past."""

    def __init__(self, *, maxsize: int = POOL_SIZE) -> None:
        self._tls = _ssl_context()
        # retries=False: no retry, no redirect, and the first failure raised as itself (no MaxRetryError).
        self._pool_kw: dict[str, Any] = {"maxsize": maxsize, "block": False, "retries": False}
        self._proxies = _environment_proxies()
        self._via = {
            proxy: _proxy_manager(proxy, self._tls, self._pool_kw)
            for proxy in dict.fromkeys(self._proxies.values())
        }
        self._pools: list[urllib3.HTTPConnectionPool] = []
        """The origins' own pools, kept here (not in a PoolManager's LRU, which closes what it evicts)."""
        self._routes: dict[tuple[str, str], _Route] = {}
        self._timeouts: dict[float, urllib3.Timeout] = {}
        self._lock = threading.Lock()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, str | None, bytes]:
        parts = urlsplit(url)
        route = self._routes.get((parts.scheme, parts.netloc)) or self._route(parts.scheme, parts.netloc)
        limits = self._timeouts.get(timeout) or self._timeouts.setdefault(
            timeout, urllib3.Timeout(connect=timeout, read=timeout)
        )
        resp = route.opener.urlopen(
            "POST",
            route.prefix + (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers={**route.headers, **headers},
            retries=False,
            redirect=False,
            timeout=limits,
        )
        return resp.status, resp.headers.get("Retry-After"), resp.data

    def close(self) -> None:
        """Close every pooled connection (``PoolManager.clear`` only forgets its pools: close them first)."""
        with self._lock:
            pools = list(self._pools)
            for manager in self._via.values():
                pools.extend(manager.pools[key] for key in manager.pools.keys())  # noqa: SIM118 - no iteration
                manager.clear()
            for pool in pools:
                pool.close()

    def _route(self, scheme: str, netloc: str) -> _Route:
        with self._lock:
            route = self._routes.get((scheme, netloc))
            if route is None:
                route = self._routes[scheme, netloc] = self._new_route(scheme, netloc)
            return route

    def _new_route(self, scheme: str, netloc: str) -> _Route:
        userinfo, _, hostport = netloc.rpartition("@")
        headers = {"Accept-Encoding": "gzip, deflate"}  # what httpx asks for: block infos compress well
        if userinfo:  # as httpx does, a URL's user:password is sent as Basic auth
            user, _, password = userinfo.partition(":")
            headers.update(make_headers(basic_auth=f"{unquote(user)}:{unquote(password)}"))
        proxy = None
        where = urlsplit(f"//{hostport}")
        host = where.hostname or ""
        if scheme in ("http", "https") and not urllib.request.proxy_bypass(host):
            proxy = self._proxies.get(scheme) or self._proxies.get("all")
        if proxy is not None:
            return _Route(self._via[proxy], f"{scheme}://{hostport}", headers)
        pool: urllib3.HTTPConnectionPool
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(host, where.port, ssl_context=self._tls, **self._pool_kw)
        elif scheme == "http":
            pool = urllib3.HTTPConnectionPool(host, where.port, **self._pool_kw)
        else:
            raise urllib3.exceptions.URLSchemeUnknown(scheme)
        self._pools.append(pool)
        return _Route(pool, "", headers)


def _ssl_context() -> ssl.SSLContext:
    """TLS verification as ``httpx`` sets it up: ``SSL_CERT_FILE``, else ``SSL_CERT_DIR``, else certifi."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def _environment_proxies() -> dict[str, str]:
    """``http`` / ``https`` / ``all`` proxies from the environment, each with a scheme (``httpx``'s rule)."""
    found = urllib.request.getproxies()
    return {
        scheme: found[scheme] if "://" in found[scheme] else f"http://{found[scheme]}"
        for scheme in ("http", "https", "all")
        if found.get(scheme)
    }


def _proxy_manager(proxy: str, tls: ssl.SSLContext, pool_kw: dict[str, Any]) -> urllib3.ProxyManager:
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https"):
        # The scheme only: a proxy URL may carry credentials.
        raise ValueError(f"proxy scheme {parts.scheme!r} is not supported for the node (http or https)")
    proxy_headers: dict[str, str] = {}
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        proxy_headers.update(make_headers(proxy_basic_auth=credentials))
    return urllib3.ProxyManager(
        f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
        num_pools=4,
        proxy_headers=proxy_headers,
        proxy_ssl_context=tls,  # an https:// proxy's own certificate
        ssl_context=tls,  # the node's, through the tunnel
        **pool_kw,
    )


class NodeProvider(HTTPProvider):  # type: ignore[misc]  # tronpy is untyped
    """A ``tronpy`` provider whose traffic goes through a ``NodeHttp``."""

    def __init__(
        self,
        endpoint_uri: str,
        *,
        http: NodeHttp,
        timeout: float = 10.0,
        api_key: str | None = None,
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
            try:
                status, wait, content = self._http.post(
                    urljoin(self.endpoint_uri, method),
                    codec.dumps({} if params is None else params),
                    self._headers,
                    self.timeout,
                )
            except self._http.failures as exc:
                # The class names the failure; its text may hold the host, and URLs may carry credentials.
                raise ChainUnavailable(f"{method}: no answer from the node: {type(exc).__name__}") from exc
            if status >= 400:
                # The message names the status only: URLs may carry credentials of hosted nodes.
                raise ChainUnavailable(
                    f"{method}: node answered HTTP {status}",
                    reason=f"http_{status}",
                    retry_after=retry_after(wait),
                )
            try:
                answer = codec.loads(content)
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
