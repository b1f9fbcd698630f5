"""itrx.io: energy orders, sweep-specific collect-manual orders, order queries (docs/PROVIDERS.md).

POSTs are signed (compact sorted JSON, ``TIMESTAMP&json``, HMAC-SHA256 with the secret string) and the
exact signed bytes are sent. GETs carry only the ``API-KEY`` header. Amounts are sun.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta, timezone
from functools import partial
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.callbacks import parse_itrx_callback
from sweeper.energy.base import AddressNotActivated, Capabilities, HttpRental, check_address, place_once
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.registry import BuildContext, CallbackSpec, ProviderSpec, reveal
from sweeper.energy.signing import compact_json, itrx_signature
from sweeper.energy.units import iso_seconds
from sweeper.errors import (
    DuplicateOrderNumber,
    InvalidAddress,
    LookupUnsupported,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
    ProviderUnavailable,
    ResponseLost,
    SweeperError,
)
from sweeper.models import ENERGY_TRANSFER_TO_HOLDER, EnergyOrder, OrderStatus, Quote

ACTIVATION_SUN = 1_500_000
"""itrx charges 1.5 TRX to activate an address before delegating (``active`` > 0)."""

SUCCESS = frozenset({40})
FAILURE = frozenset({0, 41, 43})
MARKET_TTL_SECONDS = 60.0

# errno > 0 carries only a free-text message (no catalogue is published): match it by keyword.
MESSAGE_ERRORS: tuple[tuple[tuple[str, ...], type[SweeperError]], ...] = (
    (("余额不足", "insufficient balance", "balance is not enough"), ProviderInsufficientBalance),
    (
        (
            "能量不足",
            "资源不足",
            "energy insufficient",
            "insufficient energy",
            "not enough energy",
            "resource",
        ),
        ProviderOutOfResources,
    ),
    (("未激活", "not activated", "inactive"), AddressNotActivated),
    (
        ("重复", "已存在", "已使用", "已经存在", "已被使用", "duplicate", "already used", "already exist"),
        DuplicateOrderNumber,
    ),
    (
        (
            "签名",
            "signature",
            "api not found",
            "api key",
            "api-key",
            "apikey",
            "timestamp",
            "permission",
            "credentials",
            "ip not",
            "白名单",
        ),
        ProviderAuthError,
    ),
    (("地址", "invalid address", "valid tron address"), InvalidAddress),
    (("参数错误", "参数不正确", "参数有误", "invalid param", "parameter error"), ProviderInvalidRequest),
    (("找不到订单", "order not found"), OrderNotFound),
)


QUERY_PATH = "/api/v1/frontend/order/query"
PRICE_PATH = "/api/v1/frontend/order/price"
ORDER_PATHS = frozenset({"/api/v1/frontend/order", "/api/v1/frontend/order/collect-manual"})
REFUSALS: tuple[type[SweeperError], ...] = (
    ProviderInsufficientBalance,
    ProviderOutOfResources,
    AddressNotActivated,
    DuplicateOrderNumber,
    ProviderAuthError,
    InvalidAddress,
)
"""Answers to an order that name a refusal before anything was created (docs/PROVIDERS.md §2.2);
after any other answer the order may exist."""
CST = timezone(timedelta(hours=8))
"""``create_time`` carries +08:00; a time without a zone is read in it too."""


def _may_exist(exc: SweeperError) -> bool:
    if isinstance(exc, REFUSALS):
        return False
    # HTTP 400 field validation refuses before anything is created; a free-text ``detail`` may not.
    return not (type(exc) is ProviderInvalidRequest and "detail" not in exc.reason)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


created_at = partial(iso_seconds, zone=CST)
"""``create_time`` (ISO 8601, +08:00 in the docs) as Unix seconds; None when absent or unreadable."""


def status_of(code: object) -> OrderStatus:
    """40 is success; 0, 41 and 43 are terminal failures; everything else is still pending."""
    try:
        value = int(str(code))
    except ValueError:
        return OrderStatus.PENDING
    if value in SUCCESS:
        return OrderStatus.DELIVERED
    if value in FAILURE:
        return OrderStatus.FAILED
    return OrderStatus.PENDING


def error_for_message(errno: int, message: str) -> SweeperError:
    """The typed error for an ``errno`` answer; 404 is the one documented number."""
    if errno == 404:
        return OrderNotFound(f"itrx: {message or 'order not found'}")
    lowered = message.lower()
    for needles, cls in MESSAGE_ERRORS:
        if any(n in lowered for n in needles):
            return cls(f"itrx: {message}")
    return ProviderError(f"itrx: errno {errno}: {message}")


def error_for_reply(reply: Reply) -> SweeperError | None:
    """Map an HTTP-level refusal (400 validation/detail forms, 401/403) to a typed error, else None."""
    data = reply.json()
    if reply.status_code in (401, 403):
        return ProviderAuthError(f"itrx: HTTP {reply.status_code}")
    if reply.status_code == 400 and isinstance(data, dict):
        if "detail" in data:
            error = error_for_message(1, str(data["detail"]))
            if type(error) is ProviderError:
                return ProviderInvalidRequest(f"itrx: {data['detail']}", reason="provider_detail")
            return error
        text = "; ".join(f"{k}: {v}" for k, v in data.items())
        fields = set(data)
        if fields & {"receive_address", "to_address"}:
            low = text.lower()
            if "activ" in low or "激活" in text:
                return AddressNotActivated(f"itrx: {text}")
            return InvalidAddress(f"itrx: {text}")
        if "out_trade_no" in fields and any(
            w in text.lower() for w in ("exist", "duplicate", "used", "重复", "已存在", "已使用")
        ):
            return DuplicateOrderNumber(f"itrx: {text}")
        return ProviderInvalidRequest(f"itrx: {text}")
    if 400 <= reply.status_code < 500:
        return ProviderInvalidRequest(f"itrx: HTTP {reply.status_code}: {reply.text[:200]}")
    return None


class ItrxClient(HttpRental):
    """itrx.io as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(activation=True, lookup=True)

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_key: str,
        api_secret: str,
        period: str = "1H",
        use_collect_manual: bool = True,
        callback_url: str | None = None,
        clock: Callable[[], float] = time.time,
        name: str = "itrx",
        lookup_by_out_trade_no: bool = True,
    ) -> None:
        super().__init__(http, name)
        self._api_key = api_key
        self._api_secret = api_secret
        self.period = period
        self.use_collect_manual = use_collect_manual
        self.callback_url = callback_url
        self.lookup_by_out_trade_no = lookup_by_out_trade_no
        self._clock = clock
        self._market: tuple[float, dict[str, Any]] | None = None

    # -- transport -------------------------------------------------------------------------------
    def _answer(self, reply: Reply, *, order: bool = False) -> dict[str, Any]:
        """The answer's fields, or its typed error.

        After an *order* (``order``), an answer that names no known refusal (``errno`` with free text, a
        ``detail`` that is not about credentials, an unreadable body) leaves the order possibly created:
        :class:`ResponseLost`, resolved by lookup or energy on chain (docs/PROVIDERS.md §2.2).
        """
        try:
            error = error_for_reply(reply)
            if error is not None:
                raise error
            data = reply.json()
            if not isinstance(data, dict):
                raise ProviderUnavailable(f"itrx: unreadable answer (HTTP {reply.status_code})")
            errno = data.get("errno", 0)
            if errno not in (0, None):
                raise error_for_message(int(errno), str(data.get("message", "")))
        except SweeperError as exc:
            if order and _may_exist(exc):
                raise ResponseLost(f"{exc} (the order may exist)", reason="order_may_exist") from None
            raise
        inner = data.get("data")
        return inner if isinstance(inner, dict) else data

    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        headers = {"API-KEY": self._api_key}
        return self._answer(self._http.request("GET", path, idempotent=True, params=params, headers=headers))

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        text = compact_json(body)
        timestamp = str(int(self._clock()))
        headers = {
            "API-KEY": self._api_key,
            "TIMESTAMP": timestamp,
            "SIGNATURE": itrx_signature(self._api_secret, timestamp, text),
            "Content-Type": "application/json",
        }
        reply = self._http.request("POST", path, idempotent=False, content=text.encode(), headers=headers)
        return self._answer(reply, order=path in ORDER_PATHS)

    # -- reads -----------------------------------------------------------------------------------
    def market(self) -> dict[str, Any]:
        """index-data (prices, limits, balance), cached briefly: it changes slowly."""
        now = self._clock()
        if self._market is None or now - self._market[0] > MARKET_TTL_SECONDS:
            data = self._get("/api/v1/frontend/index-data")
            if "balance" not in data:
                raise ProviderAuthError("itrx: index-data is empty (wrong API key?)")
            self._market = (now, data)
        return self._market[1]

    def balance(self) -> int:
        self._market = None
        return int(self.market()["balance"])

    def _collect(self, energy: int, to: str | None, activate: bool) -> bool:
        """collect-manual fits a whole sweep (provider picks 65k/131k) but cannot activate."""
        return (
            self.use_collect_manual
            and to is not None
            and not activate
            and energy >= ENERGY_TRANSFER_TO_HOLDER
        )

    def _order_energy(self, energy: int) -> int:
        minimum = int(self.market().get("minimum_order_energy") or 0)
        return max(energy, minimum)

    def _collect_price(self, energy: int, to: str | None, activate: bool) -> dict[str, Any] | None:
        """The price of collect-manual for a transfer to ``to`` if it fits (covers ``energy``), else None.

        The provider sizes collect-manual's energy itself for one USDT transfer to ``to``
        (docs/PROVIDERS.md §2.3); when that is less than the measured need (a margin, another token) the
        plain order of the exact amount is used.
        """
        if to is None or not self._collect(energy, to, activate):
            return None
        data = self._get(PRICE_PATH, {"period": self.period, "to_address": to})
        return data if int(data.get("energy_amount") or 0) >= energy else None

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        if to is not None:
            check_address(to, "to")
        data = self._collect_price(energy, to, activate)
        amount = int((data or {}).get("energy_amount") or 0)
        if data is None:
            amount = self._order_energy(energy)
            data = self._get(PRICE_PATH, {"period": self.period, "energy_amount": amount})
        return Quote(
            source=self.name,
            energy=int(data.get("energy_amount") or amount),
            cost_sun=int(data["total_price"]),
            duration=self.period,
            activation_sun=ACTIVATION_SUN if activate else 0,
        )

    def _scene_energy(self, scene: object, fallback: int) -> int:
        """The energy collect-manual delegated for the scene it reports (index-data's USDT needs)."""
        key = {1: "usdt_energy_need_old", 2: "usdt_energy_need_new"}.get(_int_or_none(scene) or 0)
        value = self.market().get(key) if key else None
        return _int_or_none(value) or fallback

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """The order under our ``out_trade_no``; ``LookupUnsupported`` where the deployment cannot do it.

        Only the newest docs accept ``out_trade_no`` on order/query (OQ-I6): a deployment that wants
        ``serial`` (HTTP 400 naming it) or has no such route (404) cannot look our numbers up.
        """
        if not self.lookup_by_out_trade_no:
            raise LookupUnsupported(f"itrx: lookup by out_trade_no is switched off ({order_no})")
        params = {"out_trade_no": order_no}
        reply = self._http.request(
            "GET", QUERY_PATH, idempotent=True, params=params, headers={"API-KEY": self._api_key}
        )
        data = reply.json()
        if reply.status_code == 404 or (
            reply.status_code == 400 and isinstance(data, dict) and "serial" in data and "detail" not in data
        ):
            raise LookupUnsupported(
                f"itrx: this deployment cannot look orders up by out_trade_no ({order_no})"
            )
        try:
            found = self._answer(reply)
        except OrderNotFound:
            return None
        return self._from_query(order_no, found)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        """The order by its serial (from the reply or a callback); by our number where that works."""
        if order.provider_order_id:
            data = self._get(QUERY_PATH, {"serial": order.provider_order_id})
            return self._from_query(order.order_no, data, order)
        try:
            found = self.lookup(order.order_no)
        except LookupUnsupported:
            return order  # no serial, no lookup: callbacks or energy on chain will tell
        return found if found is not None else order

    def _from_query(
        self, order_no: str, data: Mapping[str, Any], prior: EnergyOrder | None = None
    ) -> EnergyOrder:
        details = data.get("details") or []
        txid = next(
            (d.get("delegate_hash") for d in details if isinstance(d, dict) and d.get("delegate_hash")), None
        )
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=str(data.get("receive_address") or (prior.receive_address if prior else "")),
            energy=int(data.get("energy_amount") or (prior.energy if prior else 0)),
            status=status_of(data.get("status")),
            provider_order_id=str(data.get("order_no") or data.get("serial") or "") or None,
            cost_sun=int(data.get("amount") or (prior.cost_sun if prior else 0)),
            delegate_txid=str(txid) if txid else None,
            detail=f"itrx status {data.get('status')}",
            refunded_sun=int(data.get("refund_amount") or 0),
            created_at=created_at(data.get("create_time")),
        )

    # -- the order -------------------------------------------------------------------------------
    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        if to is not None:
            check_address(to, "to")
        return place_once(
            self.name,
            order_no,
            address,
            energy,
            lookup=lambda: self.lookup(order_no),
            place=lambda: self._place(order_no, address, energy, to, activate),
        )

    def _place(self, order_no: str, address: str, energy: int, to: str | None, activate: bool) -> EnergyOrder:
        body: dict[str, Any] = {"receive_address": address, "out_trade_no": order_no}
        if self.callback_url:
            body["callback_url"] = self.callback_url
        collect = self._collect_price(energy, to, activate)
        if collect is not None:
            path = "/api/v1/frontend/order/collect-manual"
            body.update(scene=0, to_address=to)
            energy = int(collect.get("energy_amount") or energy)
        else:
            path = "/api/v1/frontend/order"
            energy = self._order_energy(energy)
            body.update(energy_amount=energy, period=self.period)
            if activate:
                body["active"] = 1
        data = self._post(path, body)
        detail = "order"
        if collect is not None:
            energy = self._scene_energy(data.get("scene"), energy)
            detail = f"collect-manual scene {data.get('scene')}"
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=address,
            energy=energy,
            status=OrderStatus.PENDING,
            provider_order_id=str(data.get("serial") or "") or None,
            cost_sun=int(data.get("amount") or 0),
            detail=detail,
            created_at=self._clock(),
        )


