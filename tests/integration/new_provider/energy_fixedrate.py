"""FixedRate: energy delegated at one fixed price per unit, ordered under our own order number.

The API, as its simulator (``devnet/providers/fixedrate.py``) serves it: every request carries
``X-Api-Key`` (401 otherwise). ``GET /v1/price`` → ``{"sun_per_energy": n}``; ``GET /v1/balance`` →
``{"balance_sun": n}``; ``POST /v1/orders`` with ``{"order_no", "address", "energy", "callback_url"?}`` →
the order, and a reused ``order_no`` answers the order already placed under it; ``GET
/v1/orders/{order_no}`` → the order, or 404. An order is ``{"id", "order_no", "address", "energy",
"cost_sun", "status": "pending" | "delivered" | "failed", "txid"}``. Once delivered, the order is posted
to its ``callback_url`` with ``"timestamp"`` added and ``X-Signature`` = hex HMAC-SHA256 of the exact body
under the callback secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.callbacks import CallbackEvent
from sweeper.energy.base import Capabilities, RentalSource, check_address, place_once
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.registry import BuildContext, CallbackSpec, ProviderSpec, reveal
from sweeper.errors import CallbackRejected, OrderNotFound, ProviderAuthError, ProviderInvalidRequest
from sweeper.models import EnergyOrder, OrderStatus, Quote

STATUSES = {"pending": OrderStatus.PENDING, "delivered": OrderStatus.DELIVERED, "failed": OrderStatus.FAILED}
STATUS_CODES = {"pending": 0, "delivered": 1, "failed": 2}


class FixedRateClient(RentalSource):
    """FixedRate as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(lookup=True)

    def __init__(
        self, http: ProviderHttp, *, api_key: str, callback_url: str | None = None, name: str = "fixedrate"
    ) -> None:
        self.name = name
        self._http = http
        self._api_key = api_key
        self.callback_url = callback_url

    def __repr__(self) -> str:
        return f"FixedRateClient(name={self.name!r}, base_url={self._http.base_url!r})"

    def _call(
        self, method: str, path: str, *, idempotent: bool, body: Mapping[str, Any] | None = None
    ) -> Any:
        headers = {"X-Api-Key": self._api_key, "Content-Type": "application/json"}
        content = json.dumps(body).encode() if body is not None else None
        reply: Reply = self._http.request(
            method, path, idempotent=idempotent, content=content, headers=headers
        )
        data = reply.json()
        if reply.status_code == 401:
            raise ProviderAuthError(f"{self.name}: the API key was refused")
        if reply.status_code == 404:
            raise OrderNotFound(f"{self.name}: no such order")
        if reply.status_code != 200 or not isinstance(data, dict):
            raise ProviderInvalidRequest(f"{self.name}: HTTP {reply.status_code}")
        return data

    def _order(self, data: Mapping[str, Any]) -> EnergyOrder:
        return EnergyOrder(
            source=self.name,
            order_no=str(data["order_no"]),
            receive_address=str(data["address"]),
            energy=int(data["energy"]),
            status=STATUSES.get(str(data.get("status")), OrderStatus.PENDING),
            provider_order_id=str(data.get("id") or "") or None,
            cost_sun=int(data.get("cost_sun") or 0),
            delegate_txid=str(data.get("txid") or "") or None,
        )

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        if activate:
            raise ProviderInvalidRequest(
                f"{self.name} cannot activate addresses", reason="activation_unsupported"
            )
        price = int(self._call("GET", "/v1/price", idempotent=True)["sun_per_energy"])
        return Quote(source=self.name, energy=energy, cost_sun=price * energy)

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        if activate:
            raise ProviderInvalidRequest(
                f"{self.name} cannot activate addresses", reason="activation_unsupported"
            )
        body: dict[str, Any] = {"order_no": order_no, "address": address, "energy": energy}
        if self.callback_url:
            body["callback_url"] = self.callback_url
        return place_once(
            self.name,
            order_no,
            address,
            energy,
            lookup=lambda: self.lookup(order_no),
            place=lambda: self._order(self._call("POST", "/v1/orders", idempotent=False, body=body)),
        )

    def lookup(self, order_no: str) -> EnergyOrder | None:
        try:
            return self._order(self._call("GET", f"/v1/orders/{order_no}", idempotent=True))
        except OrderNotFound:
            return None

    def status(self, order: EnergyOrder) -> EnergyOrder:
        return self._order(self._call("GET", f"/v1/orders/{order.order_no}", idempotent=True))

    def balance(self) -> int:
        return int(self._call("GET", "/v1/balance", idempotent=True)["balance_sun"])


def parse_callback(
    headers: Mapping[str, str], body: bytes, *, secret: str, now: float, tolerance_seconds: float = 300.0
) -> CallbackEvent:
    """Verify a FixedRate callback (HMAC of the body, timestamp within the tolerance) and type it."""
    given = next((v for k, v in headers.items() if k.lower() == "x-signature"), None)
    if not given:
        raise CallbackRejected("X-Signature header is missing", reason="missing_headers")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise CallbackRejected("callback signature does not match", reason="bad_signature")
    try:
        data = json.loads(body)
        timestamp = int(data["timestamp"])
        status = str(data["status"])
        event = CallbackEvent(
            provider="fixedrate",
            serial=str(data["id"]),
            out_trade_no=str(data["order_no"]),
            status=STATUSES[status],
            status_code=STATUS_CODES[status],
            txid=str(data.get("txid") or ""),
            receive_address=str(data["address"]),
            energy=int(data["energy"]),
            delegated_energy=int(data["energy"]),
            active_hash="",
            timestamp=timestamp,
        )
    except (ValueError, KeyError, TypeError):
        raise CallbackRejected("callback body is not a FixedRate order", reason="malformed") from None
    if abs(now - timestamp) > tolerance_seconds:
        raise CallbackRejected("timestamp is outside the accepted window", reason="stale")
    return event


class FixedRateSettings(BaseModel):
    """``SWEEPER_ENERGY__FIXEDRATE__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.fixedrate.example")
    api_key: SecretStr | None = None
    callback_secret: SecretStr | None = None
    callbacks: bool = True


def build(settings: FixedRateSettings, context: BuildContext) -> FixedRateClient:
    return FixedRateClient(
        context.transport(settings.base_url),
        api_key=reveal(settings.api_key),
        callback_url=context.callback_url,
        name=context.name,
    )


SPEC = ProviderSpec(
    name="fixedrate",
    position=35,
    settings=FixedRateSettings,
    factory=build,
    capabilities=FixedRateClient.capabilities,
    required=("api_key",),
    callbacks=CallbackSpec(
        parse=parse_callback, secret=lambda s: s.callback_secret, wanted=lambda s: s.callbacks
    ),
)
