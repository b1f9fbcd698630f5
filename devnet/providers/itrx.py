"""The itrx.io API (docs/PROVIDERS.md §2), served at the root of its own port.

Choices where the documents are silent, written here because clients are tested against them
(docs/PROVIDERS.md §7 compares them with the sources):
- the server verifies the HMAC over the *re-serialised* body (compact, sorted keys), so only a client that
  signs the canonical form passes; an empty body signs as `TIMESTAMP&` (`TIMESTAMP&{}` also accepted);
- auth failures are HTTP 400 `{"detail": …}` ("API not found" for an unknown key), timestamps ±300 s;
- price: `total = unit price(period) * energy + 600,000 sun below 50,000 energy (+1.5 TRX activation)`;
- collect-manual scenes: 1 = recipient holds USDT (65,000 energy), 2 = it holds none (131,000); scene 0
  picks by `to_address`'s USDT balance (1 when no `to_address`), charged at the 1H unit price;
- order/query by `out_trade_no` (newest docs) unless `query_by_out_trade_no` is switched off, then only
  `serial` (HTTP 400 `{"serial": ["This field is required."]}`, as the docs repository's version);
- a reused `out_trade_no` is refused before anything is charged: errno 1 `out_trade_no已存在` (the wording
  is undocumented; clients recognise 重复/已存在/已使用 and English equivalents);
- `error_after_order` creates and charges the order, then answers errno 1 with a free-text message;
- order statuses: 20 paid → 30 delegating → 40 done (callback 40); 31 (forced `partial`: half the energy
  delegated, the rest later) and 32 (forced `retrying`) on the way; failures 41 (refunded; callback 41),
  43 (forced `break_off`) or 0 (forced `timeout`); a 1H delegation whose energy is ≥ 90 % used is
  reclaimed at the next block (approximation of "reclaimed as soon as consumed").
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.callbacks import CallbackSender
from devnet.providers.common import (
    DEFAULT_PRICES,
    ITRX_API_KEY,
    ITRX_API_SECRET,
    Account,
    as_int,
    compact_json,
    hmac_sha256_hex,
    is_tron_address,
    parse_json_object,
    period_seconds,
    signature_matches,
    stopping,
    timestamp_fresh,
)
from devnet.providers.itrx_reads import (
    COLLECT_ENERGY,
    MAX_ORDER_ENERGY,
    MIN_ORDER_ENERGY,
    NOT_FOUND,
    SMALL_ADDITION_SUN,
    SMALL_AMOUNT,
    ItrxReads,
    detail,
    errno_reply,
    field_errors,
)
from devnet.providers.orders import ACTIVE, FAILED, Order, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

ACTIVATION_FEE_SUN = 1_500_000
ACTIVATION_TRANSFER_SUN = 1


class Itrx(ItrxReads, OrderDesk):
    """State and handlers of one simulated itrx account."""

    def __init__(self, context: SimulatorContext, sender: CallbackSender) -> None:
        super().__init__(context, Account(ITRX_API_KEY, ITRX_API_SECRET), early_reclaim=self._consumed)
        self.prices = dict(context.prices)
        self.sender = sender

    # -- authentication ------------------------------------------------------------------------
    async def _signed_body(self, request: Request) -> dict[str, Any] | Response:
        """The parsed body of a signed POST, or the error response to send instead."""
        if not self._key_ok(request):
            return detail("API not found")
        raw = await request.body()
        body = parse_json_object(raw)
        if body is None:
            return detail("JSON parse error")
        timestamp = request.headers.get("TIMESTAMP")
        if not timestamp_fresh(timestamp):
            return detail("timestamp expired or missing")
        signed = [compact_json(body) if body else ""] + ([] if body else ["{}"])
        given = request.headers.get("SIGNATURE")
        secret = self.account.secret
        if not any(signature_matches(hmac_sha256_hex(secret, f"{timestamp}&{s}"), given) for s in signed):
            return detail("signature error")
        return body

    def _forced(self) -> Response | None:
        """A documented error forced by the fault switches, consumed per order request."""
        forced = self.faults.take_error()
        if forced is not None:
            code = as_int(forced)
            if code == 400:
                return field_errors(energy_amount="forced by devnet fault")
            if code == 403:
                return detail("You do not have permission to perform this action.", 403)
            code = 1 if code is None else code
            return errno_reply(code, "找不到订单" if code == 404 else "参数错误 (devnet forced error)")
        if self.faults.take_insufficient():
            return errno_reply(1, "platform energy insufficient")
        return None

    # -- placing orders ------------------------------------------------------------------------
    def _place(
        self,
        receiver: str,
        energy: int,
        period: str,
        cost: int,
        body: dict[str, Any],
        *,
        activate: bool,
        kind: str,
        extra: dict[str, Any],
    ) -> Response:
        ref = str(body["out_trade_no"]) if body.get("out_trade_no") else None
        if ref is not None and self.book.by_ref(ref):
            return errno_reply(1, "out_trade_no已存在")
        activated = self.chain.account_exists(receiver)
        if not activated and not activate:
            return errno_reply(1, "receive_address is not activated")
        if activate and not activated:
            cost += ACTIVATION_FEE_SUN
        if cost > self.account.balance:
            return errno_reply(1, "insufficient balance")
        if energy > self.chain.energy_available(self.pool):
            return errno_reply(1, "platform energy insufficient")
        order = self.accept(
            uuid.uuid4().hex,
            receiver,
            energy,
            period=period,
            period_s=period_seconds(period, self.time_scale),
            cost=cost,
            ref=ref,
            kind=kind,
            activation_sun=ACTIVATION_TRANSFER_SUN if activate and not activated else 0,
            extra={"callback_url": body.get("callback_url") or self.faults.callback_url, **extra},
        )
        if self.faults.take_drop_response():
            return Response(status_code=504)
        if self.faults.take_error_after_order() is not None:
            return errno_reply(1, "系统繁忙,请稍后再试")
        reply = {"errno": 0, "serial": order.id, "amount": cost, "balance": self.account.balance}
        if kind == "collect":
            reply["scene"] = extra["scene"]
        return JSONResponse(reply)

    async def order(self, request: Request) -> Response:
        body = await self._signed_body(request)
        if isinstance(body, Response):
            return body
        energy, period = as_int(body.get("energy_amount")), body.get("period")
        receiver, active = body.get("receive_address"), as_int(body.get("active", 0))
        if energy is None:
            return field_errors(energy_amount="A valid integer is required.")
        if energy < MIN_ORDER_ENERGY:
            return field_errors(
                energy_amount=f"Ensure this value is greater than or equal to {MIN_ORDER_ENERGY}"
            )
        if energy > MAX_ORDER_ENERGY:
            return field_errors(
                energy_amount=f"Ensure this value is less than or equal to {MAX_ORDER_ENERGY}"
            )
        if period not in self.prices:
            return field_errors(period=f'"{period}" is not a valid choice.')
        if not is_tron_address(receiver):
            return field_errors(receive_address="Enter a valid TRON address.")
        if active is None:
            return field_errors(active="A valid integer is required.")
        forced = self._forced()
        if forced is not None:
            return forced
        cost = self.prices[period] * energy + (SMALL_ADDITION_SUN if energy < SMALL_AMOUNT else 0)
        return self._place(
            str(receiver), energy, str(period), cost, body, activate=active > 0, kind="energy", extra={}
        )

    async def collect(self, request: Request) -> Response:
        body = await self._signed_body(request)
        if isinstance(body, Response):
            return body
        scene, receiver, to = as_int(body.get("scene")), body.get("receive_address"), body.get("to_address")
        if scene is None or (scene != 0 and scene not in COLLECT_ENERGY):
            return field_errors(scene=f'"{body.get("scene")}" is not a valid choice.')
        if not is_tron_address(receiver):
            return field_errors(receive_address="Enter a valid TRON address.")
        if to not in (None, "") and not is_tron_address(to):
            return field_errors(to_address="Enter a valid TRON address.")
        forced = self._forced()
        if forced is not None:
            return forced
        if scene == 0:
            scene = 2 if to and self.chain.token_balance(to) == 0 else 1
        energy = COLLECT_ENERGY[scene]
        return self._place(
            str(receiver),
            energy,
            "1H",
            self.prices["1H"] * energy,
            body,
            activate=False,
            kind="collect",
            extra={"scene": scene, "to_address": to},
        )

    # -- lookups and the rest ------------------------------------------------------------------
    async def reclaim(self, request: Request) -> Response:
        body = await self._signed_body(request)
        if isinstance(body, Response):
            return body
        order = self.book.get(str(body.get("serial", "")))
        if order is None:
            return JSONResponse(NOT_FOUND)
        if not self.book.reclaim(order):
            order.period_s = 0.0  # still being delivered: reclaim as soon as it is active
        return JSONResponse({"errno": 0, "message": "request accept"})

    async def transfer(self, request: Request) -> Response:
        body = await self._signed_body(request)
        if isinstance(body, Response):
            return body
        amount, receiver = as_int(body.get("amount")), body.get("receive_address")
        if amount is None or not 100_000 <= amount <= 10_000_000:
            return field_errors(amount="Ensure this value is between 100000 and 10000000.")
        if not is_tron_address(receiver):
            return field_errors(receive_address="Enter a valid TRON address.")
        if not self.chain.account_exists(receiver):
            return errno_reply(1, "receive_address is not activated")
        if amount > self.account.balance:
            return errno_reply(1, "insufficient balance")
        txid = self.chain.transfer_trx(self.pool, str(receiver), amount)
        self.account.debit(amount)
        return JSONResponse({"errno": 0, "message": "success", "txid": txid, "balance": self.account.balance})

    def _changed(self, order: Order) -> None:
        super()._changed(order)
        if order.state in (ACTIVE, FAILED):
            self._callback(order)

    def _consumed(self, order: Order) -> bool:
        """A 1H delegation is reclaimed once its energy has (almost) all been used."""
        if order.period != "1H":
            return False
        remaining: int = self.chain.energy_available(order.receiver)
        return remaining <= order.energy_after - order.energy * 9 // 10

    def _callback(self, order: Order) -> None:
        url = order.extra.get("callback_url")
        mode, delay = self.faults.callback_mode()
        if not url or mode == "drop":
            return
        payload = {
            "active_hash": order.activation_txid,
            "bandwidth_hash": "",
            "energy_amount": order.energy,
            "out_trade_no": order.ref or "",
            "pay_amount": float(order.energy if order.state == ACTIVE else 0),
            "receive_address": order.receiver,
            "serial": order.id,
            "source": "api",
            "status": 40 if order.state == ACTIVE else 41,
            "txid": order.delegate_txid,
            "type": "energy",
        }
        style = self.faults.callback_style
        for _ in range(2 if mode == "duplicate" else 1):
            self.sender.send(
                str(url), payload, self.account.secret, style=style, delay_s=delay if mode == "delay" else 0.0
            )


def _simulate(context: SimulatorContext) -> Simulation:
    sender = CallbackSender(time_scale=context.callback_time_scale)
    itrx = Itrx(context, sender)
    base = "/api/v1/frontend"
    routes = [
        Route(f"{base}/index-data", itrx.index_data, methods=["GET"]),
        Route(f"{base}/order/price", itrx.price, methods=["GET"]),
        Route(f"{base}/order", itrx.order, methods=["POST"]),
        Route(f"{base}/order/collect-manual", itrx.collect, methods=["POST"]),
        Route(f"{base}/order/query", itrx.query, methods=["GET"]),
        Route(f"{base}/order/reclaim", itrx.reclaim, methods=["POST"]),
        Route(f"{base}/order/transfer", itrx.transfer, methods=["POST"]),
        Route(f"{base}/userapi/summary", itrx.summary, methods=["GET"]),
    ]
    return Simulation.serving(routes, context.faults, itrx.account, lifespan=stopping(sender.stop))


SIMULATOR = SimulatorSpec(
    name="itrx",
    port_offset=1,
    build=_simulate,
    credentials={"api_key": ITRX_API_KEY, "api_secret": ITRX_API_SECRET},
    prices=DEFAULT_PRICES["itrx"],
)
