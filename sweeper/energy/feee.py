"""Feee.io: short energy rentals through its open API (docs/PROVIDERS.md, Feee.io).

Every call carries the header ``key`` and a ``User-Agent`` (the documents' examples always send one).
Answers are ``{"code", "msg", "request_id", "data"}`` with ``code`` 0 for success; amounts are TRX.
Feee.io takes no order number of ours and can find an order only by its own ``order_no``, so an order
whose reply is lost cannot be looked up: it comes back ``UNKNOWN`` and the energy on chain decides.
Nothing is ever ordered again for it (the residual risk is in docs/PROVIDERS.md, Feee.io §lost replies).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.energy.base import (
    AddressNotActivated,
    Capabilities,
    HttpRental,
    check_address,
    judged_on_chain,
    place_once,
)
from sweeper.energy.http import ProviderHttp, Reply, coded_answer
from sweeper.energy.registry import ProviderSpec, http_client
from sweeper.energy.units import answer_sun
from sweeper.errors import (
    InvalidAddress,
    OrderNotFound,
    ProviderAuthError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
    SweeperError,
)
from sweeper.models import EnergyOrder, OrderStatus, Quote

ENERGY = 1
"""``resource_type``: 0 bandwidth, 1 energy; only 1 is accepted, so Feee.io sells no bandwidth."""
MIN_ENERGY = 32_000
"""The smallest order third-party clients send; Feee.io publishes no minimum (OQ-F3)."""
CANCELLED = frozenset({12})
"""The status of the documents' cancelled order (``refund_amount`` equal to ``pay_amount``)."""
USER_AGENT = "Sweeper/1.0 (Feee.io client)"

# ``code`` other than 0 carries only ``msg``: no catalogue is published (OQ-F2). Every one of these is
# a refusal (Feee.io answered): no order exists, because an order is created only with ``code`` 0.
MESSAGE_ERRORS: tuple[tuple[tuple[str, ...], type[SweeperError]], ...] = (
    (("key", "auth", "permission", "whitelist", "白名单", "密钥"), ProviderAuthError),
    (("balance", "余额"), ProviderInsufficientBalance),
    (("not activ", "未激活"), AddressNotActivated),
    (("address", "地址"), InvalidAddress),
    (("insufficient energy", "not enough", "resource", "能量不足", "资源不足"), ProviderOutOfResources),
    (("not found", "not exist", "不存在"), OrderNotFound),
)


def error_for(code: int, message: str) -> SweeperError:
    """The typed error of a ``code`` other than 0, matched on its message."""
    lowered = message.lower()
    text = f"feee: {code}: {message}".rstrip(": ")
    for needles, cls in MESSAGE_ERRORS:
        if any(n in lowered for n in needles):
            return cls(text)
    return ProviderInvalidRequest(text)


sun = partial(answer_sun, "feee")


def status_of(data: Mapping[str, Any]) -> OrderStatus:
    """Delegated once a ``frozen_tx_id`` is set (the order's or a sub-order's); refunded is failed.

    The status numbers are not documented (OQ-F1): only what the examples show is relied on, and the
    energy on chain is what the sweep waits for in any case.
    """
    refunded, paid = sun(data.get("refund_amount") or 0), sun(data.get("pay_amount") or 0)
    if data.get("status") in CANCELLED or (refunded > 0 and refunded >= paid):
        return OrderStatus.FAILED  # a partial refund (a split order part-filled) is not a failure
    parts = [data, *(s for s in data.get("sub_order") or [] if isinstance(s, dict))]
    if any(p.get("frozen_tx_id") for p in parts):
        return OrderStatus.DELIVERED
    return OrderStatus.PENDING


