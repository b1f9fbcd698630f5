"""The devnet's TronZap simulator over real HTTP: the doc's samples, auth, every error code, energy."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key

pytestmark = pytest.mark.integration

API_TOKEN = "your_api_token"
API_SECRET = "your_api_secret"
TRX = 1_000_000


def call(
    base: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    token: str = API_TOKEN,
    secret: str = API_SECRET,
) -> httpx.Response:
    """The doc's Python sample: `json.dumps` (default spacing) signed as sha256(body + secret)."""
    request_body = json.dumps(body or {})
    signature = hashlib.sha256((request_body + secret).encode()).hexdigest()
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Signature": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{base}{path}", headers=headers, content=request_body)


def result(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    reply = call(base, path, body).json()
    assert reply["code"] == 0, reply
    return reply["result"]


def new_activated(devnet: Any) -> str:
    _, address = generate_key()
    devnet.chain.fund(address, 10 * TRX)
    devnet.chain.produce_blocks(1)
    return address


def produce_until(devnet: Any, condition: Any, blocks: int = 10) -> bool:
    for _ in range(blocks):
        if condition():
            return True
        devnet.chain.produce_blocks(1)
        time.sleep(0.02)
    return bool(condition())


def energy_order(address: str, energy: int = 65_000, **extra: Any) -> dict[str, Any]:
    return {
        "service": "energy",
        "params": {"address": address, "amounts": {"energy": energy}, "duration": 1},
        **extra,
    }


def check(devnet: Any, **by: str) -> dict[str, Any]:
    return dict(result(devnet.tronzap_url, "/v1/transaction/check", by))


def test_the_docs_python_energy_and_activation_samples_run_with_a_real_address(devnet):
    address = new_activated(devnet)
    _, fresh = generate_key()
    # --- TronZap's create-transaction sample (docs.tronzap.com api/transaction-create)
    # (requests → httpx, URL → devnet, TRX_ADDRESS → real addresses) ---
    api_token = "your_api_token"
    api_secret = "your_api_secret"
    request_body = json.dumps(
        {
            "external_id": "my-external-id-123",
            "service": "energy",
            "params": {"address": address, "energy_amount": 65000, "duration": 1},
        }
    )
    signature = hashlib.sha256((request_body + api_secret).encode()).hexdigest()
    headers = {
        "Authorization": f"Bearer {api_token}",
        "X-Signature": signature,
        "Content-Type": "application/json",
    }
    response = httpx.post(f"{devnet.tronzap_url}/v1/transaction/new", headers=headers, content=request_body)
    # ---
    reply = response.json()
    assert reply["code"] == 0 and reply["request_id"]
    assert reply["result"]["external_id"] == "my-external-id-123"
    assert reply["result"]["params"] == {"address": address, "energy_amount": 65000, "duration": 1}
    assert reply["result"]["status"] in ("new", "pending") and reply["result"]["amount"] == 3.38
    activation = result(
        devnet.tronzap_url,
        "/v1/transaction/new",
        {"external_id": "my-external-id-123", "service": "activate_address", "params": {"address": fresh}},
    )
    assert activation["amount"] == 1.4
    assert produce_until(devnet, lambda: devnet.chain.energy_available(address) >= 65_000)
    assert produce_until(devnet, lambda: devnet.chain.account_exists(fresh))


def test_an_order_delegates_energy_and_check_by_id_or_external_id_reports_success(devnet):
    address = new_activated(devnet)
    before = result(devnet.tronzap_url, "/v1/balance")["balance"]
    created = result(
        devnet.tronzap_url, "/v1/transaction/new", energy_order(address, external_id="sweep-7-a1")
    )
    assert created["hash"] == "" and created["service"] == "energy"
    assert produce_until(devnet, lambda: check(devnet, id=created["id"])["status"] == "success")
    done = check(devnet, external_id="sweep-7-a1")
    assert done["id"] == created["id"] and len(done["hash"]) == 64
    assert done["amount"] == "3.38"  # check answers a numeric string, create a number
    assert devnet.chain.energy_available(address) >= 65_000
    assert result(devnet.tronzap_url, "/v1/balance")["balance"] == pytest.approx(before - 3.38)


def test_a_repeated_external_id_creates_another_transaction_and_check_returns_the_earlier(devnet):
    address = new_activated(devnet)
    first = result(devnet.tronzap_url, "/v1/transaction/new", energy_order(address, external_id="same"))
    second = result(devnet.tronzap_url, "/v1/transaction/new", energy_order(address, external_id="same"))
    assert first["id"] != second["id"]
    assert check(devnet, external_id="same")["id"] == first["id"]


def test_an_unactivated_address_needs_the_activate_flag_which_activates_then_delegates(devnet):
    _, fresh = generate_key()
    refused = call(devnet.tronzap_url, "/v1/transaction/new", energy_order(fresh)).json()
    assert refused["code"] == 24 and refused["key"] == "address_not_activated"
    body = energy_order(fresh)
    body["params"]["activate_address"] = True
    created = result(devnet.tronzap_url, "/v1/transaction/new", body)
    assert created["amount"] == pytest.approx(3.38 + 1.4)
    assert produce_until(devnet, lambda: devnet.chain.energy_available(fresh) >= 65_000)
    again = call(
        devnet.tronzap_url,
        "/v1/transaction/new",
        {"service": "activate_address", "params": {"address": fresh}},
    ).json()
    assert again["code"] == 25


def test_services_calculate_and_estimate_quote_the_configured_prices(devnet):
    services = result(devnet.tronzap_url, "/v1/services")
    tier = services["energy"][0]
    assert tier["duration"] == 1 and tier["price"] == 0.052 and tier["price_65k"] == 3.38
    assert services["activate_address"]["price"] == 1.4
    address = new_activated(devnet)
    quote = result(devnet.tronzap_url, "/v1/calculate", {"address": address, "amount": 65_000, "duration": 1})
    assert quote["total"] == 3.38 and quote["activation_fee"] == 0
    holder = new_activated(devnet)
    devnet.chain.mint(holder, 5_000_000)
    devnet.chain.produce_blocks(1)
    to_holder = result(
        devnet.tronzap_url, "/v1/estimate-energy", {"from_address": address, "to_address": holder}
    )
    _, empty = generate_key()
    to_empty = result(
        devnet.tronzap_url, "/v1/estimate-energy", {"from_address": address, "to_address": empty}
    )
    assert (to_holder["amount"], to_empty["amount"]) == (65_000, 131_000)
    public = httpx.post(f"{devnet.tronzap_url}/v1/direct-recharge-info", content="{}").json()
    assert public["code"] == 0 and public["result"]["rates"][0]["price_65k"] == 3.38


def test_a_bad_token_or_signature_is_refused_with_code_1(devnet):
    bad_token = call(devnet.tronzap_url, "/v1/balance", token="nope").json()
    bad_sig = call(devnet.tronzap_url, "/v1/balance", secret="nope").json()
    assert bad_token["code"] == bad_sig["code"] == 1
    assert bad_token["key"] == "auth" and bad_token["request_id"] and bad_token["error"]


def test_the_documented_errors_from_real_requests(devnet):
    address = new_activated(devnet)
    url = devnet.tronzap_url
    assert call(url, "/v1/transaction/new", {"service": "nope", "params": {}}).json()["code"] == 2
    assert call(url, "/v1/transaction/new", energy_order("TRX_ADDRESS")).json()["code"] == 10
    assert call(url, "/v1/transaction/new", energy_order(address, energy=10)).json()["code"] == 11
    bad_duration = energy_order(address)
    bad_duration["params"]["duration"] = 3
    assert call(url, "/v1/transaction/new", bad_duration).json()["key"] == "invalid_duration.duration"
    assert call(url, "/v1/transaction/check", {"id": "missing"}).json()["code"] == 20
    bandwidth = {
        "service": "bandwidth",
        "params": {"address": address, "amounts": {"bandwidth": 0}, "duration": 1},
    }
    assert call(url, "/v1/transaction/new", bandwidth).json()["code"] == 50
    httpx.post(f"{url}/devnet/provider-faults", json={"balance": 0}).raise_for_status()
    assert call(url, "/v1/transaction/new", energy_order(address)).json()["code"] == 6


@pytest.mark.parametrize("code", [1, 2, 5, 6, 10, 11, 12, 20, 21, 24, 25, 30, 35, 50, 500])
def test_each_documented_error_code_is_forced_by_the_shared_fault_switch_once(devnet, code):
    address = new_activated(devnet)
    devnet.faults.set("tronzap", error_code=code, count=1)
    forced = call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address))
    assert forced.json()["code"] == code and forced.json()["key"]
    assert forced.status_code == 200  # business errors, 500 included, are HTTP 200 bodies
    assert call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address)).json()["code"] == 0


