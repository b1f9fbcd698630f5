"""The openapi.ea888fee.top API (docs/PROVIDERS.md §3), served at the root of its own port.

Choices where the document is silent (docs/PROVIDERS.md §7 compares them with the sources):
- the server re-serialises the parsed parameters (empty values dropped, keys sorted, compact, `{}` when
  none) and verifies the HMAC over `TIMESTAMP&that`, so pretty-printed bodies in any key order pass;
- every answer is HTTP 200 with the `{"code", "msg", "data"}` envelope; timestamps are ±300 s (600002);
- an unactivated receiver is refused up front with 10001 (no charge, `outTradeNo` not consumed);
- the order answer carries the charge under both `amount` (field table) and `price` (example);
- the listed `prices[].price` is not sun per energy: the charge follows the document's only priced
  example (65,000 energy for `1H`, listed at 36, charged 860,000 sun), i.e. `ceil(listed * energy *
  860,000 / (36 * 65,000))` sun; maximum order 10,000,000 energy;
- statuses: WAIT_DELEGATE (paid) → PENDING (delegating / delegated) → FINISHED (reclaimed after the
  period); ABORT (delegation failed, refunded) or BREAK_OFF (forced `break_off`, refunded).
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import (
    DEFAULT_PRICES,
    EA888FEE_API_KEY,
    EA888FEE_API_SECRET,
    Account,
    as_int,
    ea888fee_signature,
    is_tron_address,
    known_code,
    parse_json_object,
    period_seconds,
    signature_matches,
    timestamp_fresh,
)
from devnet.providers.orders import FAILED, PAID, RECLAIMED, Order, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

MIN_ORDER_ENERGY = 65_000
MAX_ORDER_ENERGY = 10_000_000
CST = timezone(timedelta(hours=8))
MESSAGES = {
    200: "成功",
    10001: "参数错误",
    600001: "apiKey错误或已失效",
    600002: "签名错误",
    600003: "不支持的租赁周期",
    600004: "单号已使用,请更换订单号",
    600005: "余额不足",
    600006: "资源不足",
    600007: "订单不存在",
    600008: "IP不在白名单中",
}
REFUSALS = frozenset(MESSAGES) - {200}


DOC_CHARGE = (860_000, 36 * 65_000)
"""The document's example: 860,000 sun charged where the listed price times the energy is 36 × 65,000."""


def charge(listed: int, energy: int) -> int:
    """Sun charged for ``energy`` at the listed price, scaled as in the document's example (rounded up)."""
    return -(-listed * energy * DOC_CHARGE[0] // DOC_CHARGE[1])


def _error(code: int, msg: str | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg or MESSAGES.get(code, "错误")})


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"code": 200, "msg": MESSAGES[200], "data": data})


