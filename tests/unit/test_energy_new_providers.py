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
