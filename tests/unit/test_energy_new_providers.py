"""MERX, Feee.io and CatFee as pure functions: the documents' own examples are the test vectors."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from devnet.providers.catfee import catfee_signature as devnet_catfee_signature
from sweeper.energy.catfee import CatfeeClient, catfee_signature, catfee_timestamp
from sweeper.energy.catfee import status_of as catfee_status
from sweeper.energy.feee import status_of as feee_status
from sweeper.energy.http import ProviderHttp, Reply
from sweeper.energy.merx import MerxClient
from sweeper.energy.merx import error_for as merx_error
from sweeper.errors import (
    OrderNotFound,
    ProviderAuthError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
)
from sweeper.models import OrderStatus

pytestmark = pytest.mark.unit

# CatFee's API overview: timestamp, method and request path of its signing example.
DOC_TIMESTAMP = "2023-08-26T12:34:56.789Z"
DOC_PATH = "/v1/order?quantity=65000&receiver=TRON_ADDRESS&duration=1h"


def test_catfee_timestamps_are_iso_8601_utc_with_milliseconds_as_documented() -> None:
    assert catfee_timestamp(1693053296.789) == DOC_TIMESTAMP


def test_catfee_signs_timestamp_method_and_path_with_query_base64_hmac_sha256() -> None:
    # CatFee prints the message but no digest. This one was computed apart, with
    # ``printf %s "$message" | openssl dgst -sha256 -hmac catfee-test-secret -binary | base64``.
    secret = "catfee-test-secret"
    expected = "lIw9NW5eDy2OT/90QVYq5fHwzFo8xI3iNaWxtcKPnLw="

    assert catfee_signature(secret, DOC_TIMESTAMP, "POST", DOC_PATH) == expected
    assert devnet_catfee_signature(secret, DOC_TIMESTAMP, "POST", DOC_PATH) == expected
    assert catfee_signature(secret, DOC_TIMESTAMP, "post", DOC_PATH) == expected  # METHOD upper-cased
    assert catfee_signature(secret, DOC_TIMESTAMP, "POST", "/v1/order") != expected  # the query counts


def test_feee_statuses_follow_the_documents_examples() -> None:
    submitted = {"status": 4, "frozen_tx_id": "", "refund_amount": 0, "pay_amount": Decimal("4.4")}
    delegated = {  # the query example: the parent order's tx is empty, its sub-order's is set
        "status": 9,
        "frozen_tx_id": "",
        "refund_amount": 0,
        "sub_order": [{"status": 9, "frozen_tx_id": "aa8b93b2d03b3b496fe4e5a8c99de30b"}],
    }
    cancelled = {
        "status": 12,
        "frozen_tx_id": "",
        "refund_amount": Decimal("3.92"),
        "pay_amount": Decimal("3.92"),
    }
    part_filled = {
        "status": 9,
        "frozen_tx_id": "ab12",
        "refund_amount": Decimal("1"),
        "pay_amount": Decimal("4.4"),
    }

    assert feee_status(submitted) is OrderStatus.PENDING
    assert feee_status(delegated) is OrderStatus.DELIVERED
    assert feee_status(cancelled) is OrderStatus.FAILED
    assert feee_status(part_filled) is OrderStatus.DELIVERED  # a partial refund is not a failure


def test_catfee_statuses_follow_the_documented_fields() -> None:
    assert (
        catfee_status({"status": "PAYMENT_SUCCESS", "confirm_status": "UNCONFIRMED"}) is OrderStatus.PENDING
    )
    assert (
        catfee_status({"status": "DELEGATE_SUCCESS", "confirm_status": "UNCONFIRMED"}) is OrderStatus.PENDING
    )
    assert (
        catfee_status({"status": "DELEGATE_SUCCESS", "confirm_status": "DELEGATION_CONFIRMED"})
        is OrderStatus.DELIVERED
    )
    assert catfee_status({"status": "DELEGATE_FAILED"}) is OrderStatus.FAILED


def test_a_catfee_answer_carrying_an_order_is_an_order_whatever_its_code() -> None:
    """The reference's sample prints ``code`` 1, clients test for 0: an order is never read as a refusal."""
    client = CatfeeClient(
        ProviderHttp(httpx.Client(), "http://catfee.invalid", provider="catfee"), api_key="k", api_secret="s"
    )
    order = {"id": "abc", "status": "PAYMENT_SUCCESS", "quantity": 65000, "pay_amount_sun": 3055000}

    for code in (0, 1):
        body = json.dumps({"code": code, "msg": "text", "data": order}).encode()
        assert client._answer(Reply(200, body))["id"] == "abc"
    refused = json.dumps({"code": 1, "sub_code": "balance.insufficient", "sub_msg": "insufficient balance"})
    with pytest.raises(ProviderInsufficientBalance):
        client._answer(Reply(400, refused.encode()))


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (401, "UNAUTHORIZED", ProviderAuthError),
        (400, "INSUFFICIENT_BALANCE", ProviderInsufficientBalance),
        (400, "NO_PROVIDERS", ProviderOutOfResources),
        (404, "NOT_FOUND", OrderNotFound),
        (400, "VALIDATION_ERROR", ProviderInvalidRequest),
    ],
)
def test_merx_error_codes_are_typed(status: int, code: str, error: type[Exception]) -> None:
    assert type(merx_error(status, code, "message")) is error


def replies(*answers: httpx.Response | Exception) -> tuple[ProviderHttp, list[httpx.Request]]:
    """A transport answering each request with the next of ``answers`` (an exception is raised)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return ProviderHttp(client, "http://provider.invalid", provider="p", sleep=lambda _s: None), seen


ADDRESS = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"


def test_a_merx_reask_that_is_refused_leaves_the_order_unknown_never_refused() -> None:
    """After a lost reply, a refusal of the re-ask ("in progress", say) cannot prove nothing was created."""
    lost = httpx.ReadTimeout("lost")
    busy = httpx.Response(409, json={"error": {"code": "CONFLICT", "message": "request in progress"}})
    http, seen = replies(lost, busy)

    order = MerxClient(http, api_key="k", sleep=lambda _s: None).order("sw1a1o1", ADDRESS, 65_000)

    assert order.status is OrderStatus.UNKNOWN
    assert [r.headers["Idempotency-Key"] for r in seen] == ["sw1a1o1", "sw1a1o1"]
    assert seen[0].content == seen[1].content  # the re-ask is the identical request
    refused, _ = replies(
        httpx.Response(400, json={"error": {"code": "INSUFFICIENT_BALANCE", "message": "no"}})
    )
    with pytest.raises(ProviderInsufficientBalance):  # a first answer that refuses: nothing was created
        MerxClient(refused, api_key="k").order("sw1a1o2", ADDRESS, 65_000)


def test_a_catfee_reask_that_is_refused_leaves_the_order_unknown_never_refused() -> None:
    lost = httpx.ReadTimeout("lost")
    busy = httpx.Response(400, json={"code": 1, "sub_code": "busy", "sub_msg": "try later"})
    http, seen = replies(lost, busy)

    client = CatfeeClient(http, api_key="k", api_secret="s", sleep=lambda _s: None)
    order = client.order("sw1a1o1", ADDRESS, 65_000)

    assert order.status is OrderStatus.UNKNOWN
    assert all("client_order_id=sw1a1o1" in str(r.url) for r in seen) and len(seen) == 2
