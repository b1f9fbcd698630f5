"""The ea888fee client: canonical signed bodies, the error-code table, and orders that are never doubled."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sweeper.energy.base import AddressNotActivated
from sweeper.energy.ea888fee import ERRORS, STATUSES, Ea888feeClient
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.signing import ea888fee_signature
from sweeper.errors import (
    DuplicateOrderNumber,
    OrderNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
)
from sweeper.models import EnergyOrder, OrderStatus

pytestmark = pytest.mark.unit

SECRET = "1864fb62564c8e516ecad98b001918b1feddf3d6e5ab93b1de20f7cdb3f8e159"
ADDR = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
ACCOUNT = {
    "platformAvailEnergy": 200000000,
    "minimumOrderEnergy": 65000,
    "prices": [{"period": "1H", "price": 36}, {"period": "1D", "price": 100}],
    "balance": 86520000,
}


class FakeEa:
    def __init__(self, order_key: str = "amount") -> None:
        self.used: set[str] = set()
        self.posts: list[httpx.Request] = []
        self.drop_next = False
        self.order_key = order_key

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/v1/balance":
            return httpx.Response(200, json={"code": 200, "msg": "成功", "data": ACCOUNT})
        if request.url.path == "/v1/order/info":
            return httpx.Response(
                200,
                json={
                    "code": 200,
                    "msg": "成功",
                    "data": {
                        "orderNo": body["orderNo"],
                        "outTradeNo": "x",
                        "receiveAddress": ADDR,
                        "energyAmount": 65000,
                        "period": "1H",
                        "amount": 2340000,
                        "createTime": "2024-05-12 10:23:40",
                        "status": "PENDING",
                        "refundAmount": 0,
                    },
                },
            )
        self.posts.append(request)
        if body["outTradeNo"] in self.used:
            return httpx.Response(200, json={"code": 600004, "msg": "单号已使用,请更换订单号"})
        self.used.add(body["outTradeNo"])
        if self.drop_next:
            self.drop_next = False
            raise httpx.ReadTimeout("lost", request=request)
        data = {"orderNo": "790208155853393920", self.order_key: 2340000, "balance": 84180000}
        return httpx.Response(200, json={"code": 200, "msg": "成功", "data": data})


def client(fake: Any) -> Ea888feeClient:
    http = ProviderHttp(
        httpx.Client(transport=httpx.MockTransport(fake)),
        "https://ea.test",
        provider="ea888fee",
        retry=RetryPolicy(attempts=1),
    )
    return Ea888feeClient(http, api_key="Z302rm68PvaqTm6Z", api_secret=SECRET, clock=lambda: 1686796826)


def test_balance_is_signed_over_braces_with_the_documented_value():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": 200, "msg": "成功", "data": ACCOUNT})

    assert client(handler).balance() == 86520000
    assert seen[0].content == b"{}"
    assert seen[0].headers["SIGNATURE"] == "257f130f0cbf6b6dfa35834cf283a5090ab8d1e9769ef67e9efea3a8f05a0105"


@pytest.mark.parametrize("key", ["amount", "price"])
def test_an_order_sends_the_canonical_body_and_reads_amount_or_price(key):
    fake = FakeEa(order_key=key)
    order = client(fake).order("123456", ADDR, 64_285)
    sent = fake.posts[0]
    expected = '{"energyAmount":65000,"outTradeNo":"123456","period":"1H","receiveAddress":"' + ADDR + '"}'
    assert sent.content.decode() == expected
    assert sent.headers["SIGNATURE"] == ea888fee_signature(SECRET, "1686796826", expected)
    assert order.provider_order_id == "790208155853393920" and order.cost_sun == 2340000


def test_a_quote_uses_the_period_price_and_the_minimum_order():
    quote = client(FakeEa()).quote(ADDR, 30_000)
    assert (
        quote.energy == 65000 and quote.cost_sun == 860_000
    )  # the document's own example: 1H at 36, 65,000 energy


def test_a_reused_order_number_is_an_unknown_outcome_not_a_second_order():
    fake = FakeEa()
    ea = client(fake)
    ea.order("s1-1", ADDR, 65000)
    assert ea.order("s1-1", ADDR, 65000).status is OrderStatus.UNKNOWN
    assert len(fake.used) == 1


def test_a_lost_answer_is_an_unknown_outcome_and_retrying_never_doubles_the_order():
    fake = FakeEa()
    fake.drop_next = True
    ea = client(fake)
    assert ea.order("s2-1", ADDR, 65000).status is OrderStatus.UNKNOWN
    assert ea.order("s2-1", ADDR, 65000).status is OrderStatus.UNKNOWN
    assert fake.used == {"s2-1"} and len(fake.posts) == 2


def test_order_numbers_of_64_characters_or_more_are_refused_locally():
    fake = FakeEa()
    with pytest.raises(ProviderInvalidRequest):
        client(fake).order("x" * 64, ADDR, 65000)
    assert fake.posts == []


def test_status_reads_order_info_by_the_platform_number():
    ea = client(FakeEa())
    order = EnergyOrder("ea888fee", "s3-1", ADDR, 65000, provider_order_id="790208155853393920")
    assert ea.status(order).status is OrderStatus.DELIVERED
    without = EnergyOrder("ea888fee", "s3-1", ADDR, 65000)
    assert ea.status(without) == without


def test_statuses_map_to_three_outcomes():
    assert STATUSES == {
        "WAIT_DELEGATE": OrderStatus.PENDING,
        "PENDING": OrderStatus.DELIVERED,
        "FINISHED": OrderStatus.DELIVERED,
        "ABORT": OrderStatus.FAILED,
        "BREAK_OFF": OrderStatus.FAILED,
    }


EXPECTED = {
    10001: ProviderInvalidRequest,
    600001: ProviderAuthError,
    600002: ProviderAuthError,
    600003: ProviderInvalidRequest,
    600004: DuplicateOrderNumber,
    600005: ProviderInsufficientBalance,
    600006: ProviderOutOfResources,
    600007: OrderNotFound,
    600008: ProviderAuthError,
}


def test_the_error_table_covers_every_documented_code():
    assert {code: cls for code, (cls, _) in ERRORS.items()} == EXPECTED


@pytest.mark.parametrize(("code", "error"), [*EXPECTED.items(), (999999, ProviderError)])
def test_every_error_code_raises_its_typed_error(code, error):
    ea = client(lambda r: httpx.Response(200, json={"code": code, "msg": "请求头API_KEY不能为空"}))
    with pytest.raises(error) as info:
        ea.balance()
    assert type(info.value) is error
    assert str(code) in str(info.value)


def test_a_parameter_error_about_an_unactivated_receiver_is_its_own_error():
    ea = client(lambda r: httpx.Response(200, json={"code": 10001, "msg": "receiveAddress未激活"}))
    with pytest.raises(AddressNotActivated):
        ea.balance()
