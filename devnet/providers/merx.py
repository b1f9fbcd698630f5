"""The MERX exchange API (docs/PROVIDERS.md, MERX), served at the root of its own port.

What it does, and where the documents leave room (the choices are listed in docs/PROVIDERS.md):
- ``X-API-Key`` on every endpoint but ``GET /api/v1/prices``; errors are ``{"error": {"code", "message"}}``
  with the HTTP status (401 UNAUTHORIZED, 400 VALIDATION_ERROR / INSUFFICIENT_BALANCE / NO_PROVIDERS,
  404 NOT_FOUND; a 5xx reads as a lost reply and is re-asked under the same key); answers are wrapped
  in ``{"data": ...}`` as the official SDK reads them;
- ``POST /api/v1/orders``: ENERGY (at least 65,000) or BANDWIDTH, MARKET orders filled from this
  simulator's pool ("devnet") at its unit price; ``max_price_sun`` below the price fails the order;
  an ``Idempotency-Key`` seen within 24 hours answers the original reply and orders nothing;
- statuses PENDING (paid) → EXECUTING (delegation sent) → FILLED (mined; the fill carries its tx_id), or
  FAILED (refunded); ``GET /api/v1/orders/{id}`` shows the fills;
- webhooks registered with ``POST /api/v1/webhooks`` get ``order.filled`` / ``order.failed``, signed
  ``X-Merx-Signature: sha256=<hex HMAC-SHA256 of the body>``, retried after 1, 4 and 16 s, deactivated
  after 3 consecutive failures;
- the per-IP rate limits are not enforced (every devnet client shares one address);
- faults: ``error_code`` (a MERX error code, answered 400), ``insufficient_resources`` (400
  NO_PROVIDERS), ``drop_response`` (the order is created and paid, the reply is a bodiless 504),
  ``order_outcome`` (the order fails at delivery and is refunded).
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import (
    POOL_TRX_SUN,
    SUN_PER_TRX,
    Account,
    as_int,
    checked,
    hmac_sha256_hex,
    is_tron_address,
    parse_json_object,
    pool_address,
    trx_number,
)
from devnet.providers.orders import ACTIVE, DELEGATING, FAILED, PAID, RECLAIMED, Order, OrderBook, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

API_KEY = "sk_live_your_key_here"
"""The sample key printed in MERX's authentication page."""
PRICES = {"1H": 44, "1D": 80}
"""Sun per energy by rental period (the devnet's choice: MERX's own prices are its providers')."""
BANDWIDTH_PRICE_SUN = 900
"""Sun per byte of bandwidth (the devnet's choice)."""
MIN_ENERGY = 65_000
IDEMPOTENCY_WINDOW_S = 24 * 3600
WEBHOOK_RETRIES_S = (1.0, 4.0, 16.0)
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_MAX_FAILURES = 3
POOL_NET_STAKE_SUN = 10**8 * SUN_PER_TRX


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class ResourceBook(OrderBook):
    """The shared order lifecycle, delegating bandwidth from a bandwidth pool for BANDWIDTH orders."""

    def __init__(self, chain: Any, pool: str, *, net_pool: str, **kwargs: Any) -> None:
        super().__init__(chain, pool, **kwargs)
        self.net_pool = net_pool

    def _delegate(self, order: Order, number: int) -> None:
        if order.kind != "bandwidth" or order.forced_outcome:
            super()._delegate(order, number)
            return
        self._delegating(
            order, number, lambda: self.chain.delegate_bandwidth(self.net_pool, order.receiver, order.energy)
        )

    def _undelegate(self, order: Order) -> None:
        if order.kind != "bandwidth":
            super()._undelegate(order)
            return
        with contextlib.suppress(Exception):
            order.reclaim_txid = self.chain.undelegate_bandwidth(self.net_pool, order.receiver, order.energy)
        with self.lock:
            if order.state != ACTIVE:
                return
            order.state, order.reclaimed_at = RECLAIMED, time.time()
            self._open.pop(order.id, None)
        self._notify(order)


