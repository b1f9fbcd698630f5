"""itrx's read-only endpoints (index-data, order/price, order/query, userapi/summary) and shared replies.

Kept apart from the order-placing code in `itrx.py`; `Itrx` inherits these handlers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from devnet.providers.common import Account, as_int, is_tron_address
from devnet.providers.orders import DELEGATING, FAILED, PAID, PARTIAL, RETRYING, Order, OrderBook
from devnet.providers.state import ProviderFaults

MIN_ORDER_ENERGY = 32_000
MAX_ORDER_ENERGY = 100_000_000
SMALL_AMOUNT = 50_000
SMALL_ADDITION_SUN = 600_000
COLLECT_ENERGY = {1: 65_000, 2: 131_000}
PERIOD_CODES = {"1H": 0, "1D": 1, "3D": 3, "30D": 30}
NOT_FOUND = {"errno": 404, "message": "找不到订单"}
CST = timezone(timedelta(hours=8))


def field_errors(**errors: str) -> JSONResponse:
    return JSONResponse({name: [message] for name, message in errors.items()}, status_code=400)


def detail(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def errno_reply(code: int, message: str) -> JSONResponse:
    return JSONResponse({"errno": code, "message": message})


def _iso(ts: float | None, tz: timezone = UTC) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).isoformat()


class ItrxReads:
    """The GET endpoints; they need only the account, the order book, the chain, the pool and prices."""

    account: Account
    faults: ProviderFaults
    book: OrderBook
    chain: Any
    pool: str
    prices: dict[str, int]

    def _key_ok(self, request: Request) -> bool:
        return request.headers.get("API-KEY") == self.account.api_key

    async def query(self, request: Request) -> Response:
        if not self._key_ok(request):
            return detail("API not found")
        serial, ref = request.query_params.get("serial"), request.query_params.get("out_trade_no")
        if not serial and not self.faults.query_by_out_trade_no:
            return field_errors(serial="This field is required.")  # a deployment without the newer query
        if not serial and not ref:
            return field_errors(serial="serial or out_trade_no is required.")
        if serial:
            order = self.book.get(serial)
        else:
            matches = self.book.by_ref(str(ref))
            order = matches[-1] if matches else None
        return JSONResponse(self._describe(order) if order else NOT_FOUND)

    def _describe(self, order: Order) -> dict[str, Any]:
        details = []
        if order.delegate_txid:
            details.append(
                {
                    "delegate_hash": order.delegate_txid,
                    "delegate_time": _iso(order.delegated_at),
                    "reclaim_hash": order.reclaim_txid,
                    "reclaim_time": _iso(order.reclaim_due),
                    "reclaim_time_real": _iso(order.reclaimed_at),
                    "status": 30 if order.reclaimed_at else 20,
                }
            )
        return {
            "errno": 0,
            "receive_address": order.receiver,
            "order_no": order.id,
            "out_trade_no": order.ref or "",
            "energy_amount": order.energy,
            "pay_amount": float(order.energy if order.delegated_at else 0),
            "amount": order.cost,
            "details": details,
            "create_time": _iso(order.created, CST),
            "api_name": "devnet",
            "period": PERIOD_CODES[order.period],
            "status": self._status(order),
            "refund_amount": order.refund,
        } | ({"scene": order.extra["scene"]} if "scene" in order.extra else {})

    @staticmethod
    def _status(order: Order) -> int:
        if order.state == PAID:
            return 20
        if order.state == DELEGATING:
            return 30
        if order.state == PARTIAL:
            return 31
        if order.state == RETRYING:
            return 32
        if order.state == FAILED:
            return {"break_off": 43, "timeout": 0}.get(order.forced_outcome or "", 41)
        return 40

    async def index_data(self, request: Request) -> Response:
        if not self._key_ok(request):
            return JSONResponse({})  # the real API answers an unknown key with empty data
        avail = self.chain.energy_available(self.pool)
        return JSONResponse(
            {
                "platform_avail_energy": avail,
                "platform_max_energy": min(avail, MAX_ORDER_ENERGY),
                "minimum_order_energy": MIN_ORDER_ENERGY,
                "maximum_order_energy": MAX_ORDER_ENERGY,
                "small_amount": SMALL_AMOUNT,
                "small_addition": SMALL_ADDITION_SUN / 1_000_000,
                "usdt_energy_need_old": COLLECT_ENERGY[1],
                "usdt_energy_need_new": COLLECT_ENERGY[2],
                "tiered_pricing": [{"period": PERIOD_CODES[p], "price": v} for p, v in self.prices.items()],
                "balance": self.account.balance,
            }
        )

    async def price(self, request: Request) -> Response:
        if not self._key_ok(request):
            return detail("API not found")
        params = request.query_params
        period, to = params.get("period"), params.get("to_address")
        energy = as_int(params.get("energy_amount")) if params.get("energy_amount") else None
        if period not in self.prices:
            return field_errors(period=f'"{period}" is not a valid choice.')
        if energy is None:
            if not is_tron_address(to):
                return field_errors(energy_amount="This field is required.")
            energy = COLLECT_ENERGY[2 if self.chain.token_balance(to) == 0 else 1]
        if energy < 10_000:
            return field_errors(energy_amount="Ensure this value is greater than or equal to 10000.")
        addition = SMALL_ADDITION_SUN if energy < SMALL_AMOUNT else 0
        unit = self.prices[str(period)]
        return JSONResponse(
            {
                "period": period,
                "energy_amount": energy,
                "price": unit,
                "total_price": unit * energy + addition,
                "addition": addition,
            }
        )

    async def summary(self, request: Request) -> Response:
        if not self._key_ok(request):
            return detail("Authentication credentials were not provided.", 403)
        acc = self.account
        created = datetime.fromtimestamp(acc.created, CST).strftime("%Y-%m-%d %H:%M:%S")
        return JSONResponse(
            {
                "name": "devnet",
                "create_time": created,
                "total_count": acc.orders,
                "total_sum_energy": acc.energy,
                "total_sum_trx": acc.spent,
                "today_count": acc.orders,
                "today_sum_energy": acc.energy,
                "today_sum_trx": acc.spent,
                "yesterday_count": 0,
                "yesterday_sum_energy": 0,
                "yesterday_sum_trx": 0,
            }
        )

    # -- order lifecycle hooks -----------------------------------------------------------------
