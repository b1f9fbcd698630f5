"""The CatFee.IO REST API (docs/PROVIDERS.md, CatFee), served at the root of its own port.

What it does, and where the documents leave room (the choices are listed in docs/PROVIDERS.md):
- every request needs ``CF-ACCESS-KEY``, ``CF-ACCESS-TIMESTAMP`` (ISO 8601 UTC, within 5 s of now) and
  ``CF-ACCESS-SIGN`` = base64 HMAC-SHA256 of ``timestamp + METHOD + path?query`` (the raw query string as
  sent); a bad one is HTTP 401. Answers are ``{"code", "msg", "sub_code", "sub_msg", "data"}`` with
  ``code`` 0 for success; refusals are HTTP 400 with ``code`` 1 and a devnet ``sub_code``;
- ``POST /v1/order?quantity=&receiver=&duration=1h[&client_order_id=][&activate=]``: at least 65,000
  energy for 1 h; a ``client_order_id`` seen before answers the original order and charges nothing; an
  address not on chain is activated first (``activate_amount_sun``) unless ``activate=false``;
- statuses: PAYMENT_SUCCESS (paid) → DELEGATE_SUCCESS (delegation sent, ``confirm_status`` UNCONFIRMED)
  → DELEGATION_CONFIRMED once mined; a failed delegation is DELEGATE_FAILED and refunded;
- ``GET /v1/order/{id}``, ``GET /v1/estimate?quantity=&duration=`` (``pay_amount_sun``,
  ``activate_amount_sun``), ``GET /v1/account`` (``balance`` in sun);
- faults: ``error_code``, ``insufficient_resources``, ``drop_response`` (the order is created and paid,
  the reply is a bodiless 504), ``order_outcome`` (the order fails at delivery and is refunded).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import Account, as_int, checked, is_tron_address
from devnet.providers.orders import DELEGATING, FAILED, PAID, Order, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

API_KEY = "catfee-devnet-sample-key"
API_SECRET = "catfee-devnet-sample-secret"
PRICES = {"1H": 47}
"""Sun per energy for the 1 h rental (the devnet's choice)."""
ACTIVATION_SUN = 1_100_000
"""What activating an address costs here (the devnet's choice; CatFee prints no figure)."""
ACTIVATION_TRANSFER_SUN = 1
MIN_ENERGY = 65_000
MAX_CLIENT_ORDER_ID = 64
TIMESTAMP_TOLERANCE_S = 5.0


def catfee_signature(secret: str, timestamp: str, method: str, request_path: str) -> str:
    message = f"{timestamp}{method}{request_path}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _reply(
    data: Any, status: int = 200, code: int = 0, sub_code: str = "", msg: str = "success"
) -> JSONResponse:
    body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": msg if code else "", "data": data}
    return JSONResponse(body, status_code=status)


def _refusal(sub_code: str, message: str, status: int = 400) -> JSONResponse:
    return _reply(None, status, 1, sub_code, message)


def _parse_timestamp(value: str) -> float | None:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