class FeeeClient(HttpRental):
    """Feee.io as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities()

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_key: str,
        rent_duration: int = 10,
        rent_time_unit: str = "m",
        user_agent: str = USER_AGENT,
        name: str = "feee",
    ) -> None:
        super().__init__(http, name)
        self._api_key = api_key
        self.rent_duration = rent_duration
        self.rent_time_unit = rent_time_unit
        self._user_agent = user_agent

    def _headers(self) -> dict[str, str]:
        return {"key": self._api_key, "User-Agent": self._user_agent, "Content-Type": "application/json"}

    def _answer(self, reply: Reply) -> Any:
        data = coded_answer(reply, "feee")
        code = int(data["code"])
        if code != 0:
            raise error_for(code, str(data.get("msg") or ""))
        return data.get("data")

    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        reply = self._http.request("GET", path, idempotent=True, params=params, headers=self._headers())
        return self._answer(reply)

    def _rental(self) -> dict[str, str | int]:
        return {"rent_duration": self.rent_duration, "rent_time_unit": self.rent_time_unit}

    # -- reads -----------------------------------------------------------------------------------
    def balance(self) -> int:
        data = self._get("/open/v2/api/query")
        return sun((data or {}).get("trx_money") or 0)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        self._refuse_activation(activate)
        amount = max(energy, MIN_ENERGY)
        data = self._get("/open/v2/order/price", {"resource_value": amount, **self._rental()})
        return Quote(
            source=self.name,
            energy=int(data.get("resource_value") or amount),
            cost_sun=sun(data["pay_amount"]),  # it includes the service amount
            duration=f"{self.rent_duration}{self.rent_time_unit.upper()}",
        )

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """Feee.io knows orders only by its own number: nothing can be found by ours."""
        return None

    def status(self, order: EnergyOrder) -> EnergyOrder:
        if not order.provider_order_id:
            return judged_on_chain(self.name, order)
        data = self._get("/open/v2/order/query", {"order_no": order.provider_order_id})
        return self._from_detail(order.order_no, data, order)

    def _from_detail(
        self, order_no: str, data: Mapping[str, Any], prior: EnergyOrder | None = None
    ) -> EnergyOrder:
        paid = sun(data.get("pay_amount") or 0) - sun(data.get("refund_amount") or 0)
        parts = [data, *(s for s in data.get("sub_order") or [] if isinstance(s, dict))]
        txid = next((str(p["frozen_tx_id"]) for p in parts if p.get("frozen_tx_id")), None)
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=str(data.get("receive_address") or (prior.receive_address if prior else "")),
            energy=int(data.get("resource_value") or (prior.energy if prior else 0)),
            status=status_of(data),
            provider_order_id=str(data.get("order_no") or "") or None,
            cost_sun=max(paid, 0),
            delegate_txid=txid,
            detail=f"feee status {data.get('status')}",
        )

    # -- the order -------------------------------------------------------------------------------
    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        self._refuse_activation(activate)
        amount = max(energy, MIN_ENERGY)
        body = {
            "resource_type": ENERGY,
            "receive_address": address,
            "resource_value": amount,
            **self._rental(),
        }
        content = json.dumps(body, separators=(",", ":")).encode()

        def place() -> EnergyOrder:
            reply = self._http.request(
                "POST", "/open/v2/order/submit", idempotent=False, content=content, headers=self._headers()
            )
            return self._from_detail(order_no, self._answer(reply))

        # After a lost reply asking again would order again: Feee.io has no number of ours to recognise
        # it by, and nothing to look it up with, so the order may exist (UNKNOWN).
        return place_once(
            self.name, order_no, address, amount, lookup=lambda: None, place=place, look_first=False
        )


# -- registration ----------------------------------------------------------------------------------------


class FeeeSettings(BaseModel):
    """``SWEEPER_ENERGY__FEEE__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://feee.io")
    api_key: SecretStr | None = None
    rent_duration: int = 10
    rent_time_unit: str = "m"
    """``d`` (1-30), ``h`` (1 or 3) or ``m`` (10 only): the 10-minute rental outlasts a sweep."""
    user_agent: str = USER_AGENT


SPEC = ProviderSpec(
    name="feee",
    position=38,
    settings=FeeeSettings,
    factory=http_client(FeeeClient),
    capabilities=FeeeClient.capabilities,
    required=("api_key",),
)