class Merx(OrderDesk):
    """State and handlers of one simulated MERX account."""

    book: ResourceBook

    def __init__(self, context: SimulatorContext) -> None:
        net_pool = pool_address("merx-bandwidth")  # a second pool, its TRX staked for bandwidth
        if not context.chain.account_exists(net_pool):
            context.chain.create_pool(net_pool, POOL_TRX_SUN, 0, POOL_NET_STAKE_SUN)
        book = functools.partial(ResourceBook, net_pool=net_pool)
        super().__init__(context, Account(API_KEY, ""), book=book)
        self.prices = {p: int(v) for p, v in context.prices.items()}
        self.callback_scale = context.callback_time_scale
        self.replies: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------
    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("X-API-Key") != self.account.api_key:
            return _error(401, "UNAUTHORIZED", "Invalid or missing API key")
        return None

    def _unit_price(self, resource: str, duration_sec: int) -> int:
        if resource == "BANDWIDTH":
            return BANDWIDTH_PRICE_SUN
        hours = max(1, -(-duration_sec // 3600))
        return self.prices["1H"] if hours <= 1 or "1D" not in self.prices else self.prices["1D"]

    def _view(self, order: Order) -> dict[str, Any]:
        status = {PAID: "PENDING", DELEGATING: "EXECUTING", FAILED: "FAILED"}.get(order.state, "FILLED")
        extra = order.extra
        filled = order.delegated_at if status == "FILLED" else None
        fills = []
        if order.delegate_txid and status != "FAILED":
            fills.append(
                {
                    "provider": "devnet",
                    "amount": order.energy,
                    "price_sun": extra["price_sun"],
                    "cost_sun": order.cost,
                    "tx_id": order.delegate_txid,
                    "status": "CONFIRMED" if status == "FILLED" else "PENDING",
                    "verified": status == "FILLED",
                }
            )
        return {
            "id": order.id,
            "status": status,
            "resource_type": extra["resource_type"],
            "order_type": "MARKET",
            "amount": order.energy,
            "duration_sec": extra["duration_sec"],
            "target_address": order.receiver,
            "max_price_sun": extra.get("max_price_sun"),
            "total_cost_sun": order.cost if status != "FAILED" else None,
            "total_fee_sun": 0,
            "fills": fills,
            "created_at": _iso(order.created),
            "filled_at": _iso(filled),
        }

    # -- endpoints -------------------------------------------------------------------------------
    async def prices_list(self, request: Request) -> Response:
        energy = [
            {"duration_sec": 3600 if p == "1H" else 86400, "price_sun": v} for p, v in self.prices.items()
        ]
        entry = {
            "provider": "devnet",
            "is_market": False,
            "energy_prices": energy,
            "bandwidth_prices": [{"duration_sec": 3600, "price_sun": BANDWIDTH_PRICE_SUN}],
            "available_energy": self.chain.energy_available(self.book.pool),
            "available_bandwidth": self.chain.bandwidth_available(self.book.net_pool)[1],
            "fetched_at": int(time.time()),
        }
        return JSONResponse({"data": [entry]})

    @checked
    async def preview(self, request: Request) -> Response:
        q = request.query_params
        resource, amount, duration = q.get("resource", ""), as_int(q.get("amount")), as_int(q.get("duration"))
        if resource not in ("ENERGY", "BANDWIDTH") or amount is None or amount < 1 or not duration:
            return _error(400, "VALIDATION_ERROR", "resource, amount and duration are required")
        price = self._unit_price(resource, duration)
        best = {
            "provider": "devnet",
            "displayName": "Devnet pool",
            "price_sun": price,
            "cost_trx": str(trx_number(price * amount)),
            "duration_sec": duration,
        }
        return JSONResponse({"data": {"best": best, "fallbacks": [], "no_providers": False}})

    @checked
    async def balance(self, request: Request) -> Response:
        data = {
            "trx": trx_number(self.account.balance),
            "usdt": 0,
            "trx_locked": 0,
            "updated_at": _iso(time.time()),
        }
        return JSONResponse({"data": data})

    @checked
    async def create(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key:
            with self._lock:
                seen = self.replies.get(key)
            if seen is not None and time.time() - seen[0] < IDEMPOTENCY_WINDOW_S:
                return JSONResponse(seen[2], status_code=seen[1])
        body = parse_json_object(await request.body())
        if body is None:
            return _error(400, "VALIDATION_ERROR", "Request body must be a JSON object")
        resource, amount = body.get("resource_type"), as_int(body.get("amount"))
        duration, address = as_int(body.get("duration_sec")), body.get("target_address")
        order_type = body.get("order_type", "MARKET")
        max_price = body.get("max_price_sun")
        if resource not in ("ENERGY", "BANDWIDTH"):
            return _error(400, "VALIDATION_ERROR", "resource_type must be ENERGY or BANDWIDTH")
        if order_type != "MARKET":
            return _error(400, "VALIDATION_ERROR", "the devnet fills MARKET orders only")
        if amount is None or amount < 1 or (resource == "ENERGY" and amount < MIN_ENERGY):
            return _error(400, "VALIDATION_ERROR", f"amount must be at least {MIN_ENERGY} for energy")
        if duration is None or duration < 1:
            return _error(400, "VALIDATION_ERROR", "duration_sec is required")
        if not is_tron_address(address):
            return _error(400, "INVALID_ADDRESS", "target_address is not a valid TRON address")
        forced = self.faults.take_error()
        if forced is not None:
            return _error(400, str(forced), "forced by the devnet")
        price = self._unit_price(str(resource), duration)
        if max_price is not None and (as_int(max_price) or 0) < price:
            return _error(400, "PRICE_EXCEEDED", f"best price {price} sun is above max_price_sun")
        pool_free = (
            self.chain.energy_available(self.book.pool)
            if resource == "ENERGY"
            else self.chain.bandwidth_available(self.book.net_pool)[1]
        )
        if self.short_of(amount, pool_free):
            return _error(400, "NO_PROVIDERS", "no provider can fill this order now")
        if not self.chain.account_exists(address):
            return _error(400, "ADDRESS_NOT_ACTIVATED", "target_address is not activated on chain")
        cost = price * amount
        if cost > self.account.balance:
            return _error(400, "INSUFFICIENT_BALANCE", "the account balance does not cover this order")
        order = self.accept(
            str(uuid.uuid4()),
            str(address),
            amount,
            period="1H",
            period_s=duration * self.time_scale,
            cost=cost,
            ref=key,
            kind="bandwidth" if resource == "BANDWIDTH" else "energy",
            extra={
                "resource_type": resource,
                "duration_sec": duration,
                "price_sun": price,
                "max_price_sun": max_price,
            },
        )
        reply = {"data": self._view(order)}
        if key:
            with self._lock:
                self.replies[key] = (time.time(), 201, reply)
        if self.faults.take_drop_response():
            return Response(status_code=504)
        return JSONResponse(reply, status_code=201)

    @checked
    async def list_orders(self, request: Request) -> Response:
        q = request.query_params
        limit, offset = min(as_int(q.get("limit")) or 30, 100), as_int(q.get("offset")) or 0
        views = [self._view(o) for o in sorted(self.book.all(), key=lambda o: o.created, reverse=True)]
        if q.get("status"):
            views = [v for v in views if v["status"] == q.get("status")]
        return JSONResponse({"data": {"orders": views[offset : offset + limit], "total": len(views)}})

    @checked
    async def get_order(self, request: Request) -> Response:
        order = self.book.get(request.path_params["id"])
        if order is None:
            return _error(404, "NOT_FOUND", "Order not found")
        return JSONResponse({"data": self._view(order)})

    @checked
    async def create_webhook(self, request: Request) -> Response:
        body = parse_json_object(await request.body()) or {}
        url, events = body.get("url"), body.get("events")
        known = {"order.filled", "order.failed", "deposit.received", "withdrawal.completed"}
        if not isinstance(url, str) or not isinstance(events, list) or not events or not set(events) <= known:
            return _error(400, "VALIDATION_ERROR", "url and at least one known event are required")
        hook = {
            "id": f"wh_{uuid.uuid4().hex[:12]}",
            "url": url,
            "events": events,
            "secret": secrets.token_hex(32),
            "is_active": True,
            "created_at": _iso(time.time()),
            "failures": 0,
        }
        with self._lock:
            self.webhooks[hook["id"]] = hook
        return JSONResponse({"data": {k: v for k, v in hook.items() if k != "failures"}}, status_code=201)

    # -- lifecycle -------------------------------------------------------------------------------
    def _changed(self, order: Order) -> None:
        super()._changed(order)
        event = {ACTIVE: "order.filled", FAILED: "order.failed"}.get(order.state)
        if event is None:
            return
        body = json.dumps(
            {"event": event, "data": self._view(order), "timestamp": int(time.time())}, separators=(",", ":")
        )
        with self._lock:
            hooks = [h for h in self.webhooks.values() if h["is_active"] and event in h["events"]]
        for hook in hooks:
            threading.Thread(target=self._deliver, args=(hook, body), daemon=True).start()

    def _deliver(self, hook: dict[str, Any], body: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Merx-Signature": "sha256=" + hmac_sha256_hex(hook["secret"], body),
        }
        for delay in (0.0, *WEBHOOK_RETRIES_S):
            time.sleep(delay * self.callback_scale)
            mode, extra = self.faults.callback_mode()
            if mode == "drop":
                continue
            time.sleep(extra)
            try:
                ok = httpx.post(
                    hook["url"], content=body.encode(), headers=headers, timeout=WEBHOOK_TIMEOUT_S
                )
                if 200 <= ok.status_code < 300:
                    with self._lock:
                        hook["failures"] = 0
                    return
            except httpx.HTTPError:
                pass
        with self._lock:
            hook["failures"] += 1
            hook["is_active"] = hook["failures"] < WEBHOOK_MAX_FAILURES


def _simulate(context: SimulatorContext) -> Simulation:
    sim = Merx(context)
    routes = [
        Route("/api/v1/prices", sim.prices_list, methods=["GET"]),
        Route("/api/v1/balance", sim.balance, methods=["GET"]),
        Route("/api/v1/orders/preview", sim.preview, methods=["GET"]),
        Route("/api/v1/orders", sim.create, methods=["POST"]),
        Route("/api/v1/orders", sim.list_orders, methods=["GET"]),
        Route("/api/v1/orders/{id}", sim.get_order, methods=["GET"]),
        Route("/api/v1/webhooks", sim.create_webhook, methods=["POST"]),
    ]
    return Simulation.serving(routes, context.faults, sim.account)


SIMULATOR = SimulatorSpec(
    name="merx",
    port_offset=4,
    build=_simulate,
    credentials={"api_key": API_KEY},
    prices=PRICES,
)