def test_insufficient_resources_answers_35_service_unavailable(devnet):
    address = new_activated(devnet)
    devnet.faults.set("tronzap", insufficient_resources=True)
    assert call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address)).json()["code"] == 35


def test_code_500_after_the_transaction_was_created_comes_in_an_http_200_body(devnet):
    address = new_activated(devnet)
    httpx.post(f"{devnet.tronzap_url}/devnet/provider-faults", json={"error_after_order": 500, "count": 1})
    answer = call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address, external_id="made"))
    assert answer.status_code == 200 and answer.json()["code"] == 500
    assert check(devnet, external_id="made")["status"] in ("new", "pending")


def test_only_one_hour_and_at_least_60000_energy_are_sold(devnet):
    address = new_activated(devnet)
    short = call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address, energy=59_999))
    assert short.json()["code"] == 11
    day = energy_order(address)
    day["params"]["duration"] = 24
    answer = call(devnet.tronzap_url, "/v1/transaction/new", day).json()
    assert answer["code"] == 12 and answer["error"] == "Duration must be equal to 1"


def test_a_dropped_response_still_creates_the_order_which_check_by_external_id_finds(devnet):
    address = new_activated(devnet)
    httpx.post(f"{devnet.tronzap_url}/devnet/provider-faults", json={"drop_response": True, "count": 1})
    dropped = call(devnet.tronzap_url, "/v1/transaction/new", energy_order(address, external_id="lost"))
    assert dropped.status_code == 504 and dropped.content == b""
    assert produce_until(devnet, lambda: check(devnet, external_id="lost")["status"] == "success")
    assert devnet.chain.energy_available(address) >= 65_000


def test_a_forced_failure_marks_the_transaction_failed_and_refunds_it(devnet):
    address = new_activated(devnet)
    httpx.post(f"{devnet.tronzap_url}/devnet/provider-faults", json={"order_outcome": "fail", "count": 1})
    before = result(devnet.tronzap_url, "/v1/balance")["balance"]
    created = result(devnet.tronzap_url, "/v1/transaction/new", energy_order(address))
    assert produce_until(devnet, lambda: check(devnet, id=created["id"])["status"] == "failed")
    assert result(devnet.tronzap_url, "/v1/balance")["balance"] == before
    assert devnet.chain.energy_available(address) == 0
