"""The devnet's itrx simulator over real HTTP: the docs' samples, signing, errors, energy, callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tronpy.keys import PrivateKey

from devnet.crypto import generate_key
from devnet.server import Devnet
from devnet.usdt import USDT_ADDRESS
from tests.fixtures.devnet import tron_client

pytestmark = pytest.mark.integration

API_KEY = "B433BFF1CDE7450AA38A56BEAC690DD4"
API_SECRET = "0285A2741D0E76E2E187260EB23E51851D48403A756333E7D0CF845406ABF3E8"
DOC_ADDRESS = "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw"
TRX = 1_000_000


# -- helpers -------------------------------------------------------------------------------------
def signed_post(
    base: str,
    path: str,
    data: dict[str, Any],
    *,
    secret: str = API_SECRET,
    timestamp: str | None = None,
    key: str = API_KEY,
) -> httpx.Response:
    """Exactly the docs' Python signing code, with httpx instead of requests."""
    timestamp = timestamp or str(int(time.time()))
    json_data = json.dumps(data, sort_keys=True, separators=(",", ":"))
    message = f"{timestamp}&{json_data}"
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "API-KEY": key,
        "TIMESTAMP": timestamp,
        "SIGNATURE": signature,
        "Content-Type": "application/json",
    }
    return httpx.post(f"{base}{path}", content=json_data, headers=headers)


def get(base: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params, headers={"API-KEY": API_KEY})


def new_activated(devnet: Any, trx: int = 10 * TRX) -> str:
    _, address = generate_key()
    devnet.chain.fund(address, trx)
    devnet.chain.produce_blocks(1)
    return address


def produce_until(devnet: Any, condition: Any, blocks: int = 10) -> bool:
    """Mine up to `blocks` blocks, a short pause apart, until the condition holds."""
    for _ in range(blocks):
        if condition():
            return True
        devnet.chain.produce_blocks(1)
        time.sleep(0.02)
    return bool(condition())


def order(devnet: Any, receiver: str, energy: int = 65_000, **extra: Any) -> dict[str, Any]:
    body = {"energy_amount": energy, "period": "1H", "receive_address": receiver, **extra}
    reply = signed_post(devnet.itrx_url, "/api/v1/frontend/order", body)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def set_faults(devnet: Any, **switches: Any) -> None:
    httpx.post(f"{devnet.itrx_url}/devnet/provider-faults", json=switches).raise_for_status()


