"""The Feee.io open API (docs/PROVIDERS.md, Feee.io), served under ``/open`` on its own port.

What it does, and where the documents leave room (the choices are listed in docs/PROVIDERS.md):
- every call needs the header ``key`` and a non-empty ``User-Agent``; answers are HTTP 200
  ``{"code", "msg", "request_id", "data"}`` with ``code`` 0 for success; the error codes are the
  devnet's own (Feee.io publishes none): 40001 auth, 40002 parameters, 40003 balance, 40004 not
  activated, 40005 resources, 40006 order not found, 40007 cannot cancel;
- ``POST /open/v2/order/submit`` rents energy only (``resource_type`` 1), ``rent_time_unit`` d (1-30),
  h (1 or 3) or m (10), or ``rent_time_second`` (> 600, a multiple of 3); at least 32,000 energy; no
  client order number exists, so every submit is a new order;
- statuses: 4 paid and waiting, 9 delegated (``frozen_tx_id`` set, kept after the period ends), 12
  cancelled or failed with ``refund_amount`` = ``pay_amount``;
- ``POST /open/v2/order/cancel`` cancels an order not delegated 5 minutes (time-scaled) after creation;
- ``GET /open/v2/api/query`` shows the balance as ``trx_money``;
- faults: ``error_code``, ``insufficient_resources``, ``drop_response`` (the order is created and paid,
  the reply is a bodiless 504), ``order_outcome`` (the order fails at delivery and is refunded).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import (
    Account,
    as_int,
    checked,
    is_tron_address,
    known_code,
    parse_json_object,
    trx_number,
)
from devnet.providers.orders import FAILED, PAID, Order, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

API_KEY = "feee-devnet-sample-key"
PRICES = {"10M": 46, "1H": 58, "3H": 75, "1D": 95}
"""Sun per energy by rental (the devnet's choice; the documents' examples show 105 to 130)."""
MIN_ENERGY = 32_000
CANCEL_AFTER_S = 300
UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60}
ERRORS = {
    40001: "invalid key",
    40002: "invalid parameters",
    40003: "insufficient balance",
    40004: "receive address not activated",
    40005: "insufficient energy resources",
    40006: "order not exist",
    40007: "order cannot be cancelled",
}


def _reply(data: Any = None, code: int = 0, msg: str = "ok") -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg, "request_id": str(uuid.uuid4()), "data": data})


def _error(code: int, detail: str = "") -> JSONResponse:
    return _reply(None, code, f"{ERRORS[code]}: {detail}" if detail else ERRORS[code])


def _rental(values: Any) -> tuple[int, str, int] | None:
    """(rent_duration, rent_time_unit, seconds) from the documented rules, or None when they break them."""
    seconds = as_int(values.get("rent_time_second")) or 0
    if seconds:
        return (seconds, "s", seconds) if seconds > 600 and seconds % 3 == 0 else None
    duration, unit = as_int(values.get("rent_duration")), values.get("rent_time_unit")
    valid = {"d": range(1, 31), "h": (1, 3), "m": (10,)}
    if unit not in valid or duration not in valid[unit]:
        return None
    return duration, str(unit), duration * UNIT_SECONDS[str(unit)]


class Feee(OrderDesk):
    """State and handlers of one simulated Feee.io account."""

    def __init__(self, context: SimulatorContext) -> None:
        super().__init__(context, Account(API_KEY, ""))
        self.prices = {p.upper(): int(v) for p, v in context.prices.items()}

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("key") != self.account.api_key or not request.headers.get("User-Agent"):
            return _error(40001)
        return None

    def _price(self, seconds: int) -> int:
        """The unit price of the shortest listed rental at least this long (the longest one beyond)."""
        listed = sorted(
            (int(p[:-1]) * UNIT_SECONDS[p[-1].lower()], v)
            for p, v in self.prices.items()
            if p[-1].lower() in UNIT_SECONDS
        )
        return next((v for s, v in listed if s >= seconds), listed[-1][1])

    def _detail(self, order: Order) -> dict[str, Any]:
        x = order.extra
        failed = order.state == FAILED
        return {
            "order_no": order.id,
            "order_type": 0,
            "resource_type": 1,
            "receive_address": order.receiver,
            "price_in_sun": x["price"],
            "freeze_time": int(order.delegated_at or 0),
            "create_time": int(order.created),
            "resource_value": order.energy,
            "frozen_resource_value": order.energy if order.delegate_txid and not failed else 0,
            "rent_duration": x["rent_duration"],
            "rent_time_unit": x["rent_time_unit"],
            "rent_time_second": x["seconds"],
            "rent_expire_time": int(order.reclaim_due or 0),
            "frozen_tx_id": order.delegate_txid if not failed else "",
            "pay_time": int(order.created),
            "pay_amount": trx_number(order.cost),
            "refund_amount": trx_number(order.refund) if failed else 0,
            "refund_time": int(x.get("refund_time") or 0),
            "is_split": 0,
            "status": 12 if failed else (4 if order.state == PAID or not order.delegate_txid else 9),
            "sub_order": [],
        }

    @checked
    async def api_query(self, request: Request) -> Response:
        return _reply({"api_key": self.account.api_key, "trx_money": trx_number(self.account.balance)})

    @checked
    async def price(self, request: Request) -> Response:
        q = request.query_params
        value, rental = as_int(q.get("resource_value")), _rental(q)
        if value is None or value < MIN_ENERGY or rental is None:
            return _error(40002, "resource_value and a documented rental are required")
        unit = self._price(rental[2])
        return _reply(
            {
                "resource_value": value,
                "pay_amount": trx_number(unit * value),
                "service_amount": 0,
                "rent_duration": rental[0],
                "rent_time_unit": rental[1],
                "rent_time_second": rental[2],
                "price_in_sun": unit,
            }
        )

    @checked
    async def submit(self, request: Request) -> Response:
        body = parse_json_object(await request.body())
        if body is None:
            return _error(40002, "the body must be a JSON object")
        address, value, rental = (
            body.get("receive_address"),
            as_int(body.get("resource_value")),
            _rental(body),
        )
        if body.get("resource_type", 1) != 1:
            return _error(40002, "only energy (resource_type 1) is allowed")
        if not is_tron_address(address):
            return _error(40002, "receive_address is not a TRON address")
        if value is None or value < MIN_ENERGY or rental is None:
            return _error(40002, "resource_value and a documented rental are required")
        forced = known_code(self.faults.take_error(), ERRORS, 40002)
        if forced is not None:
            return _error(forced)
        if self.short_of(value):
            return _error(40005)
        if not self.chain.account_exists(address):
            return _error(40004)
        unit = self._price(rental[2])
        cost = unit * value
        if cost > self.account.balance:
            return _error(40003)
        order = self.accept(
            f"{time.strftime('%y%m%d')}{uuid.uuid4().int % 10**16:016d}",
            str(address),
            value,
            period=f"{rental[0]}{rental[1]}",
            period_s=rental[2] * self.time_scale,
            cost=cost,
            extra={
                "price": unit,
                "rent_duration": rental[0],
                "rent_time_unit": rental[1],
                "seconds": rental[2],
            },
        )
        if self.faults.take_drop_response():
            return Response(status_code=504)
        return _reply(self._detail(order), msg="success")

    @checked
    async def query(self, request: Request) -> Response:
        order = self.book.get(request.query_params.get("order_no", ""))
        return _error(40006) if order is None else _reply(self._detail(order))

    @checked
    async def cancel(self, request: Request) -> Response:
        body = parse_json_object(await request.body()) or {}
        order = self.book.get(str(body.get("order_no") or ""))
        if order is None:
            return _error(40006)
        old_enough = time.time() - order.created >= CANCEL_AFTER_S * self.time_scale
        if order.state != PAID or not old_enough:
            return _error(40007, "only orders not completed 5 minutes after creation")
        self.book.fail(order, "cancelled")
        return _reply(self._detail(order))

    def _changed(self, order: Order) -> None:
        if order.state == FAILED:
            order.extra["refund_time"] = int(time.time())
        super()._changed(order)


def _simulate(context: SimulatorContext) -> Simulation:
    sim = Feee(context)
    routes = [
        Route("/open/v2/api/query", sim.api_query, methods=["GET"]),
        Route("/open/v2/order/price", sim.price, methods=["GET"]),
        Route("/open/v2/order/submit", sim.submit, methods=["POST"]),
        Route("/open/v2/order/query", sim.query, methods=["GET"]),
        Route("/open/v2/order/cancel", sim.cancel, methods=["POST"]),
    ]
    return Simulation.serving(routes, context.faults, sim.account)


SIMULATOR = SimulatorSpec(
    name="feee",
    port_offset=5,
    build=_simulate,
    credentials={"api_key": API_KEY},
    prices=PRICES,
    url_setting="base_url",
    fault_prefixes=("/open/",),
)
