"""The callback receiver: ``uvicorn tasks.web:app``, or ``sweeper web`` (docs/ARCHITECTURE.md §11).

``POST /callbacks/{provider}`` verifies the signature and timestamp, finds our order and checks that the
callback names the sweep's own address, records the raw event once under a unique key, enqueues
``advance`` and answers 200 at once. A callback never changes a sweep: ``advance`` re-reads the chain.
``GET /healthz`` pings the ledger; ``GET /metrics`` is Prometheus text from ledger aggregates and
provider probes (tasks/metrics.py); ``/console`` is the operator console when configured
(tasks/console.py).
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from config.settings import Settings
from sweeper.callbacks import event_key
from sweeper.energy.registry import CallbackParser, Registry, providers
from sweeper.errors import CallbackRejected, SweeperError
from sweeper.ledger import Ledger, LedgerUnavailable, Sweep
from tasks.console import Console, ConsoleConfig
from tasks.metrics import LedgerCollector, ProviderProbes

log = structlog.get_logger("sweeper.web")

UNAUTHORIZED_REASONS = frozenset({"bad_signature", "stale", "missing_headers"})
RECENT_LATENCY_SWEEPS = 1000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the receiver answers: an HTTP status and a small JSON body."""

    status: int
    body: dict[str, Any]


def _error(status: int, reason: str, message: str) -> Outcome:
    return Outcome(status, {"error": reason, "message": message})


class CallbackReceiver:
    """Verify, look up, record once, enqueue: the synchronous part, run in a worker thread."""

    def __init__(
        self,
        ledger: Ledger,
        secrets: Mapping[str, str],
        enqueue_advance: Callable[[int], None],
        *,
        parsers: Mapping[str, CallbackParser],
        clock: Callable[[], float],
        tolerance_s: float,
    ) -> None:
        self.ledger = ledger
        self._parsers = dict(parsers)
        self._secrets = dict(secrets)
        self._enqueue = enqueue_advance
        self._clock = clock
        self._tolerance_s = tolerance_s

    def handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        parse = self._parsers[provider]
        try:
            event = parse(
                headers,
                body,
                secret=self._secrets[provider],
                now=self._clock(),
                tolerance_seconds=self._tolerance_s,
            )
        except CallbackRejected as exc:
            log.warning("callback.rejected", provider=provider, reason=exc.reason, detail=exc.message)
            status = 401 if exc.reason in UNAUTHORIZED_REASONS else 400
            return _error(status, exc.reason, exc.message)
        context: dict[str, Any] = {
            "provider": provider,
            "order_no": event.out_trade_no,
            "serial": event.serial,
        }
        sweep = self._sweep_of(provider, event.out_trade_no)
        if sweep is None:
            log.warning("callback.unknown_order", **context)
            return _error(404, "unknown_order", f"no {provider} order {event.out_trade_no!r}")
        context["sweep_id"] = sweep.id
        if event.receive_address != sweep.address:
            log.warning("callback.address_mismatch", receive_address=event.receive_address, **context)
            return _error(400, "address_mismatch", "receive_address is not the order's deposit address")
        if event.serial:  # an order whose answer was lost can now be followed by the provider's id
            self.ledger.note_provider_order_id(provider, event.out_trade_no, event.serial)
        key = event_key(event)
        payload = body.decode("utf-8", errors="replace")
        if not self.ledger.record_callback(provider, key, payload, order_no=event.out_trade_no):
            log.info("callback.duplicate", event_key=key, **context)
            return Outcome(200, {"duplicate": True})
        try:
            self._enqueue(sweep.id)
        except Exception as exc:  # noqa: BLE001 - any broker failure: reconcile re-enqueues the sweep later
            log.error("callback.enqueue_failed", error=type(exc).__name__, **context)
            return _error(503, "enqueue_failed", "recorded, but advance could not be enqueued now")
        log.info("callback.accepted", event_key=key, status=event.status_code, **context)
        return Outcome(200, {})

    def _sweep_of(self, provider: str, order_no: str) -> Sweep | None:
        """The sweep that placed our order ``order_no`` at ``provider``, if there is one."""
        if not order_no:
            return None
        orders = [o for o in self.ledger.find_orders(order_no) if o.source == provider]
        return self.ledger.get_sweep(orders[0].sweep_id) if orders else None


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be longer than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_web_app(
    ledger: Ledger,
    verify_secrets: Mapping[str, str],
    enqueue_advance: Callable[[int], None],
    *,
    clock: Callable[[], float] = time.time,
    tolerance_s: float = 300,
    max_body: int = 64 * 1024,
    head_block: Callable[[], int] | None = None,
    registry: Registry | None = None,
    metrics_cache_seconds: float = 0.0,
    metrics_token: str | None = None,
    probes: ProviderProbes | None = None,
    console: Console | None = None,
    spend_budget_sun_per_hour: int | None = None,
) -> Starlette:
    """The receiver with its dependencies injected.

    ``verify_secrets`` maps a provider to the secret its callbacks are signed with; a provider without
    one is refused. ``enqueue_advance(sweep_id)`` must return quickly (it enqueues, no more). Which
    providers send callbacks, and how each is verified, is read from ``registry`` (default: every
    registered energy source); anything posted in the name of a source that sends none is refused.
    ``/metrics`` asks for ``Authorization: Bearer <metrics_token>`` when one is given; ``console`` (off
    when None) adds the operator console's routes under ``/console``.
    """
    known = registry if registry is not None else providers()
    parsers = {spec.name: spec.callbacks.parse for spec in known if spec.callbacks is not None}
    receiver = CallbackReceiver(
        ledger, verify_secrets, enqueue_advance, parsers=parsers, clock=clock, tolerance_s=tolerance_s
    )
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(
        LedgerCollector(
            ledger,
            head_block,
            cache_seconds=metrics_cache_seconds,
            probes=probes,
            spend_budget_sun_per_hour=spend_budget_sun_per_hour,
        )
    )

    async def callback(request: Request) -> Response:
        provider = request.path_params["provider"]
        if provider not in known:
            return JSONResponse(
                {"error": "unknown_provider", "message": f"unknown provider {provider!r}"}, 404
            )
        if provider not in parsers:
            return JSONResponse({"error": "no_callbacks", "message": "provider sends no callbacks"}, 404)
        if not verify_secrets.get(provider):
            log.warning("callback.not_configured", provider=provider)
            return JSONResponse(
                {"error": "not_configured", "message": f"no API secret is configured for {provider}"}, 404
            )
        body = await read_limited(request, max_body)
        if body is None:
            log.warning("callback.too_large", provider=provider, limit=max_body)
            return JSONResponse({"error": "too_large", "message": f"body is over {max_body} bytes"}, 413)
        try:
            outcome = await run_in_threadpool(receiver.handle, provider, dict(request.headers), body)
        except SweeperError as exc:  # LedgerUnavailable: the provider retries later
            log.warning("callback.unavailable", provider=provider, reason=exc.reason)
            return JSONResponse({"error": exc.reason, "message": "try again later"}, 503)
        return JSONResponse(outcome.body, outcome.status)

    async def healthz(_: Request) -> Response:
        try:
            await run_in_threadpool(ledger.ping)
        except LedgerUnavailable:
            return JSONResponse({"ok": False, "db": "unavailable"}, 503)
        return JSONResponse({"ok": True, "db": "ok"})

    async def metrics(request: Request) -> Response:
        if metrics_token and not _bearer_ok(request, metrics_token):
            return Response("unauthorized\n", 401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        text = await run_in_threadpool(generate_latest, collectors)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/callbacks/{provider}", callback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            *(console.routes() if console is not None else []),
        ]
    )


