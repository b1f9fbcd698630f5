"""The provider at openapi.ea888fee.top: balance and prices, orders, order info (docs/PROVIDERS.md).

Every call is a signed POST (empty fields dropped, sorted compact JSON, ``{}`` for none). Orders cannot be
looked up by our number (``/v1/order/info`` wants the platform ``orderNo``), so idempotency rests on the
provider refusing a reused ``outTradeNo`` (600004): after that, or after a lost answer, the outcome is
:class:`~sweeper.energy.base.OrderOutcomeUnknown` and the caller waits for the energy on chain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.energy.base import (
    AddressNotActivated,
    Capabilities,
    HttpRental,
    check_address,
    place_once,
)
from sweeper.energy.http import ProviderHttp, Reply, coded_answer
from sweeper.energy.registry import ProviderSpec, http_client
from sweeper.energy.signing import ea888fee_body, ea888fee_signature
from sweeper.energy.units import iso_seconds
from sweeper.errors import (
    DuplicateOrderNumber,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
    ResponseLost,
    SweeperError,
)
from sweeper.models import EnergyOrder, OrderStatus, Quote

OK = 200
MAX_OUT_TRADE_NO = 63
"""``outTradeNo`` must be shorter than 64 characters."""
ORDER_PATH = "/v1/order"
DOC_PRICE_UNIT_SUN = Fraction(860_000, 36 * 65_000)
"""Sun per energy that one unit of ``prices[].price`` stands for, from the document's only priced example:
65,000 energy for ``1H`` charged 860,000 sun while ``1H`` is listed at 36 (docs/PROVIDERS.md §3.4, OQ-E4).
About 0.3675; configurable (``SWEEPER_ENERGY__EA888FEE__PRICE_UNIT_SUN``)."""
DEFAULT_CHARGE_TOLERANCE_PERCENT = Decimal(20)

ERRORS: dict[int, tuple[type[SweeperError], str]] = {
    10001: (ProviderInvalidRequest, "parameter error"),
    600001: (ProviderAuthError, "API key wrong or expired"),
    600002: (ProviderAuthError, "signature error"),
    600003: (ProviderInvalidRequest, "unsupported rental period"),
    600004: (DuplicateOrderNumber, "order number already used"),
    600005: (ProviderInsufficientBalance, "insufficient balance"),
    600006: (ProviderOutOfResources, "insufficient platform resources"),
    600007: (OrderNotFound, "order does not exist"),
    600008: (ProviderAuthError, "IP not in allow-list"),
}

STATUSES: dict[str, OrderStatus] = {
    "WAIT_DELEGATE": OrderStatus.PENDING,  # paid, waiting for delegation
    "PENDING": OrderStatus.DELIVERED,  # 代理中: the energy is delegated now
    "FINISHED": OrderStatus.DELIVERED,  # the delegation ran its period
    "ABORT": OrderStatus.FAILED,
    "BREAK_OFF": OrderStatus.FAILED,
}


CST = timezone(timedelta(hours=8))
"""``createTime`` has no zone in the document (``2024-05-12 10:23:40``); read as China time like itrx's."""


created_at = partial(iso_seconds, zone=CST)
"""``createTime`` (no zone in the docs: +08:00) as Unix seconds; None when absent or unreadable."""


def charge_for(price: object, energy: int, unit_sun: Fraction) -> int:
    """What ``energy`` at the listed ``price`` costs in sun (rounded up, so a quote never understates)."""
    return math.ceil(Fraction(Decimal(str(price))) * energy * unit_sun)


def error_for_code(code: int, msg: str) -> SweeperError:
    """The typed error for an envelope ``code`` other than 200 (10001 naming activation is its own error)."""
    cls, meaning = ERRORS.get(code, (ProviderError, "error"))
    if code == 10001 and ("未激活" in msg or "not activated" in msg.lower()):
        cls = AddressNotActivated
    return cls(f"ea888fee: {code} {meaning}: {msg}".rstrip(": "))


