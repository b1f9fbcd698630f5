"""TronZap: services, price calculation, energy and activation transactions, checks (docs/PROVIDERS.md).

Every call is a POST signed with ``X-Signature = sha256(body + secret)`` plus a bearer token. Amounts are
TRX decimals (numbers or numeric strings) and become sun exactly via Decimal. Branch on ``code``, never on
the HTTP status. No callbacks exist: orders are polled with ``/v1/transaction/check``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import partial
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.energy.base import AddressNotActivated, Capabilities, HttpRental, check_address, place_once
from sweeper.energy.http import ProviderHttp, Reply, coded_answer
from sweeper.energy.registry import ProviderSpec, http_client
from sweeper.energy.signing import tronzap_signature
from sweeper.energy.units import answer_sun, iso_seconds
from sweeper.errors import (
    DuplicateOrderNumber,
    InvalidAddress,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderUnavailable,
    ResponseLost,
    SweeperError,
)
from sweeper.models import EnergyOrder, OrderStatus, Quote

ERRORS: dict[int, type[SweeperError]] = {
    1: ProviderAuthError,  # auth: bad token or signature
    2: ProviderInvalidRequest,  # invalid_service_or_params
    5: ProviderAuthError,  # wallet_not_found: our account has no internal wallet
    6: ProviderInsufficientBalance,  # insufficient_funds
    10: InvalidAddress,  # invalid_tron_address
    11: ProviderInvalidRequest,  # invalid_energy_amount
    12: ProviderInvalidRequest,  # invalid_duration
    20: OrderNotFound,  # transaction not found
    21: ProviderInvalidRequest,  # cannot_stop_subscription
    24: AddressNotActivated,  # address_not_activated
    25: ProviderInvalidRequest,  # address_already_activated
    30: OrderNotFound,  # aml_check_not_found
    35: ProviderUnavailable,  # service_unavailable
    50: ProviderInvalidRequest,  # invalid_bandwidth_amount
    500: ProviderUnavailable,  # internal_server_error
}

ORDER_PATH = "/v1/transaction/new"
MAY_EXIST = frozenset({35, 500})
"""Codes after which a ``/v1/transaction/new`` may have created the transaction (docs/PROVIDERS.md §4.2)."""
MAX_EXTERNAL_ID = 32
"""Our own bound: the docs give no limit for ``external_id`` (OQ-Z4); their example is
``my-external-id-123``, so numbers stay short letters, digits and dashes."""

STATUSES = {
    "new": OrderStatus.PENDING,
    "pending": OrderStatus.PENDING,
    "success": OrderStatus.DELIVERED,
    "failed": OrderStatus.FAILED,
}


def error_for_code(code: int, key: str, message: str) -> SweeperError:
    """The typed error for a ``code`` other than 0; a reused external_id is a duplicate order number."""
    text = f"tronzap: {code} {key}: {message}".rstrip(": ")
    error: SweeperError
    if (
        code == 2
        and key.endswith(".external_id")
        and any(w in message.lower() for w in ("exist", "used", "dupl"))
    ):
        error = DuplicateOrderNumber(text)
    elif code == 25:
        error = ProviderInvalidRequest(text, reason="already_activated")
    else:
        error = ERRORS.get(code, ProviderError)(text)
    return error


created_at = iso_seconds
"""``created_at`` (ISO 8601, ``Z`` or an offset) as Unix seconds; None when absent or unreadable."""


sun = partial(answer_sun, "tronzap")


def _tier_for(services: Mapping[str, Any], duration: int) -> Mapping[str, Any] | None:
    tiers = services.get("energy") or []
    return next((t for t in tiers if int(t.get("duration", -1)) == duration), None)


class TronzapClient(HttpRental):
    """TronZap as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(activation=True, lookup=True)

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_token: str,
        api_secret: str,
        duration_hours: int = 1,
        name: str = "tronzap",
    ) -> None:
        super().__init__(http, name)
        self._api_token = api_token
        self._api_secret = api_secret
        self.duration_hours = duration_hours

    def _call(self, path: str, body: Mapping[str, Any], *, idempotent: bool) -> Any:
        text = json.dumps(body, separators=(",", ":")) if body else "{}"
        headers = {
            "Authorization": f"Bearer {self._api_token}",
            "X-Signature": tronzap_signature(self._api_secret, text),
            "Content-Type": "application/json",
        }
        reply = self._http.request(
            "POST", path, idempotent=idempotent, content=text.encode(), headers=headers
        )
        return self._answer(reply, order=path == ORDER_PATH)

    def _answer(self, reply: Reply, *, order: bool = False) -> Any:
        """The ``result`` of a ``code`` 0 answer, whatever the HTTP status; else the typed error.

        After an *order* (``order``), code 500 or 35, a code outside the catalogue or an unreadable answer
        leave the transaction possibly created: :class:`ResponseLost`, resolved by lookup, never by
        ordering elsewhere (docs/PROVIDERS.md §4.2).
        """
        data = coded_answer(reply, "tronzap", order=order)
        code = int(data["code"])
        if code == 0:
            return data.get("result")
        key, message = str(data.get("key") or ""), str(data.get("error") or "")
        if order and (code in MAY_EXIST or code not in ERRORS):
            raise ResponseLost(
                f"tronzap: {code} {key}: {message} (the transaction may exist)", reason="order_may_exist"
            )
        raise error_for_code(code, key, message)

    def services(self) -> dict[str, Any]:
        result = self._call("/v1/services", {}, idempotent=True)
        return result if isinstance(result, dict) else {}

    def balance(self) -> int:
        return sun(self._call("/v1/balance", {}, idempotent=True)["balance"])

    def _energy_amount(self, energy: int) -> int:
        """At least the tier minimum for our duration (TronZap rejects smaller amounts with code 11)."""
        tier = _tier_for(self.services(), self.duration_hours)
        if tier is None:
            return energy
        minimum = tier.get("min_amount", tier.get("min_energy"))
        return max(energy, int(minimum or 0))

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        amount = self._energy_amount(energy)
        result = self._call(
            "/v1/calculate",
            {"address": address, "amount": amount, "duration": self.duration_hours},
            idempotent=True,
        )
        total = sun(result["total"])
        fee = sun(result.get("activation_fee") or 0)
        if activate and fee == 0:
            fee = sun((self.services().get("activate_address") or {}).get("price") or 0)
            total += fee
        return Quote(
            source=self.name,
            energy=int(result.get("amount") or amount),
            cost_sun=total - fee,
            duration=f"{self.duration_hours}H",
            activation_sun=fee if activate else 0,
        )

    def lookup(self, order_no: str) -> EnergyOrder | None:
        try:
            result = self._call("/v1/transaction/check", {"external_id": order_no}, idempotent=True)
        except OrderNotFound:
            return None
        return self._from_transaction(order_no, result)

    def status(self, order: EnergyOrder) -> EnergyOrder:
        body = {"id": order.provider_order_id} if order.provider_order_id else {"external_id": order.order_no}
        return self._from_transaction(
            order.order_no, self._call("/v1/transaction/check", body, idempotent=True), order
        )

    def _from_transaction(
        self, order_no: str, tx: Mapping[str, Any], prior: EnergyOrder | None = None
    ) -> EnergyOrder:
        params = tx.get("params") or {}
        amounts = params.get("amounts") or {}
        energy = amounts.get("energy", params.get("amount", params.get("energy_amount")))
        status = str(tx.get("status") or "")
        charged = tx.get("amount")
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=str(params.get("address") or (prior.receive_address if prior else "")),
            energy=int(energy) if energy is not None else (prior.energy if prior else 0),
            status=STATUSES.get(status, OrderStatus.PENDING),
            provider_order_id=str(tx.get("id") or "") or None,
            cost_sun=sun(charged) if charged not in (None, "") else (prior.cost_sun if prior else 0),
            delegate_txid=str(tx.get("hash") or "") or None,
            detail=f"tronzap {tx.get('service') or 'transaction'} {status}",
            created_at=created_at(tx.get("created_at")),
        )

    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        check_address(address)
        if not order_no or len(order_no) > MAX_EXTERNAL_ID or not order_no.replace("-", "").isalnum():
            raise ProviderInvalidRequest(
                f"tronzap: external_id must be 1..{MAX_EXTERNAL_ID} letters, digits or '-'"
            )
        return place_once(
            self.name,
            order_no,
            address,
            energy,
            lookup=lambda: self.lookup(order_no),
            place=lambda: self._place(order_no, address, energy, activate),
        )

    def _place(self, order_no: str, address: str, energy: int, activate: bool) -> EnergyOrder:
        body: dict[str, Any] = {"external_id": order_no}
        if energy <= 0 and activate:
            body.update(service="activate_address", params={"address": address})
        else:
            amount = self._energy_amount(energy)
            params: dict[str, Any] = {
                "address": address,
                "amounts": {"energy": amount},
                "duration": self.duration_hours,
            }
            if activate:
                params["activate_address"] = True
            body.update(service="energy", params=params)
        result = self._call(ORDER_PATH, body, idempotent=False)
        return self._from_transaction(order_no, result)


# -- registration ----------------------------------------------------------------------------------------


class TronzapSettings(BaseModel):
    """``SWEEPER_ENERGY__TRONZAP__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.tronzap.com")
    api_token: SecretStr | None = None
    api_secret: SecretStr | None = None
    duration_hours: int = 1


SPEC = ProviderSpec(
    name="tronzap",
    position=30,
    settings=TronzapSettings,
    factory=http_client(TronzapClient),
    capabilities=TronzapClient.capabilities,
    required=("api_token", "api_secret"),
    enabled_by_default=True,
)
