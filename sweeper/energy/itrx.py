"""itrx.io: energy orders, sweep-specific collect-manual orders, order queries (docs/PROVIDERS.md).

POSTs are signed (compact sorted JSON, ``TIMESTAMP&json``, HMAC-SHA256 with the secret string) and the
exact signed bytes are sent. GETs carry only the ``API-KEY`` header. Amounts are sun.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sweeper.energy.base import AddressNotActivated, Capabilities, RentalSource, check_address, place_once
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.signing import compact_json, itrx_signature
from sweeper.errors import (
    DuplicateOrderNumber,
    InvalidAddress,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
    ProviderUnavailable,
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
    (("重复", "duplicate", "already used", "already exists"), DuplicateOrderNumber),
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
    (("找不到订单", "order not found"), OrderNotFound),
)


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
                return ProviderInvalidRequest(f"itrx: {data['detail']}")
            return error
        text = "; ".join(f"{k}: {v}" for k, v in data.items())
        fields = set(data)
        if fields & {"receive_address", "to_address"}:
            low = text.lower()
            if "activ" in low or "激活" in text:
                return AddressNotActivated(f"itrx: {text}")
            return InvalidAddress(f"itrx: {text}")
        if "out_trade_no" in fields and any(
            w in text.lower() for w in ("exist", "duplicate", "used", "重复")
        ):
            return DuplicateOrderNumber(f"itrx: {text}")
        return ProviderInvalidRequest(f"itrx: {text}")
    if 400 <= reply.status_code < 500:
        return ProviderInvalidRequest(f"itrx: HTTP {reply.status_code}: {reply.text[:200]}")
    return None


class ItrxClient(RentalSource):
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
    ) -> None:
        self.name = name
        self._http = http
        self._api_key = api_key
        self._api_secret = api_secret
        self.period = period
        self.use_collect_manual = use_collect_manual
        self.callback_url = callback_url
        self._clock = clock
        self._market: tuple[float, dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"ItrxClient(name={self.name!r}, base_url={self._http.base_url!r})"

    # -- transport -------------------------------------------------------------------------------
    def _answer(self, reply: Reply) -> dict[str, Any]:
        error = error_for_reply(reply)
        if error is not None:
            raise error
        data = reply.json()
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"itrx: unreadable answer (HTTP {reply.status_code})")
        errno = data.get("errno", 0)
        if errno not in (0, None):
            raise error_for_message(int(errno), str(data.get("message", "")))
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
        return self._answer(reply)

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

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        params: dict[str, str | int] = {"period": self.period}
        if to is not None and self._collect(energy, check_address(to, "to"), activate):
            params["to_address"] = to
        else:
            params["energy_amount"] = self._order_energy(energy)
        data = self._get("/api/v1/frontend/order/price", params)
        return Quote(
            source=self.name,
            energy=int(data.get("energy_amount") or params.get("energy_amount") or energy),
            cost_sun=int(data["total_price"]),
            duration=self.period,
            activation_sun=ACTIVATION_SUN if activate else 0,
        )

    def lookup(self, order_no: str) -> EnergyOrder | None:
        try:
            data = self._get("/api/v1/frontend/order/query", {"out_trade_no": order_no})
        except OrderNotFound:
            return None
        return self._from_query(order_no, data)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        if order.provider_order_id:
            data = self._get("/api/v1/frontend/order/query", {"serial": order.provider_order_id})
        else:
            data = self._get("/api/v1/frontend/order/query", {"out_trade_no": order.order_no})
        return self._from_query(order.order_no, data, order)

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
        if self._collect(energy, to, activate):
            path = "/api/v1/frontend/order/collect-manual"
            body.update(scene=0, to_address=to)
        else:
            path = "/api/v1/frontend/order"
            energy = self._order_energy(energy)
            body.update(energy_amount=energy, period=self.period)
            if activate:
                body["active"] = 1
        data = self._post(path, body)
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=address,
            energy=energy,
            status=OrderStatus.PENDING,
            provider_order_id=str(data.get("serial") or "") or None,
            cost_sun=int(data.get("amount") or 0),
            detail="collect-manual" if path.endswith("collect-manual") else "order",
        )


# -- registration ----------------------------------------------------------------------------------------
from pydantic import AnyHttpUrl, BaseModel, SecretStr  # noqa: E402

from sweeper.callbacks import parse_itrx_callback  # noqa: E402
from sweeper.energy.registry import BuildContext, CallbackSpec, ProviderSpec, reveal  # noqa: E402


class ItrxSettings(BaseModel):
    """``SWEEPER_ENERGY__ITRX__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://itrx.io")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    period: str = "1H"
    use_collect_manual: bool = True
    callbacks: bool = True


def build_itrx(settings: ItrxSettings, context: BuildContext) -> ItrxClient:
    return ItrxClient(
        context.transport(settings.base_url),
        api_key=reveal(settings.api_key),
        api_secret=reveal(settings.api_secret),
        period=settings.period,
        use_collect_manual=settings.use_collect_manual,
        callback_url=context.callback_url,
        name=context.name,
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
