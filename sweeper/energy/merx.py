"""MERX, an exchange that routes each order to the cheapest of several providers (docs/PROVIDERS.md, MERX).

Every call carries ``X-API-Key``. An order is ``POST /api/v1/orders`` with an ``Idempotency-Key`` header,
which MERX answers, for the same key within 24 hours, with the original reply: the key is our order
number, so a lost reply is resolved by asking again with it (the answer is the one order, whether the
first request arrived or not). MERX has no lookup by our number; an order whose reply stays lost is
``UNKNOWN`` and the energy on chain decides. Amounts are sun; the balance is TRX. It sells bandwidth too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.energy.base import Capabilities, HttpRental, check_address, judged_on_chain, place_keyed
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.registry import ProviderSpec, http_client
from sweeper.energy.units import answer_sun
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
from sweeper.models import EnergyOrder, OrderStatus, Quote

ORDERS = "/api/v1/orders"
MIN_ENERGY = 65_000
"""Energy orders below 65,000 units are rejected with a 400 (the create-order page)."""

STATUSES = {
    "PENDING": OrderStatus.PENDING,
    "EXECUTING": OrderStatus.PENDING,
    "FILLED": OrderStatus.DELIVERED,
    "FAILED": OrderStatus.FAILED,
}

# ``error.code`` → typed error. MERX documents the envelope and UNAUTHORIZED; the other codes are the
# names its pages and SDK use, matched loosely because the full catalogue is not published (OQ-M2).
# None of these is an order that may exist: MERX answered, and a refused request creates nothing.
ERRORS: tuple[tuple[tuple[str, ...], type[SweeperError]], ...] = (
    (("UNAUTHORIZED", "FORBIDDEN", "PERMISSION", "API_KEY"), ProviderAuthError),
    (("INSUFFICIENT_BALANCE", "INSUFFICIENT_FUNDS"), ProviderInsufficientBalance),
    (("NO_PROVIDER", "PRICE_EXCEEDED", "UNAVAILABLE", "NO_LIQUIDITY", "CAPACITY"), ProviderOutOfResources),
    (("ADDRESS",), InvalidAddress),
    (("NOT_FOUND",), OrderNotFound),
    (("RATE_LIMIT", "MAINTENANCE"), ProviderUnavailable),
)


def error_for(status: int, code: str, message: str) -> SweeperError:
    """The typed error of an ``{"error": {"code", "message"}}`` answer (or of a bare HTTP status)."""
    text = f"merx: {code or status}: {message}".rstrip(": ")
    upper = code.upper()
    for needles, cls in ERRORS:
        if any(n in upper for n in needles):
            return cls(text)
    if status in (401, 403):
        return ProviderAuthError(text)
    if status == 404:
        return OrderNotFound(text)
    if status >= 500:
        return ProviderUnavailable(text)
    if 400 <= status < 500:
        return ProviderInvalidRequest(text)
    return ProviderError(text)


sun = partial(answer_sun, "merx")


class MerxClient(HttpRental):
    """MERX as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(bandwidth=True)

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_key: str,
        duration_sec: int = 3600,
        max_price_sun: int | None = None,
        name: str = "merx",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(http, name)
        self._api_key = api_key
        self.duration_sec = duration_sec
        self.max_price_sun = max_price_sun
        self._sleep = sleep

    # -- transport -------------------------------------------------------------------------------
    def _headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"X-API-Key": self._api_key, "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def _answer(self, reply: Reply) -> Any:
        data = reply.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) or reply.status_code >= 400:
            error = error if isinstance(error, dict) else {}
            raise error_for(reply.status_code, str(error.get("code") or ""), str(error.get("message") or ""))
        if data is None:
            raise ProviderUnavailable(f"merx: unreadable answer (HTTP {reply.status_code})")
        # The SDK reads ``data`` out of an envelope; the reference pages print the bare object (OQ-M1).
        if isinstance(data, dict) and "data" in data and isinstance(data["data"], dict | list):
            return data["data"]
        return data

    def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self._answer(
            self._http.request("GET", path, idempotent=True, params=params, headers=self._headers())
        )

    # -- reads -----------------------------------------------------------------------------------
    def balance(self) -> int:
        return sun(self._get("/api/v1/balance").get("trx", 0))

    def _preview(self, resource: str, amount: int) -> Quote:
        data = self._get(
            f"{ORDERS}/preview", {"resource": resource, "amount": amount, "duration": self.duration_sec}
        )
        best = data.get("best") if isinstance(data, dict) else None
        if not isinstance(best, dict):
            raise ProviderOutOfResources(f"merx: no provider can fill {amount} {resource.lower()}")
        price = int(best["price_sun"])
        return Quote(
            source=self.name, energy=amount, cost_sun=price * amount, duration=f"{self.duration_sec}S"
        )

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        self._refuse_activation(activate)
        return self._preview("ENERGY", max(energy, MIN_ENERGY))

    def quote_bandwidth(self, address: str, size: int) -> Quote:
        check_address(address)
        return self._preview("BANDWIDTH", size)

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """MERX finds orders by its own id only: nothing can be found by our number."""
        return None

    def status(self, order: EnergyOrder) -> EnergyOrder:
        if not order.provider_order_id:
            return judged_on_chain(self.name, order)  # no id to ask with: the energy on chain decides (OQ-M3)
        data = self._get(f"{ORDERS}/{order.provider_order_id}")
        return self._from_order(order.order_no, data, order)

    def _from_order(
        self, order_no: str, data: Mapping[str, Any], prior: EnergyOrder | None = None
    ) -> EnergyOrder:
        fills = [f for f in data.get("fills") or [] if isinstance(f, dict)]
        txid = next((str(f.get("tx_id") or f.get("delegation_tx")) for f in fills if f.get("tx_id")), None)
        cost = data.get("total_cost_sun")
        status = str(data.get("status") or "")
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=str(data.get("target_address") or (prior.receive_address if prior else "")),
            energy=int(data.get("amount") or (prior.energy if prior else 0)),
            status=STATUSES.get(status, OrderStatus.PENDING),
            provider_order_id=str(data.get("id") or "") or None,
            cost_sun=int(Decimal(str(cost))) if cost not in (None, "") else (prior.cost_sun if prior else 0),
            delegate_txid=txid,
            detail=f"merx {data.get('resource_type') or ''} {status}".replace("  ", " "),
        )

    # -- orders ----------------------------------------------------------------------------------
    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        self._refuse_activation(activate)
        return self._place(order_no, address, "ENERGY", max(energy, MIN_ENERGY))

    def order_bandwidth(self, order_no: str, address: str, size: int) -> EnergyOrder:
        check_address(address)
        return self._place(order_no, address, "BANDWIDTH", size)

    def _place(self, order_no: str, address: str, resource: str, amount: int) -> EnergyOrder:
        """POST under ``Idempotency-Key: order_no``; a lost reply is asked again with the same key."""
        body: dict[str, Any] = {
            "resource_type": resource,
            "order_type": "MARKET",
            "amount": amount,
            "duration_sec": self.duration_sec,
            "target_address": address,
        }
        if self.max_price_sun is not None:
            body["max_price_sun"] = self.max_price_sun
        content = json.dumps(body, separators=(",", ":")).encode()

        def accept(data: Any) -> EnergyOrder:
            found = self._from_order(order_no, data)
            if (found.receive_address, found.energy, data.get("resource_type")) != (
                address,
                amount,
                resource,
            ):
                # MERX replayed an earlier order under this key (another ledger used the number): not ours,
                # and the replay created nothing, so refusing it is safe.
                raise DuplicateOrderNumber(
                    f"merx: Idempotency-Key {order_no} already names order {found.provider_order_id} "
                    f"for {found.energy} {data.get('resource_type')} to {found.receive_address}"
                )
            return found

        return place_keyed(
            self.name,
            order_no,
            address,
            amount,
            send=lambda: self._http.request(
                "POST", ORDERS, idempotent=False, content=content, headers=self._headers(order_no)
            ),
            answer=self._answer,
            accept=accept,
            sleep=self._sleep,
        )


# -- registration ----------------------------------------------------------------------------------------


class MerxSettings(BaseModel):
    """``SWEEPER_ENERGY__MERX__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://merx.exchange")
    api_key: SecretStr | None = None
    duration_sec: int = 3600
    max_price_sun: int | None = None
    """Sent as ``max_price_sun``: a MARKET order fails rather than fill above it (unset: no ceiling)."""


SPEC = ProviderSpec(
    name="merx",
    position=37,
    settings=MerxSettings,
    factory=http_client(MerxClient),
    capabilities=MerxClient.capabilities,
    required=("api_key",),
)
