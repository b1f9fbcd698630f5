"""Node faults that imitate real rate limiting, as unmodified tronpy and plain HTTP clients meet them.

TronGrid answers HTTP 403 (a 30 s penalty, or the daily quota), 429 or 503, here with `Retry-After`
when asked; java-tron's own limiter answers HTTP 200 with an `{"Error": …}` body (RateLimiterServlet).
"""

from __future__ import annotations

import time

import httpx
import pytest
import requests
from tronpy.exceptions import ApiError
from tronpy.keys import PrivateKey

from tests.fixtures.devnet import TRX, admin, tron_client

pytestmark = pytest.mark.integration


def test_a_403_with_retry_after_reaches_tronpy_as_an_http_error_for_its_count(devnet):
    admin(devnet, "devnet/faults", {"target": "node", "status": 403, "retry_after": 30, "count": 2})
    client = tron_client(devnet)

    with pytest.raises(requests.HTTPError) as limited:
        client.get_latest_block_number()
    raw = httpx.post(devnet.node_url + "wallet/getnowblock", json={})

    assert limited.value.response.status_code == 403
    assert limited.value.response.headers["Retry-After"] == "30"
    assert raw.status_code == 403 and "suspended for 30s" in raw.json()["Error"]
    assert client.get_latest_block_number() >= 0  # count spent: normal again
    assert httpx.post(devnet.node_url + "devnet/produce", json={}).status_code == 200  # admin never limited


def test_429_and_the_daily_quota_and_a_fault_that_lasts_a_duration(devnet):
    admin(devnet, "devnet/faults", {"target": "node", "status": 403, "daily_quota": True, "count": 1})
    quota = httpx.post(devnet.node_url + "wallet/getnowblock", json={})
    admin(devnet, "devnet/faults", {"target": "node", "status": 429, "retry_after": 1, "duration": 2})
    started = time.monotonic()
    throttled = [httpx.post(devnet.node_url + "wallet/getnowblock", json={}).status_code for _ in range(3)]
    time.sleep(max(2.1 - (time.monotonic() - started), 0))

    assert quota.status_code == 403 and "Exceed the user daily usage" in quota.text
    assert throttled == [429, 429, 429]
    assert httpx.post(devnet.node_url + "wallet/getnowblock", json={}).status_code == 200
    assert httpx.get(devnet.node_url + "devnet/state").json()["faults"] == {}


def test_java_trons_limiter_answers_http_200_with_an_error_body_that_tronpy_raises(devnet, funded_account):
    priv, sender = funded_account(sun=5 * TRX)
    _, receiver = funded_account(sun=TRX)
    client = tron_client(devnet)
    txn = client.trx.transfer(sender, receiver, TRX).build().sign(PrivateKey(bytes.fromhex(priv)))
    admin(
        devnet, "devnet/faults", {"target": "node", "error_body": "lack of computing resources", "count": 2}
    )

    raw = httpx.post(devnet.node_url + "wallet/getnowblock", json={})
    with pytest.raises(ApiError, match="lack of computing resources"):
        txn.broadcast()

    assert raw.status_code == 200 and "retry-after" not in raw.headers
    assert raw.json() == {"Error": "class java.lang.IllegalAccessException : lack of computing resources"}
    assert txn.broadcast().wait(interval=0.2)["id"] == txn.txid  # nothing was accepted while limited


def test_the_existing_fault_fields_keep_working_alongside(devnet):
    admin(devnet, "devnet/faults", {"target": "node", "error_rate": 1.0, "status": 502, "count": 1})
    assert httpx.post(devnet.node_url + "wallet/getnowblock", json={}).status_code == 502
    admin(devnet, "devnet/faults", {"target": "node", "latency_ms": 1, "count": 1})
    assert httpx.post(devnet.node_url + "wallet/getnowblock", json={}).status_code == 200
    bad = httpx.post(devnet.node_url + "devnet/faults", json={"target": "node", "retry_after": -1})
    assert bad.status_code == 400
