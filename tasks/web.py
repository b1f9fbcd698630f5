"""The callback receiver: ``uvicorn tasks.web:app``, or ``sweeper web`` (docs/ARCHITECTURE.md §11).

``POST /callbacks/{provider}`` verifies the signature and timestamp, finds our order and checks that the
callback names the sweep's own address, records the raw event once under a unique key, enqueues
``advance`` and answers 200 at once. A callback never changes a sweep: ``advance`` re-reads the chain.
``GET /healthz`` pings the ledger; ``GET /metrics`` is Prometheus text read from the ledger at scrape
time, so every worker and web process reports the same numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
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
from sweeper.ledger import Ledger, LedgerUnavailable, Sweep, stats
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import OrderRequestStatus
from sweeper.models import SweepState

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


class LedgerCollector(Collector):
    """Prometheus metrics computed from the ledger on every scrape (correct across processes)."""

    def __init__(self, ledger: Ledger, head_block: Callable[[], int] | None = None) -> None:
        self.ledger = ledger
        self.head_block = head_block

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sweeper_ledger_up", "1 if the ledger answered this scrape, else 0.")
        try:
            metrics = list(self._from_ledger())
        except LedgerUnavailable as exc:
            log.warning("metrics.ledger_unavailable", detail=str(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _from_ledger(self) -> Iterator[Metric]:
        totals = self.ledger.summary()
        tokens = sorted({(t.token_symbol, t.token_contract) for t in totals})
        counts = {(t.state, t.token_symbol, t.token_contract): t.count for t in totals}
        sweeps = GaugeMetricFamily(
            "sweeper_sweeps", "Sweeps in each state, by token.", labels=["state", "token", "contract"]
        )
        for symbol, contract in tokens:
            for state in SweepState:
                sweeps.add_metric([state.value, symbol, contract], counts.get((state, symbol, contract), 0))
        yield sweeps

        cost = CounterMetricFamily(
            "sweeper_cost_sun",
            "Sun spent on sweeps (energy, activation, burn).",
            labels=["token", "contract"],
        )
        for symbol, contract in tokens:
            spent = sum(
                t.cost_sun for t in totals if (t.token_symbol, t.token_contract) == (symbol, contract)
            )
            cost.add_metric([symbol, contract], spent)
        yield cost

        latency = HistogramMetricFamily(
            "sweeper_confirmed_latency_seconds",
            "Seconds from detection to confirmation of CONFIRMED sweeps.",
            labels=["token"],
        )
        for h in stats.confirmed_latency_histograms(self.ledger):
            buckets = [(str(float(b)), n) for b, n in h.buckets] + [("+Inf", h.count)]
            latency.add_metric([h.token_symbol], buckets, h.sum_seconds)
        yield latency

        recent = GaugeMetricFamily(
            "sweeper_confirmed_latency_recent_seconds",
            f"Latency quantiles over the {RECENT_LATENCY_SWEEPS} newest CONFIRMED sweeps.",
            labels=["token", "quantile"],
        )
        for token, values in stats.recent_confirmed_latencies(self.ledger, RECENT_LATENCY_SWEEPS).items():
            for q in ("0.5", "0.95"):
                recent.add_metric([token, q], stats.quantile(values, float(q)))
        yield recent

        errors = GaugeMetricFamily(
            "sweeper_provider_errors",
            "Energy orders that FAILED or ended UNKNOWN (lost response), by source.",
            labels=["source", "status"],
        )
        bad = (OrderRequestStatus.FAILED, OrderRequestStatus.UNKNOWN)
        found = {(source, status): n for source, status, n in stats.order_counts(self.ledger, bad)}
        for source in stats.order_sources(self.ledger):
            for status in bad:
                errors.add_metric([source, status.value], found.get((source, status), 0))
        yield errors

        yield from self._scanner()
        yield from self._guards()

    def _guards(self) -> Iterator[Metric]:
        """The spend guards: the kill switch, energy spend, budget crossings, quarantined addresses."""
        controls = SpendControls(self.ledger)
        paused = GaugeMetricFamily("sweeper_spending_paused", "1 while `sweeper pause` stops all spending.")
        paused.add_metric([], 1 if controls.paused() else 0)
        yield paused
        since = datetime.now(UTC) - timedelta(hours=1)
        yield GaugeMetricFamily(
            "sweeper_energy_spend_last_hour_sun",
            "Sun the energy orders of the last hour may have cost (the hourly budget's figure).",
            value=controls.spent_since(since),
        )
        crossings = CounterMetricFamily(
            "sweeper_budget_crossings",
            "Times a spend budget was crossed (spending paused).",
            labels=["budget"],
        )
        found = controls.crossings()
        for budget in ("orders_per_sweep", "orders_per_address", "sun_per_hour"):
            crossings.add_metric([budget], found.get(budget, 0))
        yield crossings
        yield GaugeMetricFamily(
            "sweeper_quarantined_addresses",
            "Addresses no detection reopens after a failed sweep, until `sweeper release`.",
            value=controls.quarantine_list(limit=0)[0],
        )

    def _scanner(self) -> Iterator[Metric]:
        positions = stats.cursors(self.ledger)
        cursor = GaugeMetricFamily(
            "sweeper_scanner_cursor_block", "Last block fully scanned.", labels=["cursor"]
        )
        for name, block in positions.items():
            cursor.add_metric([name], block)
        yield cursor
        if self.head_block is None:
            return
        try:
            head = self.head_block()
        except Exception as exc:  # noqa: BLE001 - a node problem must not break the whole scrape
            log.warning("metrics.head_block_failed", error=type(exc).__name__)
            return
        yield GaugeMetricFamily("sweeper_chain_head_block", "Head block as the node reports it.", value=head)
        lag = GaugeMetricFamily(
            "sweeper_scanner_lag_blocks", "Head block minus the cursor.", labels=["cursor"]
        )
        for name, block in positions.items():
            lag.add_metric([name], head - block)
        yield lag


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
) -> Starlette:
    """The receiver with its dependencies injected.

    ``verify_secrets`` maps a provider to the secret its callbacks are signed with; a provider without
    one is refused. ``enqueue_advance(sweep_id)`` must return quickly (it enqueues, no more). Which
    providers send callbacks, and how each is verified, is read from ``registry`` (default: every
    registered energy source); anything posted in the name of a source that sends none is refused.
    """
    known = registry if registry is not None else providers()
    parsers = {spec.name: spec.callbacks.parse for spec in known if spec.callbacks is not None}
    receiver = CallbackReceiver(
        ledger, verify_secrets, enqueue_advance, parsers=parsers, clock=clock, tolerance_s=tolerance_s
    )
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(LedgerCollector(ledger, head_block))

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

    async def metrics(_: Request) -> Response:
        text = await run_in_threadpool(generate_latest, collectors)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/callbacks/{provider}", callback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


def from_runtime() -> Starlette:
    """Build the receiver from this process's runtime (settings, ledger, the advance enqueuer)."""
    from config.settings import load_settings
    from tasks.runtime import runtime
    from tasks.startup import refuse_unless_ready
    from tasks.sweeping import enqueue_advance

    refuse_unless_ready(load_settings())  # one line per problem, reported by the server's start-up
    rt = runtime()
    secrets = callback_secrets(rt.settings)
    return create_web_app(rt.ledger, secrets, enqueue_advance, head_block=rt.chain.head_block_number)


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
            except Exception as exc:  # noqa: BLE001 - reported to the server, which then exits
                await receive()  # lifespan.startup
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        app = self._app if self._app is not None else self._get()
        await app(scope, receive, send)


app = LazyApp(from_runtime)
