"""FixedRate, simulated: energy at one fixed price per unit, delegated from its own staked pool account.

Serves what ``sweeper/energy/fixedrate.py`` expects (its docstring has the API). An order delegates
``delay_blocks`` blocks after it is placed and is delivered once the delegation is mined; then the order
is posted once (no retries) to its ``callback_url``, signed with the callback secret. The generic faults
apply to ``/v1/``; ``/devnet/provider-faults`` takes the provider switches like every simulator's.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import (
    Account,
    as_int,
    hmac_sha256_hex,
    is_tron_address,
    parse_json_object,
    period_seconds,
)
from devnet.providers.orders import ACTIVE, DELEGATING, FAILED, PAID, Order, OrderBook
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec
from devnet.providers.state import admin_endpoint

API_KEY = "fixedrate-sample-api-key"
CALLBACK_SECRET = "fixedrate-sample-callback-secret"
PRICES = {"1H": 40}


def _status(order: Order) -> str:
    if order.state in (PAID, DELEGATING):
        return "pending"
    return "failed" if order.state == FAILED else "delivered"


class FixedRate:
    """State and handlers of one simulated FixedRate account."""

    def __init__(self, context: SimulatorContext) -> None:
        self.chain, self.faults = context.chain, context.faults
        self.unit_price = int(context.prices["1H"])
        self.delay_blocks = context.delay_blocks
        self.period_s = period_seconds("1H", context.time_scale)
        self.account = Account(API_KEY, CALLBACK_SECRET)
        self.book = OrderBook(context.chain, context.pool, on_change=self._changed)

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("X-Api-Key") != self.account.api_key:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return None

    @staticmethod
    def _view(order: Order) -> dict[str, Any]:
        return {
            "id": order.id,
            "order_no": order.ref,
            "address": order.receiver,
            "energy": order.energy,
            "cost_sun": order.cost,
            "status": _status(order),
            "txid": order.delegate_txid,
        }

    async def price(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse({"sun_per_energy": self.unit_price})

    async def balance(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse({"balance_sun": self.account.balance})

    async def find(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        placed = self.book.by_ref(request.path_params["order_no"])
        if not placed:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(self._view(placed[0]))

    async def place(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = parse_json_object(await request.body()) or {}
        ref, address, energy = body.get("order_no"), body.get("address"), as_int(body.get("energy"))
        if not isinstance(ref, str) or not ref or not is_tron_address(address) or not energy or energy < 1:
            return JSONResponse({"error": "bad_request"}, status_code=400)
        placed = self.book.by_ref(ref)
        if placed:
            return JSONResponse(self._view(placed[0]))
        forced = self.faults.take_error()
        if forced is not None:
            return JSONResponse({"error": str(forced)}, status_code=400)
        if not self.chain.account_exists(address):
            return JSONResponse({"error": "not_activated"}, status_code=400)
        cost = self.unit_price * energy
        if cost > self.account.balance:
            return JSONResponse({"error": "insufficient_balance"}, status_code=400)
        order = Order(
            id=uuid.uuid4().hex,
            receiver=str(address),
            energy=energy,
            period="1H",
            period_s=self.period_s,
            cost=cost,
            deliver_at=self.chain.head_number() + max(1, self.delay_blocks),
            ref=ref,
            forced_outcome=self.faults.take_outcome(),
            extra={"callback_url": body.get("callback_url")},
        )
        self.account.debit(cost, energy)
        self.book.add(order)
        if self.faults.take_drop_response():
            return Response(status_code=504)
        return JSONResponse(self._view(order))

    def _changed(self, order: Order) -> None:
        if order.state == FAILED:
            self.account.refund(order.refund)
        url = order.extra.get("callback_url")
        if order.state in (ACTIVE, FAILED) and isinstance(url, str) and url:
            body = json.dumps({**self._view(order), "timestamp": int(time.time())}, separators=(",", ":"))
            threading.Thread(target=self._post, args=(url, body), daemon=True).start()

    def _post(self, url: str, body: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Signature": hmac_sha256_hex(self.account.secret, body),
        }
        with contextlib.suppress(httpx.HTTPError):  # one attempt only: the sweeper polls the order anyway
            httpx.post(url, content=body.encode(), headers=headers, timeout=10)


def _simulate(context: SimulatorContext) -> Simulation:
    sim = FixedRate(context)
    routes = [
        Route("/v1/price", sim.price, methods=["GET"]),
        Route("/v1/balance", sim.balance, methods=["GET"]),
        Route("/v1/orders", sim.place, methods=["POST"]),
        Route("/v1/orders/{order_no}", sim.find, methods=["GET"]),
        Route(
            "/devnet/provider-faults",
            admin_endpoint(context.faults, sim.account),
            methods=["GET", "POST", "DELETE"],
        ),
    ]
    return Simulation(Starlette(routes=routes), sim.account)


SIMULATOR = SimulatorSpec(
    name="fixedrate",
    port_offset=19,
    build=_simulate,
    credentials={"api_key": API_KEY, "callback_secret": CALLBACK_SECRET},
    prices=PRICES,
)