# -- registration ----------------------------------------------------------------------------------------


class ItrxSettings(BaseModel):
    """``SWEEPER_ENERGY__ITRX__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://itrx.io")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    period: str = "1H"
    use_collect_manual: bool = True
    callbacks: bool = True
    lookup_by_out_trade_no: bool = True
    """False for a deployment whose order/query knows ``serial`` only (docs/PROVIDERS.md OQ-I6)."""


def build_itrx(settings: ItrxSettings, context: BuildContext) -> ItrxClient:
    return ItrxClient(
        context.transport(settings.base_url),
        api_key=reveal(settings.api_key),
        api_secret=reveal(settings.api_secret),
        period=settings.period,
        use_collect_manual=settings.use_collect_manual,
        callback_url=context.callback_url,
        name=context.name,
        lookup_by_out_trade_no=settings.lookup_by_out_trade_no,
    )


SPEC = ProviderSpec(
    name="itrx",
    position=10,
    settings=ItrxSettings,
    factory=build_itrx,
    capabilities=ItrxClient.capabilities,
    required=("api_key", "api_secret"),
    callbacks=CallbackSpec(
        parse=parse_itrx_callback, secret=lambda s: s.api_secret, wanted=lambda s: s.callbacks
    ),
    enabled_by_default=True,
)
