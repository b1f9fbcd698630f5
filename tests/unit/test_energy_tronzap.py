"""The TronZap client: signed bodies, exact TRX→sun amounts, codes 1..500, idempotent orders."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sweeper.energy.base import AddressNotActivated
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.tronzap import ERRORS, TronzapClient, error_for_code
from sweeper.errors import (
    DuplicateOrderNumber,
    InvalidAddress,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderUnavailable,
)
from sweeper.models import OrderStatus

pytestmark = pytest.mark.unit

ADDR = "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"
SERVICES = {
    "energy": [
        {
            "duration": 1,
            "min_amount": 50000,
            "max_amount": 131000,
            "price": 0.0523,
            "price_32k": 1.67,
            "price_65k": 3.4,
            "price_131k": 6.85,
        }
    ],
    "bandwidth": [],
    "activate_address": {"price": 1.4},
}


def ok(result: Any) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "request_id": "r", "result": result})


class FakeTronzap:
    def __init__(self) -> None:
        self.txs: dict[str, dict[str, Any]] = {}
        self.creates: list[httpx.Request] = []
        self.drop_next = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        path = request.url.path
        if path == "/v1/services":
            return ok(SERVICES)
        if path == "/v1/balance":
            return ok({"balance": "100.50", "address": ADDR})
        if path == "/v1/calculate":
            return ok(
                {
                    "address": body["address"],
                    "amount": body["amount"],
                    "duration": 1,
                    "price": 0.0523,
                    "activation_fee": 0,
                    "total": 3.4,
                }
            )
        if path == "/v1/transaction/check":
            tx = next(
                (
                    t
                    for t in self.txs.values()
                    if t["id"] == body.get("id") or t["external_id"] == body.get("external_id")
                ),
                None,
            )
            if tx is None:
                return httpx.Response(
                    200, json={"code": 20, "key": "transaction_not_found", "error": "not found"}
                )
            return ok({**tx, "amount": "3.40", "status": "success"})
        self.creates.append(request)
        tx = {
            "id": f"t{len(self.txs)}",
            "external_id": body.get("external_id"),
            "service": body["service"],
            "params": body["params"],
            "status": "pending",
            "amount": 3.4,
            "created_at": "2024-03-22T12:00:00Z",
            "hash": "",
        }
        self.txs[tx["id"]] = tx
        if self.drop_next:
            self.drop_next = False
            raise httpx.RemoteProtocolError("dropped", request=request)
        return ok(tx)


def client(fake: Any) -> TronzapClient:
    http = ProviderHttp(
        httpx.Client(transport=httpx.MockTransport(fake)),
        "https://tz.test",
        provider="tronzap",
        retry=RetryPolicy(attempts=1),
    )
    return TronzapClient(http, api_token="your_api_token", api_secret="your_api_secret")


def test_an_energy_order_sends_the_documented_body_and_signature():
    fake = FakeTronzap()
    order = client(fake).order("my-external-id-123", ADDR, 65000)
    sent = fake.creates[0]
    assert sent.content.decode() == (
        '{"external_id":"my-external-id-123","service":"energy","params":{"address":'
        '"TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw","amounts":{"energy":65000},"duration":1}}'
    )
    assert sent.headers["X-Signature"] == "5230d03fdd6fa1c9ca967b04c71885c112e850afc2efd46ca32e84b071e6eca7"
    assert sent.headers["Authorization"] == "Bearer your_api_token"
    assert order.cost_sun == 3_400_000 and order.provider_order_id == "t0"
    assert order.status is OrderStatus.PENDING and order.energy == 65000


def test_reads_with_no_parameters_are_signed_over_braces():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"balance": 100.5, "address": ADDR})

    assert client(handler).balance() == 100_500_000
    assert seen[0].content == b"{}"
    assert (
        seen[0].headers["X-Signature"] == "9bc073b788ee4e28a4a7d639afd8a5d89174cf26e03bea15ac077510f275977b"
    )


def test_activation_is_a_flag_on_an_energy_order_or_its_own_service():
    fake = FakeTronzap()
    tz = client(fake)
    tz.order("a-1", ADDR, 65000, activate=True)
    tz.order("a-2", ADDR, 0, activate=True)
    first, second = (json.loads(r.content) for r in fake.creates)
    assert first["params"]["activate_address"] is True and first["service"] == "energy"
    assert second == {"external_id": "a-2", "service": "activate_address", "params": {"address": ADDR}}


def test_amounts_below_the_tier_minimum_are_rounded_up():
    fake = FakeTronzap()
    client(fake).order("m-1", ADDR, 20_000)
    assert json.loads(fake.creates[0].content)["params"]["amounts"] == {"energy": 50000}


def test_a_quote_is_exact_sun_and_adds_the_activation_price_when_asked():
    tz = client(FakeTronzap())
    quote = tz.quote(ADDR, 64_285)
    assert quote.cost_sun == 3_400_000 and quote.activation_sun == 0 and quote.energy == 64_285
    activating = tz.quote(ADDR, 64_285, activate=True)
    assert activating.activation_sun == 1_400_000 and activating.total_sun == 4_800_000


def test_an_order_already_placed_under_our_external_id_is_returned():
    fake = FakeTronzap()
    tz = client(fake)
    tz.order("s1-1", ADDR, 65000)
    again = tz.order("s1-1", ADDR, 65000)
    assert len(fake.creates) == 1 and again.status is OrderStatus.DELIVERED
    assert again.cost_sun == 3_400_000  # "3.40" as a string


def test_a_dropped_answer_is_resolved_by_checking_the_external_id():
    fake = FakeTronzap()
    fake.drop_next = True
    order = client(fake).order("s2-1", ADDR, 65000)
    assert len(fake.creates) == 1 and order.provider_order_id == "t0"


def test_a_dropped_answer_with_nothing_to_find_is_an_unknown_outcome():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/services":
            return ok(SERVICES)
        if request.url.path == "/v1/transaction/check":
            return httpx.Response(200, json={"code": 20, "key": "transaction_not_found", "error": "nf"})
        return httpx.Response(500, json={"code": 500, "key": "internal_server_error", "error": "boom"})

    assert client(handler).order("s3-1", ADDR, 65000).status is OrderStatus.UNKNOWN


def test_lookup_of_an_unknown_external_id_is_none():
    assert client(FakeTronzap()).lookup("nothing") is None


EXPECTED = {
    1: ProviderAuthError,
    2: ProviderInvalidRequest,
    5: ProviderAuthError,
    6: ProviderInsufficientBalance,
    10: InvalidAddress,
    11: ProviderInvalidRequest,
    12: ProviderInvalidRequest,
    20: OrderNotFound,
    21: ProviderInvalidRequest,
    24: AddressNotActivated,
    25: ProviderInvalidRequest,
    30: OrderNotFound,
    35: ProviderUnavailable,
    50: ProviderInvalidRequest,
    500: ProviderUnavailable,
}


def test_the_error_table_covers_every_documented_code():
    assert ERRORS == EXPECTED


@pytest.mark.parametrize(("code", "error"), [*EXPECTED.items(), (999, ProviderError)])
@pytest.mark.parametrize("http_status", [200, 400])
def test_every_error_code_raises_its_typed_error_whatever_the_http_status(code, error, http_status):
    response = httpx.Response(http_status, json={"code": code, "key": "k", "request_id": "r", "error": "e"})
    with pytest.raises(error) as info:
        client(lambda r: response).balance()
    assert type(info.value) is error


def test_a_reused_external_id_reported_as_a_parameter_error_is_a_duplicate_number():
    error = error_for_code(2, "invalid_service_or_params.external_id", "external_id already exists")
    assert isinstance(error, DuplicateOrderNumber)
    assert error_for_code(25, "address_already_activated", "").reason == "already_activated"