class Catfee(OrderDesk):
    """State and handlers of one simulated CatFee account."""

    def __init__(self, context: SimulatorContext) -> None:
        super().__init__(context, Account(API_KEY, API_SECRET))
        self.price = int(context.prices["1H"])
        self.by_client_id: dict[str, Order] = {}
        self._lock = threading.Lock()

    def _refused(self, request: Request) -> Response | None:
        key = request.headers.get("CF-ACCESS-KEY")
        stamp = request.headers.get("CF-ACCESS-TIMESTAMP") or ""
        given = request.headers.get("CF-ACCESS-SIGN") or ""
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        when = _parse_timestamp(stamp)
        now = datetime.now(UTC).timestamp()
        expected = catfee_signature(self.account.secret, stamp, request.method, path)
        if key != self.account.api_key:
            return _refusal("auth.invalid_key", "invalid CF-ACCESS-KEY", 401)
        if when is None or abs(now - when) > TIMESTAMP_TOLERANCE_S:
            return _refusal("auth.timestamp", "CF-ACCESS-TIMESTAMP deviates more than 5 seconds", 401)
        if not hmac.compare_digest(expected, given):
            return _refusal("auth.sign", "invalid CF-ACCESS-SIGN", 401)
        return None

    def _view(self, order: Order) -> dict[str, Any]:
        x = order.extra
        if order.state == FAILED:
            status, confirm = "DELEGATE_FAILED", "UNCONFIRMED"
        elif order.state == PAID:
            status, confirm = "PAYMENT_SUCCESS", "UNCONFIRMED"
        elif order.state == DELEGATING:
            status, confirm = "DELEGATE_SUCCESS", "UNCONFIRMED"
        else:
            status, confirm = "DELEGATE_SUCCESS", "DELEGATION_CONFIRMED"
        return {
            "id": order.id,
            "client_order_id": order.ref,
            "resource_type": "ENERGY",
            "source_type": "API",
            "pay_timestamp": int(order.created * 1000),
            "receiver": order.receiver,
            "delegate_hash": order.delegate_txid,
            "delegate_timestamp": int((order.delegated_at or 0) * 1000),
            "reclaim_hash": order.reclaim_txid,
            "reclaim_timestamp": int((order.reclaimed_at or 0) * 1000),
            "pay_amount_sun": order.cost,
            "activate_amount_sun": x["activation"],
            "quantity": order.energy,
            "staked_sun": 0,
            "duration": 60,
            "expired_timestamp": int((order.reclaim_due or 0) * 1000),
            "status": status,
            "activate_status": "ACTIVATED" if x["activation"] else "ALREADY_ACTIVATED",
            "confirm_status": confirm,
            "balance": self.account.balance,
        }

    @checked
    async def account_info(self, request: Request) -> Response:
        return _reply(
            {
                "api_key": self.account.api_key,
                "total_hour_consume": self.account.spent,
                "balance": self.account.balance,
                "balance_usdt": 0,
            }
        )

    @checked
    async def estimate(self, request: Request) -> Response:
        quantity, duration = (
            as_int(request.query_params.get("quantity")),
            request.query_params.get("duration"),
        )
        if quantity is None or quantity < MIN_ENERGY or duration != "1h":
            return _refusal("param.invalid", "quantity must be >= 65000 and duration 1h")
        return _reply(
            {
                "quantity": quantity,
                "duration": duration,
                "pay_amount_sun": self.price * quantity,
                "activate_amount_sun": ACTIVATION_SUN,
            }
        )

    @checked
    async def create(self, request: Request) -> Response:
        q = request.query_params
        quantity, receiver, duration = as_int(q.get("quantity")), q.get("receiver"), q.get("duration")
        client_id = q.get("client_order_id") or None
        if client_id is not None and len(client_id) > MAX_CLIENT_ORDER_ID:
            return _refusal("param.client_order_id", "client_order_id is longer than 64 characters")
        if client_id is not None:
            with self._lock:
                seen = self.by_client_id.get(client_id)
            if seen is not None:
                return _reply(self._view(seen))  # idempotent: the original order, charged once
        if quantity is None or quantity < MIN_ENERGY:
            return _refusal("param.quantity", "delegation energy quantity must >= 65000")
        if duration != "1h":
            return _refusal("param.duration", "allowed values of duration are 1h")
        if not is_tron_address(receiver):
            return _refusal("param.receiver", "receiver is not a valid TRON address")
        forced = self.faults.take_error()
        if forced is not None:
            return _refusal(str(forced), "forced by the devnet")
        if self.short_of(quantity):
            return _refusal("resource.insufficient", "insufficient energy resources")
        activation = 0
        if not self.chain.account_exists(receiver):
            if q.get("activate", "true").lower() == "false":
                return _refusal("receiver.not_activated", "receiver is not activated")
            activation = ACTIVATION_SUN
        cost = self.price * quantity + activation
        if cost > self.account.balance:
            return _refusal("balance.insufficient", "insufficient balance")
        order = self.accept(
            uuid.uuid4().hex,
            str(receiver),
            quantity,
            period="1H",
            period_s=3600 * self.time_scale,
            cost=cost,
            ref=client_id,
            activation_sun=ACTIVATION_TRANSFER_SUN if activation else 0,
            extra={"activation": activation},
        )
        if client_id is not None:
            with self._lock:
                self.by_client_id[client_id] = order
        if self.faults.take_drop_response():
            return Response(status_code=504)
        return _reply(self._view(order))

    @checked
    async def detail(self, request: Request) -> Response:
        order = self.book.get(request.path_params["id"])
        if order is None:
            return _refusal("order.not_found", "order not exist", 404)
        return _reply(self._view(order))


def _simulate(context: SimulatorContext) -> Simulation:
    sim = Catfee(context)
    routes = [
        Route("/v1/account", sim.account_info, methods=["GET"]),
        Route("/v1/estimate", sim.estimate, methods=["GET"]),
        Route("/v1/order", sim.create, methods=["POST"]),
        Route("/v1/order/{id}", sim.detail, methods=["GET"]),
    ]
    return Simulation.serving(routes, context.faults, sim.account)


SIMULATOR = SimulatorSpec(
    name="catfee",
    port_offset=6,
    build=_simulate,
    credentials={"api_key": API_KEY, "api_secret": API_SECRET},
    prices=PRICES,
)
