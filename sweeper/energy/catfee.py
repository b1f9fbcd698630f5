"""CatFee.IO: energy orders placed by signed query-string requests (docs/PROVIDERS.md, CatFee).

Every request carries ``CF-ACCESS-KEY``, ``CF-ACCESS-TIMESTAMP`` (ISO 8601 UTC with milliseconds) and
``CF-ACCESS-SIGN`` = base64 HMAC-SHA256 of ``timestamp + METHOD + path-with-query`` under the API secret;
all parameters travel in the query string and the exact signed path is sent. An order carries our
order number as ``client_order_id``, which CatFee makes idempotent (the same id answers the original
order, charged once), so a lost reply is resolved by asking again with it. Amounts are sun.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import AnyHttpUrl, BaseModel, SecretStr

from sweeper.energy.base import (
    AddressNotActivated,
    Capabilities,
    HttpRental,
    check_address,
    judged_on_chain,
    place_keyed,
)
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.registry import ProviderSpec, http_client
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

MIN_ENERGY = 65_000
"""``quantity`` must be at least 65,000 (the Buy Energy reference)."""
MAX_CLIENT_ORDER_ID = 64

# ``code`` other than 0 comes with ``sub_code``/``sub_msg``; no catalogue is published (OQ-C2), so they
# are matched by keyword. Each is a refusal: CatFee answered without an order (see ``_answer``).
MESSAGE_ERRORS: tuple[tuple[tuple[str, ...], type[SweeperError]], ...] = (
    (("auth", "sign", "api key", "apikey", "timestamp", "whitelist"), ProviderAuthError),
    (("balance", "余额"), ProviderInsufficientBalance),
    (("not activ", "inactive", "未激活"), AddressNotActivated),
    (("address", "receiver", "地址"), InvalidAddress),
    (("energy", "resource", "stock", "能量不足"), ProviderOutOfResources),
    (("not found", "not exist", "不存在"), OrderNotFound),
)


def catfee_timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds, as the documents print it: ``2023-08-26T12:34:56.789Z``."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def catfee_signature(secret: str, timestamp: str, method: str, request_path: str) -> str:
    """base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath)), the path with its query string."""
    message = f"{timestamp}{method.upper()}{request_path}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def error_for(status: int, code: object, sub_code: str, message: str) -> SweeperError:
    text = f"catfee: {code} {sub_code}: {message}".replace("  ", " ").rstrip(": ")
    lowered = f"{sub_code} {message}".lower()
    if status in (401, 403):
        return ProviderAuthError(text)
    if status == 429 or status >= 500:
        return ProviderUnavailable(text)
    for needles, cls in MESSAGE_ERRORS:
        if any(n in lowered for n in needles):
            return cls(text)
    return ProviderInvalidRequest(text) if status == 400 or code not in (None, "") else ProviderError(text)


def status_of(data: Mapping[str, Any]) -> OrderStatus:
    """``DELEGATION_CONFIRMED`` is delivered; a status naming a failure or refund is failed; else pending.

    Only ``PAYMENT_SUCCESS``, ``DELEGATE_SUCCESS`` and the two confirm statuses are documented (OQ-C3);
    the sweep waits for the energy on chain in any case.
    """
    if str(data.get("confirm_status") or "") == "DELEGATION_CONFIRMED":
        return OrderStatus.DELIVERED
    status = str(data.get("status") or "").upper()
    if "FAIL" in status or "REFUND" in status or "CANCEL" in status:
        return OrderStatus.FAILED
    return OrderStatus.PENDING


class CatfeeClient(HttpRental):
    """CatFee.IO as an :class:`~sweeper.energy.base.EnergySource`."""

    capabilities = Capabilities(activation=True)

    def __init__(
        self,
        http: ProviderHttp,
        *,
        api_key: str,
        api_secret: str,
        duration: str = "1h",
        name: str = "catfee",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(http, name)
        self._api_key = api_key
        self._api_secret = api_secret
        self.duration = duration
        self._clock = clock
        self._sleep = sleep

    # -- transport -------------------------------------------------------------------------------
    def _send(self, method: str, path: str, query: Mapping[str, str | int] | None = None) -> Reply:
        request_path = f"{path}?{urlencode(query)}" if query else path
        timestamp = catfee_timestamp(self._clock())
        headers = {
            "CF-ACCESS-KEY": self._api_key,
            "CF-ACCESS-TIMESTAMP": timestamp,
            "CF-ACCESS-SIGN": catfee_signature(self._api_secret, timestamp, method, request_path),
            "Content-Type": "application/json",
        }
        return self._http.request(method, request_path, idempotent=method == "GET", headers=headers)

    def _answer(self, reply: Reply) -> Any:
        data = reply.json()
        if not isinstance(data, dict):
            if reply.status_code in (401, 403) or 400 <= reply.status_code < 500:
                raise error_for(reply.status_code, None, "", reply.text[:200])
            raise ProviderUnavailable(f"catfee: unreadable answer (HTTP {reply.status_code})")
        inner = data.get("data")
        # Third-party clients treat ``code`` 0 as success; the reference's sample prints 1 (OQ-C1). An
        # answer that carries an order is an order whatever its code, so neither reading can turn an
        # existing order into a refusal.
        if isinstance(inner, dict) and inner.get("id"):
            return inner
        if data.get("code") not in (0, "0") or reply.status_code >= 400:
            raise error_for(
                reply.status_code,
                data.get("code"),
                str(data.get("sub_code") or ""),
                str(data.get("sub_msg") or data.get("msg") or ""),
            )
        return inner

    # -- reads -----------------------------------------------------------------------------------
    def balance(self) -> int:
        return int((self._answer(self._send("GET", "/v1/account")) or {}).get("balance") or 0)

    def quote(self, address: str, energy: int, *, to: str | None = None, activate: bool = False) -> Quote:
        check_address(address)
        quantity = max(energy, MIN_ENERGY)
        data = self._answer(
            self._send("GET", "/v1/estimate", {"quantity": quantity, "duration": self.duration})
        )
        if not isinstance(data, dict) or "pay_amount_sun" not in data:
            raise ProviderError("catfee: the estimate carries no pay_amount_sun", reason="malformed_answer")
        if activate and "activate_amount_sun" not in data:
            # an activation it cannot price would be paid unseen: skip the source for it (OQ-C4)
            raise ProviderError(
                "catfee: the estimate does not price an activation", reason="malformed_answer"
            )
        activation = int(data.get("activate_amount_sun") or 0) if activate else 0
        return Quote(
            source=self.name,
            energy=int(data.get("quantity") or quantity),
            cost_sun=int(data["pay_amount_sun"]),
            duration=self.duration.upper(),
            activation_sun=activation,
        )

    def lookup(self, order_no: str) -> EnergyOrder | None:
        """Orders are read by CatFee's own id; ours is recognised only when an order is placed again."""
        return None

    def status(self, order: EnergyOrder) -> EnergyOrder:
        if not order.provider_order_id:
            return judged_on_chain(self.name, order)
        return self._from_order(
            order.order_no, self._answer(self._send("GET", f"/v1/order/{order.provider_order_id}")), order
        )

    def _from_order(
        self, order_no: str, data: Mapping[str, Any], prior: EnergyOrder | None = None
    ) -> EnergyOrder:
        paid = int(data.get("pay_amount_sun") or 0)
        return EnergyOrder(
            source=self.name,
            order_no=order_no,
            receive_address=str(data.get("receiver") or (prior.receive_address if prior else "")),
            energy=int(data.get("quantity") or (prior.energy if prior else 0)),
            status=status_of(data),
            provider_order_id=str(data.get("id") or "") or None,
            cost_sun=paid or (prior.cost_sun if prior else 0),
            delegate_txid=str(data.get("delegate_hash") or "") or None,
            detail=f"catfee {data.get('status')} {data.get('confirm_status')}",
        )

    # -- the order -------------------------------------------------------------------------------
    def order(
        self, order_no: str, address: str, energy: int, *, to: str | None = None, activate: bool = False
    ) -> EnergyOrder:
        """One order under ``client_order_id``; activation is CatFee's default when the address is new."""
        check_address(address)
        if len(order_no) > MAX_CLIENT_ORDER_ID:
            raise ProviderInvalidRequest(f"catfee: order number {order_no!r} is longer than 64 characters")
        quantity = max(energy, MIN_ENERGY)
        query: dict[str, str | int] = {
            "quantity": quantity,
            "receiver": address,
            "duration": self.duration,
            "client_order_id": order_no,
        }

        def accept(data: Any) -> EnergyOrder:
            found = self._from_order(order_no, data)
            if (found.receive_address, found.energy) != (address, quantity):
                # CatFee answered an earlier order under this client_order_id (another ledger used the
                # number): not ours, and nothing new was created, so refusing it is safe.
                raise DuplicateOrderNumber(
                    f"catfee: client_order_id {order_no} already names order {found.provider_order_id} "
                    f"for {found.energy} energy to {found.receive_address}"
                )
            return found

        return place_keyed(
            self.name,
            order_no,
            address,
            quantity,
            send=lambda: self._send("POST", "/v1/order", query),
            answer=self._answer,
            accept=accept,
            sleep=self._sleep,
        )


# -- registration ----------------------------------------------------------------------------------------


class CatfeeSettings(BaseModel):
    """``SWEEPER_ENERGY__CATFEE__*``."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.catfee.io")
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    duration: str = "1h"


SPEC = ProviderSpec(
    name="catfee",
    position=39,
    settings=CatfeeSettings,
    factory=http_client(CatfeeClient),
    capabilities=CatfeeClient.capabilities,
    required=("api_key", "api_secret"),
)