class Ea888fee(OrderDesk):
    """State and handlers of one simulated ea888fee account."""

    def __init__(self, context: SimulatorContext) -> None:
        super().__init__(context, Account(EA888FEE_API_KEY, EA888FEE_API_SECRET))
        self.prices = dict(context.prices)
        self._numbers = itertools.count(790_208_155_853_393_920 + random.randrange(10**9))

    async def _signed(self, request: Request) -> dict[str, Any] | Response:
        """The parsed parameters of a signed request, or the error envelope to answer instead."""
        key = request.headers.get("API-KEY")
        if not key:
            return _error(10001, "请求头API_KEY不能为空")
        if key != self.account.api_key:
            return _error(600001)
        timestamp, signature = request.headers.get("TIMESTAMP"), request.headers.get("SIGNATURE")
        if not timestamp:
            return _error(10001, "请求头TIMESTAMP不能为空")
        if not signature:
            return _error(10001, "请求头SIGNATURE不能为空")
        params = parse_json_object(await request.body())
        if params is None:
            return _error(10001, "请求体不是合法的JSON")
        if not timestamp_fresh(timestamp):
            return _error(600002, "签名错误: 时间戳已过期")
        if not signature_matches(ea888fee_signature(self.account.secret, timestamp, params), signature):
            return _error(600002)
        return params

    async def balance(self, request: Request) -> Response:
        params = await self._signed(request)
        if isinstance(params, Response):
            return params
        return _ok(
            {
                "platformAvailEnergy": self.chain.energy_available(self.pool),
                "minimumOrderEnergy": MIN_ORDER_ENERGY,
                "prices": [{"period": period, "price": price} for period, price in self.prices.items()],
                "balance": self.account.balance,
            }
        )

    async def order(self, request: Request) -> Response:
        params = await self._signed(request)
        if isinstance(params, Response):
            return params
        problem = self._invalid(params)
        if problem is not None:
            return problem
        forced = known_code(self.faults.take_error(), REFUSALS, 10001)
        if forced is not None:
            return _error(forced)
        if self.faults.take_insufficient():
            return _error(600006)
        energy, period = int(params["energyAmount"]), str(params["period"])
        receiver, ref = str(params["receiveAddress"]), str(params["outTradeNo"])
        if self.book.by_ref(ref):
            return _error(600004)
        if not self.chain.account_exists(receiver):
            return _error(10001, "receiveAddress未激活")
        cost = charge(self.prices[period], energy)
        if cost > self.account.balance:
            return _error(600005)
        if energy > self.chain.energy_available(self.pool):
            return _error(600006)
        order = self.accept(
            str(next(self._numbers)),
            receiver,
            energy,
            period=period,
            period_s=period_seconds(period, self.time_scale),
            cost=cost,
            ref=ref,
        )
        if self.faults.take_drop_response():
            return Response(status_code=504)
        after = known_code(self.faults.take_error_after_order(), REFUSALS, 10001)
        if after is not None:
            return _error(after)
        return _ok({"orderNo": order.id, "amount": cost, "price": cost, "balance": self.account.balance})

    def _invalid(self, params: dict[str, Any]) -> Response | None:
        energy, period = as_int(params.get("energyAmount")), params.get("period")
        ref, receiver = params.get("outTradeNo"), params.get("receiveAddress")
        if energy is None:
            return _error(10001, "energyAmount不能为空且必须为整数")
        if not MIN_ORDER_ENERGY <= energy <= MAX_ORDER_ENERGY:
            return _error(10001, f"energyAmount必须在{MIN_ORDER_ENERGY}到{MAX_ORDER_ENERGY}之间")
        if not period:
            return _error(10001, "period不能为空")
        if period not in self.prices:
            return _error(600003)
        if not is_tron_address(receiver):
            return _error(10001, "receiveAddress格式错误")
        if not isinstance(ref, str | int) or isinstance(ref, bool) or not str(ref):
            return _error(10001, "outTradeNo不能为空")
        if len(str(ref)) >= 64:
            return _error(10001, "outTradeNo长度必须小于64")
        return None

    async def info(self, request: Request) -> Response:
        params = await self._signed(request)
        if isinstance(params, Response):
            return params
        number = params.get("orderNo")
        if not number:
            return _error(10001, "orderNo不能为空")
        order = self.book.get(str(number))
        if order is None:
            return _error(600007)
        return _ok(
            {
                "orderNo": order.id,
                "outTradeNo": order.ref,
                "receiveAddress": order.receiver,
                "energyAmount": order.energy,
                "period": order.period,
                "amount": order.cost,
                "createTime": datetime.fromtimestamp(order.created, CST).strftime("%Y-%m-%d %H:%M:%S"),
                "status": self._status(order),
                "refundAmount": order.refund,
            }
        )

    @staticmethod
    def _status(order: Order) -> str:
        if order.state == PAID:
            return "WAIT_DELEGATE"
        if order.state == RECLAIMED:
            return "FINISHED"
        if order.state == FAILED:
            return "BREAK_OFF" if order.forced_outcome == "break_off" else "ABORT"
        return "PENDING"


def _simulate(context: SimulatorContext) -> Simulation:
    ea = Ea888fee(context)
    routes = [
        Route("/v1/balance", ea.balance, methods=["POST"]),
        Route("/v1/order", ea.order, methods=["POST"]),
        Route("/v1/order/info", ea.info, methods=["POST"]),
    ]
    return Simulation.serving(routes, context.faults, ea.account)


SIMULATOR = SimulatorSpec(
    name="ea888fee",
    port_offset=2,
    build=_simulate,
    credentials={"api_key": EA888FEE_API_KEY, "api_secret": EA888FEE_API_SECRET},
    prices=DEFAULT_PRICES["ea888fee"],
)
