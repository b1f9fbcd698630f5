"""The itrx client: signed bytes, collect-manual vs order, status and error mapping, idempotent orders.

The provider here is a few in-memory handlers behind ``httpx.MockTransport``; the real simulator is
exercised in tests/integration/test_energy_providers.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sweeper.energy.base import AddressNotActivated
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.itrx import ItrxClient, error_for_message, status_of
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
)
from sweeper.models import OrderStatus

pytestmark = pytest.mark.unit

SECRET = "0285A2741D0E76E2E187260EB23E51851D48403A756333E7D0CF845406ABF3E8"
ADDR = "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"
DEST = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
INDEX = {"minimum_order_energy": 32000, "balance": 813892429257, "tiered_pricing": []}


class FakeItrx:
    """Orders keyed by out_trade_no; ``drop_next`` accepts an order but answers 504."""

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.posts: list[httpx.Request] = []
        self.drop_next = False
        self.refuse: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/index-data"):
            return httpx.Response(200, json=INDEX)
        if path.endswith("/order/price"):
            energy = int(request.url.params.get("energy_amount") or 65000)
            return httpx.Response(
                200,
                json={
                    "period": "1H",
                    "energy_amount": energy,
                    "price": 60,
                    "total_price": 60 * energy,
                    "addition": 0,
                },
            )
        if path.endswith("/order/query"):
            ref = request.url.params.get("out_trade_no")
            serial = request.url.params.get("serial")
            order = next(
                (o for o in self.orders.values() if o["order_no"] == serial or ref == o["ref"]), None
            )
            if order is None:
                return httpx.Response(200, json={"errno": 404, "message": "找不到订单"})
            return httpx.Response(200, json={"errno": 0, **order})
        self.posts.append(request)
        if self.refuse is not None:
            return self.refuse
        body = json.loads(request.content)
        serial = f"{len(self.orders):032x}"
        self.orders[serial] = {
            "order_no": serial,
            "ref": body.get("out_trade_no"),
            "status": 40,
            "receive_address": body["receive_address"],
            "energy_amount": body.get("energy_amount", 65000),
            "amount": 3_900_000,
            "details": [{"delegate_hash": "ab" * 32, "status": 20}],
        }
        if self.drop_next:
            self.drop_next = False
            return httpx.Response(504)
        return httpx.Response(200, json={"errno": 0, "serial": serial, "amount": 3_900_000, "balance": 1})


def client(fake: FakeItrx, **kw: Any) -> ItrxClient:
    http = ProviderHttp(
        httpx.Client(transport=httpx.MockTransport(fake)),
        "https://itrx.test",
        provider="itrx",
        retry=RetryPolicy(attempts=1),
    )
    return ItrxClient(http, api_key="KEY", api_secret=SECRET, clock=lambda: 1686796826.9, **kw)


def test_an_order_sends_exactly_the_documented_signed_bytes():
    fake = FakeItrx()
    itrx = client(fake, period="1D", callback_url="http://{mydomain}/callback")
    order = itrx.order("123456", ADDR, 32000)
    sent = fake.posts[0]
    assert sent.url.path == "/api/v1/frontend/order"
    assert sent.content.decode() == (
        '{"callback_url":"http://{mydomain}/callback","energy_amount":32000,"out_trade_no":"123456",'
        '"period":"1D","receive_address":"TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"}'
    )
    assert sent.headers["TIMESTAMP"] == "1686796826"
    assert sent.headers["SIGNATURE"] == "07c125cabfe006614a02131f927cca9e7a654f7644a817b155fad591e1c50f7b"
    assert sent.headers["API-KEY"] == "KEY"
    assert order.provider_order_id == "0" * 32 and order.cost_sun == 3_900_000
    assert order.status is OrderStatus.PENDING


def test_a_sweep_with_a_destination_uses_collect_manual_with_scene_zero():
    fake = FakeItrx()
    client(fake).order("s1-1", ADDR, 64_285, to=DEST)
    body = json.loads(fake.posts[0].content)
    assert fake.posts[0].url.path.endswith("/collect-manual")
    assert body == {"scene": 0, "receive_address": ADDR, "to_address": DEST, "out_trade_no": "s1-1"}
    signed = itrx_signature(SECRET, "1686796826", compact_json(body))
    assert fake.posts[0].headers["SIGNATURE"] == signed


def test_activation_uses_a_plain_order_with_active_and_small_amounts_round_up_to_the_minimum():
    fake = FakeItrx()
    client(fake).order("s1-1", ADDR, 10_000, to=DEST, activate=True)
    body = json.loads(fake.posts[0].content)
    assert fake.posts[0].url.path == "/api/v1/frontend/order"
    assert body["active"] == 1 and body["energy_amount"] == 32000 and "to_address" not in body


def test_an_order_already_placed_under_our_number_is_returned_not_placed_again():
    fake = FakeItrx()
    itrx = client(fake)
    first = itrx.order("s7-1", ADDR, 65000)
    again = itrx.order("s7-1", ADDR, 65000)
    assert len(fake.posts) == 1
    assert again.provider_order_id == first.provider_order_id
    assert again.status is OrderStatus.DELIVERED and again.delegate_txid == "ab" * 32


def test_a_lost_answer_is_resolved_by_looking_the_order_up():
    fake = FakeItrx()
    fake.drop_next = True
    order = client(fake).order("s8-1", ADDR, 65000)
    assert len(fake.posts) == 1
    assert order.provider_order_id == "0" * 32


def test_a_lost_answer_with_no_order_found_is_an_unknown_outcome():
    fake = FakeItrx()
    fake.refuse = httpx.Response(502)
    assert client(fake).order("s9-1", ADDR, 65000).status is OrderStatus.UNKNOWN
    assert len(fake.posts) == 1


def test_a_quote_for_a_sweep_asks_the_price_for_the_destination():
    fake = FakeItrx()
    quote = client(fake).quote(ADDR, 64_285, to=DEST)
    assert quote.energy == 65000 and quote.cost_sun == 60 * 65000 and quote.source == "itrx"
    activation = client(fake).quote(ADDR, 40_000, activate=True)
    assert activation.activation_sun == 1_500_000 and activation.energy == 40_000


def test_a_collect_price_for_less_than_the_need_gives_way_to_a_plain_order_of_the_need():
    quote = client(FakeItrx()).quote(ADDR, 130_285, to=DEST)
    assert quote.energy == 130_285 and quote.cost_sun == 60 * 130_285


def test_balance_comes_from_index_data_and_an_empty_answer_means_a_bad_key():
    assert client(FakeItrx()).balance() == 813892429257
    empty = ItrxClient(
        ProviderHttp(
            httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={}))),
            "https://itrx.test",
            provider="itrx",
        ),
        api_key="bad",
        api_secret="x",
    )
    with pytest.raises(ProviderAuthError):
        empty.balance()


def test_invalid_addresses_are_refused_before_any_request():
    fake = FakeItrx()
    with pytest.raises(InvalidAddress):
        client(fake).order("s1", "TNotAnAddress", 65000)
    assert fake.posts == []


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (40, OrderStatus.DELIVERED),
        (0, OrderStatus.FAILED),
        (41, OrderStatus.FAILED),
        (43, OrderStatus.FAILED),
        (10, OrderStatus.PENDING),
        (20, OrderStatus.PENDING),
        (30, OrderStatus.PENDING),
        (31, OrderStatus.PENDING),
        (32, OrderStatus.PENDING),
        ("40", OrderStatus.DELIVERED),
        (None, OrderStatus.PENDING),
    ],
)
def test_order_statuses_fold_into_three_outcomes(code, status):
    assert status_of(code) is status


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(400, json={"detail": "API not found"}), ProviderAuthError),
        (httpx.Response(400, json={"detail": "signature error"}), ProviderAuthError),
        (httpx.Response(400, json={"detail": "timestamp expired or missing"}), ProviderAuthError),
        (httpx.Response(400, json={"detail": "JSON parse error"}), ProviderInvalidRequest),
        (httpx.Response(403, json={"detail": "You do not have permission"}), ProviderAuthError),
        (httpx.Response(400, json={"energy_amount": ["must be >= 10000"]}), ProviderInvalidRequest),
        (httpx.Response(400, json={"period": ["'1X' is not a valid choice"]}), ProviderInvalidRequest),
        (httpx.Response(400, json={"receive_address": ["Enter a valid TRON address."]}), InvalidAddress),
        (
            httpx.Response(200, json={"errno": 1, "message": "insufficient balance"}),
            ProviderInsufficientBalance,
        ),
        (httpx.Response(200, json={"errno": 1, "message": "余额不足"}), ProviderInsufficientBalance),
        (
            httpx.Response(200, json={"errno": 1, "message": "platform energy insufficient"}),
            ProviderOutOfResources,
        ),
        (
            httpx.Response(200, json={"errno": 1, "message": "receive_address is not activated"}),
            AddressNotActivated,
        ),
        (httpx.Response(200, json={"errno": 1, "message": "out_trade_no duplicate"}), DuplicateOrderNumber),
        (httpx.Response(200, json={"errno": 404, "message": "找不到订单"}), OrderNotFound),
        (httpx.Response(200, json={"errno": 1, "message": "something else"}), ProviderError),
    ],
)
def test_every_documented_refusal_maps_to_a_typed_error(response, error):
    itrx = client(FakeItrx())
    http = ProviderHttp(
        httpx.Client(transport=httpx.MockTransport(lambda r: response)),
        "https://itrx.test",
        provider="itrx",
        retry=RetryPolicy(attempts=1),
    )
    itrx._http = http
    with pytest.raises(error) as info:
        itrx.balance()
    assert type(info.value) is error


def test_the_secret_never_appears_in_the_clients_repr():
    assert SECRET not in repr(client(FakeItrx()))
    assert error_for_message(404, "").reason == "order_not_found"