class Receiver:
    """A tiny callback endpoint answering the queued statuses (then 200) and recording every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.arrived:
                    outer.requests.append((dict(self.headers.items()), body))
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.arrived.notify_all()
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, devnet: Any) -> list[tuple[dict[str, str], bytes]]:
        for _ in range(200):  # bounded: blocks keep coming, callbacks are sent in the background
            with self.arrived:
                if len(self.requests) >= count:
                    return list(self.requests)
                self.arrived.wait(0.1)
            devnet.chain.produce_blocks(1)
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fast_devnet() -> Iterator[Any]:
    """A devnet whose itrx callback retries and rental periods run 1,000 times faster."""
    options = {"period_time_scale": 0.0003}  # 1H lasts about a second
    with Devnet(
        port=0, block_time=0.2, solid_depth=2, callback_time_scale=0.001, provider_options=options
    ) as dn:
        yield dn


# -- the docs' samples ---------------------------------------------------------------------------
def test_the_docs_python_order_sample_runs_against_the_devnet_with_only_the_url_changed(devnet):
    devnet.chain.fund(DOC_ADDRESS, 10 * TRX)
    devnet.chain.produce_blocks(1)
    # --- itrx's order sample (develop.itrx.io api/order-create), verbatim; requests → httpx, URL → devnet ---
    timestamp = str(int(time.time()))
    URL = f"{devnet.itrx_url}/api/v1/frontend/order"
    data = {
        "energy_amount": 32000,
        "period": "1D",
        "receive_address": "TExWKszFWYTKZH8LYiovAPKzS3L9MLZ4kw",
        "callback_url": "http://{mydomain}/callback",
        "out_trade_no": "123456",
    }
    json_data = json.dumps(data, sort_keys=True, separators=(",", ":"))
    message = f"{timestamp}&{json_data}"
    signature = hmac.new(API_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    headers = {
        "API-KEY": API_KEY,
        "TIMESTAMP": timestamp,
        "SIGNATURE": signature,
        "Content-Type": "application/json",
    }
    response = httpx.post(f"{URL}", content=json_data, headers=headers)
    # ---
    reply = response.json()
    assert reply["errno"] == 0
    assert len(reply["serial"]) == 32
    assert reply["amount"] == 90 * 32_000 + 600_000  # 1D unit price, small-order surcharge
    assert produce_until(devnet, lambda: devnet.chain.energy_available(DOC_ADDRESS) >= 32_000)


def test_the_docs_collect_manual_sample_runs_and_scene_2_delivers_131k(devnet):
    devnet.chain.fund(DOC_ADDRESS, 10 * TRX)
    devnet.chain.produce_blocks(1)
    data = {
        "scene": 2,
        "receive_address": DOC_ADDRESS,
        "callback_url": "http://{mydomain}/callback",
        "out_trade_no": "123456",
    }
    reply = signed_post(devnet.itrx_url, "/api/v1/frontend/order/collect-manual", data).json()
    assert reply["errno"] == 0
    assert reply["scene"] == 2
    assert produce_until(devnet, lambda: devnet.chain.energy_available(DOC_ADDRESS) >= 131_000)


# -- authentication ------------------------------------------------------------------------------
def test_a_bad_signature_a_stale_timestamp_and_an_unknown_key_are_rejected(devnet):
    receiver = new_activated(devnet)
    body = {"energy_amount": 65_000, "period": "1H", "receive_address": receiver}
    path = "/api/v1/frontend/order"
    bad_sig = signed_post(devnet.itrx_url, path, body, secret=API_SECRET.lower())
    stale = signed_post(devnet.itrx_url, path, body, timestamp=str(int(time.time()) - 301))
    unknown = signed_post(devnet.itrx_url, path, body, key="0" * 32)
    assert bad_sig.status_code == stale.status_code == unknown.status_code == 400
    assert unknown.json() == {"detail": "API not found"}
    assert "detail" in bad_sig.json() and "detail" in stale.json()


def test_a_body_sent_in_another_form_than_the_one_signed_is_still_verified_on_its_parsed_content(devnet):
    receiver = new_activated(devnet)
    body = {"energy_amount": 65_000, "period": "1H", "receive_address": receiver}
    timestamp = str(int(time.time()))
    signed = json.dumps(body, sort_keys=True, separators=(",", ":"))
    signature = hmac.new(API_SECRET.encode(), f"{timestamp}&{signed}".encode(), hashlib.sha256).hexdigest()
    reply = httpx.post(
        f"{devnet.itrx_url}/api/v1/frontend/order",
        content=json.dumps(body, indent=2),
        headers={"API-KEY": API_KEY, "TIMESTAMP": timestamp, "SIGNATURE": signature},
    )
    assert reply.json()["errno"] == 0


# -- orders, energy and balances -----------------------------------------------------------------
def test_an_order_delegates_real_energy_and_both_lookups_report_it_complete(devnet):
    receiver = new_activated(devnet)
    before = get(devnet.itrx_url, "/api/v1/frontend/index-data").json()["balance"]
    placed = order(devnet, receiver, out_trade_no="sweep-1-a1")
    assert placed["errno"] == 0
    assert placed["amount"] == 60 * 65_000
    assert placed["balance"] == before - placed["amount"]
    assert produce_until(devnet, lambda: devnet.chain.energy_available(receiver) >= 65_000)
    assert produce_until(
        devnet,
        lambda: (
            get(devnet.itrx_url, "/api/v1/frontend/order/query", serial=placed["serial"]).json()["status"]
            == 40
        ),
    )
    by_ref = get(devnet.itrx_url, "/api/v1/frontend/order/query", out_trade_no="sweep-1-a1").json()
    assert by_ref["order_no"] == placed["serial"]
    assert by_ref["period"] == 0 and by_ref["energy_amount"] == 65_000
    assert by_ref["details"][0]["status"] == 20 and by_ref["details"][0]["delegate_hash"]
    assert get(devnet.itrx_url, "/api/v1/frontend/index-data").json()["balance"] == placed["balance"]


def test_a_repeated_out_trade_no_is_refused_before_anything_is_charged(devnet):
    receiver = new_activated(devnet)
    first = order(devnet, receiver, out_trade_no="same")
    second = order(devnet, receiver, out_trade_no="same")
    assert second["errno"] == 1 and "已存在" in second["message"] and "serial" not in second
    assert first["serial"]


def test_without_out_trade_no_queries_the_deployment_wants_a_serial(devnet):
    receiver = new_activated(devnet)
    placed = order(devnet, receiver, out_trade_no="mode-1")
    set_faults(devnet, query_by_out_trade_no=False)
    try:
        httpx.delete(f"{devnet.itrx_url}/devnet/provider-faults").raise_for_status()  # a mode survives
        query = f"{devnet.itrx_url}/api/v1/frontend/order/query"
        headers = {"API-KEY": API_KEY}
        by_ref = httpx.get(query, params={"out_trade_no": "mode-1"}, headers=headers)
        assert by_ref.status_code == 400 and by_ref.json() == {"serial": ["This field is required."]}
        by_serial = httpx.get(query, params={"serial": placed["serial"]}, headers=headers).json()
        assert by_serial["order_no"] == placed["serial"]
    finally:
        set_faults(devnet, query_by_out_trade_no=True)


def test_collect_manual_delivers_65k_to_a_usdt_holder_destination_and_131k_otherwise(devnet):
    holder, empty = new_activated(devnet), generate_key()[1]
    devnet.chain.mint(holder, 1_000_000)
    devnet.chain.produce_blocks(1)
    a, b = new_activated(devnet), new_activated(devnet)
    path = "/api/v1/frontend/order/collect-manual"
    to_holder = signed_post(devnet.itrx_url, path, {"scene": 0, "receive_address": a, "to_address": holder})
    to_empty = signed_post(devnet.itrx_url, path, {"scene": 0, "receive_address": b, "to_address": empty})
    assert to_holder.json()["scene"] == 1 and to_empty.json()["scene"] == 2
    assert to_empty.json()["amount"] > to_holder.json()["amount"]
    assert produce_until(devnet, lambda: devnet.chain.energy_available(b) >= 131_000)
    assert 65_000 <= devnet.chain.energy_available(a) < 131_000


def test_an_unactivated_receiver_is_refused_unless_active_asks_for_activation_first(devnet):
    _, fresh = generate_key()
    refused = order(devnet, fresh)
    assert refused["errno"] == 1
    placed = order(devnet, fresh, active=1)
    assert placed["errno"] == 0
    assert placed["amount"] == 60 * 65_000 + 1_500_000
    assert produce_until(devnet, lambda: devnet.chain.energy_available(fresh) >= 65_000)
    assert devnet.chain.account_exists(fresh)


def test_reclaim_takes_the_energy_back_early(devnet):
    receiver = new_activated(devnet)
    placed = order(devnet, receiver)
    assert produce_until(devnet, lambda: devnet.chain.energy_available(receiver) >= 65_000)
    reply = signed_post(devnet.itrx_url, "/api/v1/frontend/order/reclaim", {"serial": placed["serial"]})
    assert reply.json() == {"errno": 0, "message": "request accept"}
    assert produce_until(devnet, lambda: devnet.chain.energy_available(receiver) < 65_000)


def test_a_1h_order_is_reclaimed_after_its_time_scaled_hour(fast_devnet):
    receiver = new_activated(fast_devnet)
    order(fast_devnet, receiver)
    assert produce_until(fast_devnet, lambda: fast_devnet.chain.energy_available(receiver) >= 65_000)
    assert produce_until(fast_devnet, lambda: fast_devnet.chain.energy_available(receiver) == 0, blocks=200)


def test_a_1h_delegation_is_reclaimed_as_soon_as_a_usdt_transfer_has_used_it(devnet):
    priv, sender = generate_key()
    devnet.chain.fund(sender, 10 * TRX)
    devnet.chain.mint(sender, 5_000_000)
    holder = new_activated(devnet)
    devnet.chain.mint(holder, 1)
    devnet.chain.produce_blocks(1)
    order(devnet, sender)
    assert produce_until(devnet, lambda: devnet.chain.energy_available(sender) >= 65_000)
    usdt = tron_client(devnet).get_contract(USDT_ADDRESS)
    txn = usdt.functions.transfer(holder, 1_000_000).with_owner(sender).fee_limit(30 * TRX).build()
    receipt = txn.sign(PrivateKey(priv)).broadcast().wait(interval=0.2)
    assert receipt["receipt"]["result"] == "SUCCESS"
    assert receipt["receipt"]["energy_usage"] == 64_285  # all paid by the rented energy
    assert produce_until(devnet, lambda: devnet.chain.energy_available(sender) == 0)


def test_transfer_sends_trx_from_the_provider(devnet):
    receiver = new_activated(devnet)
    reply = signed_post(
        devnet.itrx_url, "/api/v1/frontend/order/transfer", {"amount": 500_000, "receive_address": receiver}
    ).json()
    assert reply["errno"] == 0 and len(reply["txid"]) == 64
    assert produce_until(devnet, lambda: devnet.chain.trx_balance(receiver) == 10 * TRX + 500_000)


def test_price_and_index_data_report_the_configured_prices(devnet):
    data = get(devnet.itrx_url, "/api/v1/frontend/index-data").json()
    assert {"period": 0, "price": 60} in data["tiered_pricing"]
    assert data["minimum_order_energy"] == 32_000
    price = get(devnet.itrx_url, "/api/v1/frontend/order/price", period="1H", energy_amount=40_000).json()
    assert price == {
        "period": "1H",
        "energy_amount": 40_000,
        "price": 60,
        "total_price": 60 * 40_000 + 600_000,
        "addition": 600_000,
    }


# -- documented errors ---------------------------------------------------------------------------
def test_documented_validation_and_lookup_errors_come_from_real_requests(devnet):
    receiver = new_activated(devnet)
    too_small = signed_post(
        devnet.itrx_url,
        "/api/v1/frontend/order",
        {"energy_amount": 1_000, "period": "1H", "receive_address": receiver},
    )
    bad_period = signed_post(
        devnet.itrx_url,
        "/api/v1/frontend/order",
        {"energy_amount": 65_000, "period": "1X", "receive_address": receiver},
    )
    assert too_small.status_code == 400 and "energy_amount" in too_small.json()
    assert bad_period.status_code == 400 and "period" in bad_period.json()
    missing = get(devnet.itrx_url, "/api/v1/frontend/order/query", serial="0" * 32).json()
    assert missing == {"errno": 404, "message": "找不到订单"}
    assert (
        signed_post(devnet.itrx_url, "/api/v1/frontend/order/reclaim", {"serial": "x"}).json()["errno"] == 404
    )
    assert (
        httpx.get(f"{devnet.itrx_url}/api/v1/frontend/index-data", headers={"API-KEY": "nope"}).json() == {}
    )
    assert (
        httpx.get(
            f"{devnet.itrx_url}/api/v1/frontend/userapi/summary", headers={"API-KEY": "nope"}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (1, 200, {"errno": 1}),
        (404, 200, {"errno": 404}),
        (400, 400, "energy_amount"),
        (403, 403, "detail"),
    ],
)
def test_each_documented_error_is_forced_by_the_fault_switch_on_the_next_order_only(
    devnet, code, status, expected
):
    receiver = new_activated(devnet)
    set_faults(devnet, error_code=code, count=1)
    body = {"energy_amount": 65_000, "period": "1H", "receive_address": receiver}
    forced = signed_post(devnet.itrx_url, "/api/v1/frontend/order", body)
    assert forced.status_code == status
    if isinstance(expected, dict):
        assert expected.items() <= forced.json().items()
    else:
        assert expected in forced.json()
    assert signed_post(devnet.itrx_url, "/api/v1/frontend/order", body).json()["errno"] == 0


def test_the_shared_faults_error_code_and_insufficient_resources_reach_the_itrx_app(devnet):
    receiver = new_activated(devnet)
    devnet.faults.set("itrx", error_code=1)
    assert order(devnet, receiver)["errno"] == 1
    devnet.faults.clear("itrx")
    devnet.faults.set("itrx", insufficient_resources=True)
    assert order(devnet, receiver) == {"errno": 1, "message": "platform energy insufficient"}
    devnet.faults.clear("itrx")
    assert order(devnet, receiver)["errno"] == 0


def test_generic_http_faults_hit_the_provider_api_but_not_its_fault_switch_route(devnet):
    devnet.faults.set("itrx", error_rate=1.0, status=503)
    assert get(devnet.itrx_url, "/api/v1/frontend/index-data").status_code == 503
    assert httpx.get(f"{devnet.itrx_url}/devnet/provider-faults").status_code == 200
    devnet.faults.clear("itrx")
    assert get(devnet.itrx_url, "/api/v1/frontend/index-data").status_code == 200


def test_a_dropped_response_still_creates_and_delivers_the_order(devnet):
    receiver = new_activated(devnet)
    set_faults(devnet, drop_response=True, count=1)
    body = {"energy_amount": 65_000, "period": "1H", "receive_address": receiver, "out_trade_no": "lost-1"}
    dropped = signed_post(devnet.itrx_url, "/api/v1/frontend/order", body)
    assert dropped.status_code == 504 and dropped.content == b""
    found = get(devnet.itrx_url, "/api/v1/frontend/order/query", out_trade_no="lost-1").json()
    assert found["errno"] == 0
    assert produce_until(devnet, lambda: devnet.chain.energy_available(receiver) >= 65_000)


# -- callbacks -----------------------------------------------------------------------------------
def verify(headers: dict[str, str], body: bytes, *, spaced: bool = False) -> dict[str, Any]:
    payload = json.loads(body)
    form = (
        json.dumps(payload, sort_keys=True)
        if spaced
        else json.dumps(payload, sort_keys=True, separators=(",", ":"))
    )
    expected = hmac.new(
        API_SECRET.encode(), f"{headers['TIMESTAMP']}&{form}".encode(), hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, headers["SIGNATURE"])
    return dict(payload)


def test_a_signed_callback_is_delivered_and_retried_after_a_non_200(fast_devnet, receiver):
    receiver.statuses = [500]
    address = new_activated(fast_devnet)
    placed = order(fast_devnet, address, out_trade_no="cb-1", callback_url=receiver.url)
    requests = receiver.wait_for(2, fast_devnet)
    assert len(requests) >= 2
    first, second = (verify(h, b) for h, b in requests[:2])
    assert first == second
    assert first["serial"] == placed["serial"] and first["out_trade_no"] == "cb-1"
    assert first["status"] == 40 and first["receive_address"] == address and len(first["txid"]) == 64


def test_callbacks_can_be_signed_in_the_spaced_form_and_duplicated(fast_devnet, receiver):
    set_faults(fast_devnet, callback_style="spaced", callbacks="duplicate")
    address = new_activated(fast_devnet)
    order(fast_devnet, address, callback_url=receiver.url)
    requests = receiver.wait_for(2, fast_devnet)
    assert len(requests) == 2
    assert verify(*requests[0], spaced=True) == verify(*requests[1], spaced=True)


def test_dropped_callbacks_are_never_sent_and_delayed_ones_arrive_later(fast_devnet, receiver):
    set_faults(fast_devnet, callbacks="drop", count=1)
    dropped_to = new_activated(fast_devnet)
    order(fast_devnet, dropped_to, callback_url=receiver.url, out_trade_no="dropped")
    assert produce_until(fast_devnet, lambda: fast_devnet.chain.energy_available(dropped_to) >= 65_000)
    fast_devnet.faults.set("itrx", callbacks="delay", callback_delay_s=0.3)
    delayed_to = new_activated(fast_devnet)
    order(fast_devnet, delayed_to, callback_url=receiver.url, out_trade_no="delayed")
    requests = receiver.wait_for(1, fast_devnet)
    assert [verify(*r)["out_trade_no"] for r in requests] == ["delayed"]


def test_a_forced_failure_refunds_the_order_and_sends_a_41_callback(fast_devnet, receiver):
    set_faults(fast_devnet, order_outcome="fail", count=1)
    address = new_activated(fast_devnet)
    placed = order(fast_devnet, address, callback_url=receiver.url)
    requests = receiver.wait_for(1, fast_devnet)
    assert verify(*requests[0])["status"] == 41
    status = get(fast_devnet.itrx_url, "/api/v1/frontend/order/query", serial=placed["serial"]).json()
    assert status["status"] == 41 and status["refund_amount"] == placed["amount"]
    balance = get(fast_devnet.itrx_url, "/api/v1/frontend/index-data").json()["balance"]
    assert balance == placed["balance"] + placed["amount"]