def _bearer_ok(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def from_runtime() -> Starlette:
    """Build the receiver from this process's runtime (settings, ledger, the advance enqueuer)."""
    from config.settings import load_settings
    from tasks.runtime import runtime
    from tasks.startup import refuse_unless_ready

    refuse_unless_ready(load_settings(), signs=False)  # one line per problem; it never signs
    from tasks.sweeping import enqueue_advance  # builds the Celery app: only once the settings are valid

    rt = runtime()
    web = rt.settings.web
    probes = ProviderProbes(rt.sources)
    probes.start(web.probe_interval_seconds)
    config = ConsoleConfig.from_settings(
        web,
        sun_per_hour=rt.settings.budget.sun_per_hour,
        decimals={t.contract: t.decimals for t in rt.settings.tokens},
    )
    console = Console(config, rt.ledger, _send_task, probes=probes) if config is not None else None
    log.info(
        "web.start", console="on" if console is not None else "off", metrics_auth=bool(web.metrics_token)
    )
    return create_web_app(
        rt.ledger,
        callback_secrets(rt.settings),
        enqueue_advance,
        head_block=rt.chain.head_block_number,
        metrics_cache_seconds=web.metrics_cache_seconds,
        metrics_token=web.metrics_token.get_secret_value() if web.metrics_token else None,
        probes=probes,
        console=console,
        spend_budget_sun_per_hour=rt.settings.budget.sun_per_hour,
    )


def _send_task(name: str, **kwargs: Any) -> str:
    """Queue the task ``name`` for the workers, as ``sweeper sweep`` does; returns its id."""
    from tasks.app import app as celery_app

    return str(celery_app.send_task(name, kwargs=kwargs).id)


def callback_secrets(settings: Settings) -> dict[str, str]:
    """Each callback-sending source's verifying secret, for those where it is configured."""
    energy = settings.energy
    secrets = {spec.name: spec.callback_secret(energy.provider(spec.name)) for spec in energy.registry}
    return {name: secret for name, secret in secrets.items() if secret}


class LazyApp:
    """An ASGI app that builds the real one on first use, so importing this module needs no settings.

    The server's lifespan start-up is that first use: invalid configuration stops the server there,
    with its message, instead of leaving it up to answer 500 to every request.
    """

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _get(self) -> ASGIApp:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._app is None:
            try:
                self._get()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported to the server, which then exits
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        app = self._app if self._app is not None else self._get()
        await app(scope, receive, send)


app = LazyApp(from_runtime)
