"""The official TronZap Python SDK (PyPI ``tronzap-sdk``) against the devnet's TronZap, unmodified.

What the SDK expects is what the simulator must answer (docs/PROVIDERS.md §4, §7): business errors as
``code`` in HTTP 200 bodies (the SDK raises them "regardless of HTTP status"), code 500 even after a
transaction was created, a 60,000 energy minimum and 1-hour rentals only.
"""

from __future__ import annotations

import httpx
import pytest
from tronzap_sdk import ApiException, Client

from devnet.crypto import generate_key
from devnet.providers.common import TRONZAP_API_SECRET, TRONZAP_API_TOKEN
from devnet.server import Devnet

pytestmark = pytest.mark.integration

TRX = 1_000_000


def sdk(devnet: Devnet) -> Client:
    return Client(TRONZAP_API_TOKEN, TRONZAP_API_SECRET, base_url=devnet.tronzap_url, timeout=10)


def activated(devnet: Devnet) -> str:
    _, address = generate_key()
    devnet.chain.fund(address, 10 * TRX)
    devnet.chain.produce_blocks(1)
    return address


def test_the_sdk_sees_code_500_in_an_http_200_body_and_then_finds_the_created_transaction(
    devnet: Devnet,
) -> None:
    client, address = sdk(devnet), activated(devnet)
    httpx.post(f"{devnet.tronzap_url}/devnet/provider-faults", json={"error_after_order": 500, "count": 1})
    with pytest.raises(ApiException) as info:
        client.create_energy_transaction(address, 65_000, external_id="sdk500")
    assert info.value.code == 500 and info.value.status_code == 200
    found = client.check_transaction(external_id="sdk500")
    assert found["external_id"] == "sdk500" and found["params"]["address"] == address


def test_the_sdk_meets_the_current_minimum_and_duration(devnet: Devnet) -> None:
    client, address = sdk(devnet), activated(devnet)
    tiers = client.get_services()["energy"]
    assert [(t["duration"], t["min_amount"]) for t in tiers] == [(1, 60_000)]
    with pytest.raises(ApiException) as small:
        client.create_energy_transaction(address, 59_999)
    with pytest.raises(ApiException) as day:
        client.create_energy_transaction(address, 65_000, duration=24)
    assert (small.value.code, day.value.code) == (11, 12)
    assert client.create_energy_transaction(address, 60_000)["status"] in ("new", "pending")
