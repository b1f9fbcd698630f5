"""The TronZap account API (docs/PROVIDERS.md §4), served at the root of its own port.

Choices where the documents are silent or leave room (docs/PROVIDERS.md §7 compares them):
- every endpoint is POST; `X-Signature` is checked over the exact raw body bytes; every error, code 500
  included, is HTTP 200 `{"code","key","request_id","error"}` (its error catalogue's
  `http_status_on_error: 200`); `error_after_order` creates the transaction and still answers the code;
- energy: duration 1 h only ("Currently only 1 hour is supported"; anything else is code 12
  `invalid_duration.duration` "Duration must be equal to 1"), 60,000 to 5,000,000 energy ("minimum 60000
  for energy"); activation costs 1.4 TRX;
- the amount is read from `params.amounts.energy`, then `params.amount`, then `params.energy_amount`;
  `/v1/calculate` also takes the deprecated `energy`, `/v1/transaction/check` the legacy `transaction_id`;
- bandwidth cannot be delegated on the devnet: `bandwidth`/`resource_bundle` orders answer code 2 (or 50
  for a bad bandwidth amount); `/v1/services` lists no bandwidth tiers;
- statuses: new → pending (delegation or activation sent) → success (mined; `hash` set) or failed;
  a repeated `external_id` creates another transaction, and check by `external_id` returns the earliest
  (the earlier transaction, as a reused number finds it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devnet.providers.common import (
    DEFAULT_PRICES,
    TRONZAP_API_SECRET,
    TRONZAP_API_TOKEN,
    Account,
    as_int,
    is_tron_address,
    known_code,
    parse_json_object,
    period_seconds,
    signature_matches,
    tronzap_signature,
    trx_number,
    trx_string,
)
from devnet.providers.orders import DELEGATING, FAILED, PAID, Order, OrderDesk
from devnet.providers.registry import Simulation, SimulatorContext, SimulatorSpec

MIN_ENERGY, MAX_ENERGY = 60_000, 5_000_000
DURATIONS = (1,)
"""Hours TronZap rents energy for today."""
ACTIVATION_PRICE_SUN = 1_400_000
ACTIVATION_TRANSFER_SUN = 1
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
ERRORS = {
    1: ("auth", "Authentication error: invalid token or signature"),
    2: ("invalid_service_or_params", "Invalid service or parameters"),
    5: ("wallet_not_found", "Wallet not found"),
    6: ("insufficient_funds", "Insufficient funds"),
    10: ("invalid_tron_address", "Invalid TRON address"),
    11: ("invalid_energy_amount", "Invalid energy amount"),
    12: ("invalid_duration", "Duration must be equal to 1"),
    20: ("transaction_not_found", "Transaction not found"),
    21: ("cannot_stop_subscription", "Cannot stop a subscription with a transaction limit"),
    24: ("address_not_activated", "Address is not activated"),
    25: ("address_already_activated", "Address is already activated"),
    30: ("aml_check_not_found", "AML check not found"),
    35: ("service_unavailable", "Service temporarily unavailable"),
    50: ("invalid_bandwidth_amount", "Invalid bandwidth amount"),
    500: ("internal_server_error", "Internal server error"),
}


def _error(code: int, sub: str | None = None, message: str | None = None) -> JSONResponse:
    key, default = ERRORS[code]
    body = {
        "code": code,
        "key": f"{key}.{sub}" if sub else key,
        "request_id": str(uuid.uuid4()),
        "error": message or default,
    }
    return JSONResponse(body, status_code=200)


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"code": 0, "request_id": str(uuid.uuid4()), "result": result})


def _durations(prices: dict[str, int]) -> dict[int, int]:
    """Tier duration in hours → unit price in sun per energy (only the durations TronZap offers)."""
    tiers = {int(period.rstrip("H")): price for period, price in prices.items() if period.endswith("H")}
    return {hours: price for hours, price in tiers.items() if hours in DURATIONS}


def _amounts(params: dict[str, Any]) -> dict[str, Any]:
    amounts = params.get("amounts")
    return amounts if isinstance(amounts, dict) else {}


class Tronzap(OrderDesk):
    """State and handlers of one simulated TronZap account."""

    def __init__(self, context: SimulatorContext) -> None:
        super().__init__(context, Account(TRONZAP_API_TOKEN, TRONZAP_API_SECRET))
        self.tiers = _durations(dict(context.prices))

    async def _signed(self, request: Request) -> dict[str, Any] | Response:
        raw = await request.body()
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.account.api_key}":
            return _error(1, message="Invalid API token")
        expected = tronzap_signature(raw, self.account.secret)
        if not signature_matches(expected, request.headers.get("X-Signature")):
            return _error(1, message="Invalid signature")
        body = parse_json_object(raw)
        if body is None:
            return _error(2, message="Request body must be a JSON object")
        return body

    def _tier(self, duration: int) -> dict[str, Any]:
        price = self.tiers[duration]
        return {
            "duration": duration,
            "min_amount": MIN_ENERGY,
            "max_amount": MAX_ENERGY,
            "min_energy": MIN_ENERGY,
            "max_energy": MAX_ENERGY,
            "price": trx_number(price * 1000),
            "price_32k": trx_number(price * 32_000),
            "price_65k": trx_number(price * 65_000),
            "price_131k": trx_number(price * 131_000),
        }

    async def services(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        return _ok(
            {
                "energy": [self._tier(d) for d in sorted(self.tiers)],
                "bandwidth": [],
                "activate_address": {"price": trx_number(ACTIVATION_PRICE_SUN)},
            }
        )

    async def direct_recharge_info(self, request: Request) -> Response:
        rates = []
        for d in sorted(self.tiers):
            tier = self._tier(d)
            rates.append(
                {k: tier[k] for k in ("duration", "price", "price_32k", "price_65k", "price_131k")}
                | {"min_energy": MIN_ENERGY, "max_energy": MAX_ENERGY}
            )
        return _ok({"address": self.pool, "rates": rates})

    async def balance(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        return _ok({"balance": trx_number(self.account.balance), "address": self.pool})

    async def address_info(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        address = body.get("address")
        if not is_tron_address(address):
            return _error(10, "address")
        return _ok(
            {
                "resources": {"energy": self.chain.energy_available(address), "bandwidth": 0},
                "balances": {
                    "TRX": trx_number(self.chain.trx_balance(address)),
                    "USDT": trx_number(self.chain.token_balance(address)),
                },
            }
        )

    def _quote(self, address: str, amount: int, duration: int) -> dict[str, Any]:
        activation = 0 if self.chain.account_exists(address) else ACTIVATION_PRICE_SUN
        price = self.tiers[duration] * amount
        return {
            "amount": amount,
            "energy": amount,
            "duration": duration,
            "price": trx_number(price),
            "activation_fee": trx_number(activation),
            "total": trx_number(price + activation),
        }

    async def calculate(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        address = body.get("address")
        amount = as_int(body.get("amount", body.get("energy")))
        duration = as_int(body.get("duration", 1))
        if not is_tron_address(address):
            return _error(10, "address")
        if amount is None or not MIN_ENERGY <= amount <= MAX_ENERGY:
            return _error(11, "energy_amount")
        if duration not in self.tiers:
            return _error(12, "duration")
        return _ok({"address": address, "type": "energy", **self._quote(str(address), amount, duration)})

    async def estimate_energy(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        source, to = body.get("from_address"), body.get("to_address")
        contract = body.get("contract_address") or USDT
        for name, value in (("from_address", source), ("to_address", to), ("contract_address", contract)):
            if not is_tron_address(value):
                return _error(10, name)
        amount = 65_000 if self.chain.token_balance(to, contract) > 0 else 131_000
        duration = min(self.tiers)
        return _ok(
            {
                **self._quote(str(source), amount, duration),
                "from_address": source,
                "to_address": to,
                "contract_address": contract,
            }
        )

    async def new(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        service, params = body.get("service"), body.get("params")
        external_id = body.get("external_id")
        if service not in ("energy", "activate_address", "bandwidth", "resource_bundle"):
            return _error(2, "service")
        if not isinstance(params, dict):
            return _error(2, "params")
        if external_id is not None and not isinstance(external_id, str):
            return _error(2, "external_id")
        address = params.get("address")
        if not is_tron_address(address):
            return _error(10, "address")
        if service in ("bandwidth", "resource_bundle"):
            amounts = _amounts(params)
            bandwidth = as_int(amounts.get("bandwidth", params.get("amount")))
            if bandwidth is None or bandwidth <= 0:
                return _error(50, "bandwidth_amount")
            return _error(2, "service", "bandwidth is not available on the devnet")
        activated = self.chain.account_exists(address)
        if service == "activate_address":
            if activated:
                return _error(25)
            energy, duration, cost, activate = 0, 1, ACTIVATION_PRICE_SUN, True
        else:
            amounts = _amounts(params)
            energy_raw = amounts.get("energy", params.get("amount", params.get("energy_amount")))
            energy_or_none, duration_or_none = as_int(energy_raw), as_int(params.get("duration"))
            if energy_or_none is None or not MIN_ENERGY <= energy_or_none <= MAX_ENERGY:
                return _error(11, "energy_amount")
            if duration_or_none not in self.tiers:
                return _error(12, "duration")
            energy, duration = energy_or_none, duration_or_none
            activate = not activated and params.get("activate_address") is True
            if not activated and not activate:
                return _error(24)
            cost = self.tiers[duration] * energy + (ACTIVATION_PRICE_SUN if activate else 0)
        forced = self.faults.take_error()
        if forced is not None:
            by_key = {key: number for number, (key, _) in ERRORS.items()}
            code = as_int(forced) if as_int(forced) is not None else by_key.get(str(forced))
            return _error(code if code in ERRORS else 500)
        if self.short_of(energy):
            return _error(35)
        if cost > self.account.balance:
            return _error(6)
        order = self.accept(
            str(uuid.uuid4()),
            str(address),
            energy,
            period=f"{duration}H",
            period_s=period_seconds("24H" if duration == 24 else "1H", self.time_scale),
            cost=cost,
            ref=external_id,
            kind="activation" if service == "activate_address" else "energy",
            activation_sun=ACTIVATION_TRANSFER_SUN if activate else 0,
            extra={"service": service, "params": params},
        )
        if self.faults.take_drop_response():
            return Response(status_code=504)
        after = known_code(self.faults.take_error_after_order(), ERRORS, 500)
        if after is not None:
            return _error(after)
        return _ok(self._describe(order, amount_as_string=False))

    async def check(self, request: Request) -> Response:
        body = await self._signed(request)
        if isinstance(body, Response):
            return body
        order_id = body.get("id") or body.get("transaction_id")
        external_id = body.get("external_id")
        if not order_id and not external_id:
            return _error(2, "id", "id or external_id is required")
        if order_id:
            order = self.book.get(str(order_id))
        else:
            matches = self.book.by_ref(str(external_id))
            order = matches[0] if matches else None
        if order is None:
            return _error(20)
        return _ok(self._describe(order, amount_as_string=True))

    def _describe(self, order: Order, *, amount_as_string: bool) -> dict[str, Any]:
        status = self._status(order)
        if status != "success":
            tx_hash = ""
        else:
            tx_hash = order.activation_txid if order.kind == "activation" else order.delegate_txid
        created = datetime.fromtimestamp(order.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": order.id,
            "external_id": order.ref,
            "service": order.extra["service"],
            "params": order.extra["params"],
            "status": status,
            "amount": trx_string(order.cost) if amount_as_string else trx_number(order.cost),
            "created_at": created,
            "hash": tx_hash,
        }

    @staticmethod
    def _status(order: Order) -> str:
        if order.state == PAID:
            return "pending" if order.activation_txid else "new"
        if order.state == DELEGATING:
            return "pending"
        if order.state == FAILED:
            return "failed"
        return "success"


def _simulate(context: SimulatorContext) -> Simulation:
    tz = Tronzap(context)
    endpoints = {
        "/v1/services": tz.services,
        "/v1/balance": tz.balance,
        "/v1/address-info": tz.address_info,
        "/v1/estimate-energy": tz.estimate_energy,
        "/v1/calculate": tz.calculate,
        "/v1/transaction/new": tz.new,
        "/v1/transaction/check": tz.check,
        "/v1/direct-recharge-info": tz.direct_recharge_info,
    }
    routes = [Route(path, handler, methods=["POST"]) for path, handler in endpoints.items()]
    return Simulation.serving(routes, context.faults, tz.account)


SIMULATOR = SimulatorSpec(
    name="tronzap",
    port_offset=3,
    build=_simulate,
    credentials={"api_token": TRONZAP_API_TOKEN, "api_secret": TRONZAP_API_SECRET},
    prices=DEFAULT_PRICES["tronzap"],
)