class Ea888feeClient(HttpRental):
    """openapi.ea888fee.top as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities()

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_key: str,
        api_secret: str,
        period: str = "1H",
        clock: Callable[[], float] = time.time,
        name: str = "ea888fee",
        price_unit_sun: Fraction | Decimal = DOC_PRICE_UNIT_SUN,
        charge_tolerance_percent: Decimal = DEFAULT_CHARGE_TOLERANCE_PERCENT,
    ) -> None:
        super().__init__(http, name)
        self._api_key = api_key
        self._api_secret = api_secret
        self.period = period
        self._clock = clock
        self.price_unit_sun = Fraction(price_unit_sun)
        self.charge_tolerance = Fraction(charge_tolerance_percent) / 100

    def _call(self, path: str, params: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        body = ea888fee_body(params)
        timestamp = str(int(self._clock()))
        headers = {
            "API-KEY": self._api_key,
            "TIMESTAMP": timestamp,
            "SIGNATURE": ea888fee_signature(self._api_secret, timestamp, body),
            "Content-Type": "application/json",
        }
        reply = self._http.request(
            "POST", path, idempotent=idempotent, content=body.encode(), headers=headers
        )
        return self._answer(reply, order=path == ORDER_PATH)

    def _answer(self, reply: Reply, *, order: bool = False) -> dict[str, Any]:
        """``data`` of a code-200 answer, else the typed error; after an order, a code outside the
        document's table or an unreadable answer may hide a created order (:class:`ResponseLost`)."""
        data = coded_answer(reply, "ea888fee", order=order)
        code = int(data["code"])
        if code != OK and order and code not in ERRORS:
            raise ResponseLost(f"ea888fee: {code} {data.get('msg') or ''} (the order may exist)")
        if code != OK:
            raise error_for_code(code, str(data.get("msg") or ""))
        inner = data.get("data")
        return inner if isinstance(inner, dict) else {}

    def account(self) -> dict[str, Any]:
        """``/v1/balance``: platform energy, minimum order, prices per period, our balance."""
        return self._call("/v1/balance", {}, idempotent=True)

    def balance(self) -> int:
        return int(self.account()["balance"])

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        self._refuse_activation(activate)
        account = self.account()
        price = next(
            (p.get("price") for p in account.get("prices") or [] if p.get("period") == self.period), None
        )
        if price is None:
            raise ProviderInvalidRequest(f"ea888fee: period {self.period} is not offered", reason="period")
        energy = max(energy, int(account.get("minimumOrderEnergy") or 0))
        available = account.get("platformAvailEnergy")
        if available is not None and int(available) < energy:
            raise ProviderOutOfResources(f"ea888fee: {available} energy available, {energy} needed")
        # The unit of prices[].price is undocumented (OQ-E4): ``price_unit_sun`` sun per energy per unit.
        cost = charge_for(price, energy, self.price_unit_sun)
        return Quote(source=self.name, energy=energy, cost_sun=cost, duration=self.period)

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """ea888fee cannot find an order by our number (``capabilities.lookup`` is False): never a claim."""
        raise ProviderInvalidRequest(
            f"ea888fee cannot look orders up by our number ({order_no})", reason="lookup_unsupported"
        )

    def status(self, order: EnergyOrder) -> EnergyOrder:
        if not order.provider_order_id:
            return order  # no platform number: only the chain can tell
        data = self._call("/v1/order/info", {"orderNo": order.provider_order_id}, idempotent=True)
        raw = str(data.get("status") or "")
        return EnergyOrder(
            source=self.name,
            order_no=order.order_no,
            receive_address=str(data.get("receiveAddress") or order.receive_address),
            energy=int(data.get("energyAmount") or order.energy),
            status=STATUSES.get(raw, OrderStatus.PENDING),
            provider_order_id=order.provider_order_id,
            cost_sun=int(data.get("amount") or order.cost_sun),
            delegate_txid=order.delegate_txid,
            detail=f"ea888fee status {raw}",
            refunded_sun=int(data.get("refundAmount") or 0),
            created_at=created_at(data.get("createTime")),
        )

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        self._refuse_activation(activate)
        if not order_no or len(order_no) > MAX_OUT_TRADE_NO:
            raise ProviderInvalidRequest(f"ea888fee: outTradeNo must be 1..{MAX_OUT_TRADE_NO} characters")
        return place_once(
            self.name,
            order_no,
            address,
            energy,
            lookup=lambda: None,
            place=lambda: self._place(order_no, address, energy),
            look_first=False,
        )

    def _place(self, order_no: str, address: str, energy: int) -> EnergyOrder:
        account = self.account()
        minimum = int(account.get("minimumOrderEnergy") or 0)
        energy = max(energy, minimum)
        listed = next(
            (p.get("price") for p in account.get("prices") or [] if p.get("period") == self.period), None
        )
        params = {
            "energyAmount": energy,
            "period": self.period,
            "receiveAddress": address,
            "outTradeNo": order_no,
        }
        data = self._call(ORDER_PATH, params, idempotent=False)
        charged = int(data.get("amount", data.get("price")) or 0)
        expected = charge_for(listed, energy, self.price_unit_sun) if listed is not None else None
        mismatch = (
            expected is not None
            and charged > 0
            and abs(charged - expected) > expected * self.charge_tolerance
        )
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=address,
            energy=energy,
            status=OrderStatus.PENDING,
            provider_order_id=str(data.get("orderNo") or "") or None,
            cost_sun=charged,
            detail=f"order (charged {charged} sun, the price list says {expected})" if mismatch else "order",
            charge_mismatch=mismatch,
            created_at=self._clock(),
        )


# -- registration ----------------------------------------------------------------------------------------


class Ea888feeSettings(BaseModel):
    """``SWEEPER_ENERGY__EA888FEE__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://openapi.ea888fee.top")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    period: str = "1H"
    price_unit_sun: Decimal = Decimal("0.367521367521")
    """Sun per energy one unit of ``prices[].price`` stands for; the default fits the document's example
    (65,000 energy, ``1H`` at 36, charged 860,000 sun; docs/PROVIDERS.md §3.4)."""
    charge_tolerance_percent: Decimal = DEFAULT_CHARGE_TOLERANCE_PERCENT
    """A charge further than this from the price list opens the source's breaker."""


SPEC = ProviderSpec(
    name="ea888fee",
    position=20,
    settings=Ea888feeSettings,
    factory=http_client(Ea888feeClient),
    capabilities=Ea888feeClient.capabilities,
    required=("api_key", "api_secret"),
    enabled_by_default=True,
)
