"""The devnet's ea888fee simulator over real HTTP: the doc's samples, signing, every error code, energy."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet

pytestmark = pytest.mark.integration

API_KEY = "Z302rm68PvaqTm6Z"
API_SECRET = "1864fb62564c8e516ecad98b001918b1feddf3d6e5ab93b1de20f7cdb3f8e159"
DOC_ADDRESS = "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS"
TRX = 1_000_000


def sign(params: dict[str, Any] | None, timestamp: str, secret: str = API_SECRET) -> str:
    """The doc's procedure: drop empty values, sort keys, compact JSON (`{}` if none), `TIMESTAMP&json`."""
    kept = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":")) if kept else "{}"
    return hmac.new(secret.encode(), f"{timestamp}&{canonical}".encode(), hashlib.sha256).hexdigest()


def call(
    base: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    body: str | None = None,
    timestamp: str | None = None,
    key: str | None = API_KEY,
    secret: str = API_SECRET,
) -> dict[str, Any]:
    timestamp = timestamp or str(int(time.time()))
    headers = {
        "TIMESTAMP": timestamp,
        "SIGNATURE": sign(params, timestamp, secret),
        "Content-Type": "application/json",
    }
    if key is not None:
        headers["API-KEY"] = key
    content = body if body is not None else (json.dumps(params) if params else "")
    reply = httpx.post(f"{base}{path}", content=content, headers=headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


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


def place(devnet: Any, receiver: str, ref: str, energy: int = 65_000, period: str = "1H") -> dict[str, Any]:
    params = {"energyAmount": energy, "period": period, "receiveAddress": receiver, "outTradeNo": ref}
    return call(devnet.ea888fee_url, "/v1/order", params)


def info(devnet: Any, order_no: str) -> dict[str, Any]:
    return call(devnet.ea888fee_url, "/v1/order/info", {"orderNo": order_no})


def set_faults(devnet: Any, **switches: Any) -> None:
    httpx.post(f"{devnet.ea888fee_url}/devnet/provider-faults", json=switches).raise_for_status()


@pytest.fixture
def fast_devnet() -> Iterator[Devnet]:
    """Rental periods 3,000 times shorter: a 1H order finishes in about a second."""
    with Devnet(port=0, block_time=0.2, solid_depth=2, provider_options={"period_time_scale": 0.0003}) as dn:
        yield dn


def test_the_docs_balance_curl_runs_against_the_devnet_with_only_the_url_and_timestamp_changed(devnet):
    timestamp = str(int(time.time()))
    signature = hmac.new(API_SECRET.encode(), f"{timestamp}&{{}}".encode(), hashlib.sha256).hexdigest()
    reply = httpx.post(
        f"{devnet.ea888fee_url}/v1/balance",
        headers={"API-KEY": API_KEY, "TIMESTAMP": timestamp, "SIGNATURE": signature},
    ).json()
    assert reply["code"] == 200 and reply["msg"] == "成功"
    assert reply["data"]["minimumOrderEnergy"] == 65_000
    assert {"period": "1H", "price": 122} in reply["data"]["prices"]
    assert reply["data"]["platformAvailEnergy"] > 0 and reply["data"]["balance"] > 0


def test_the_docs_order_and_info_curls_pass_with_their_pretty_printed_bodies(devnet):
    devnet.chain.fund(DOC_ADDRESS, 10 * TRX)
    devnet.chain.produce_blocks(1)
    params = {
        "energyAmount": 65000,
        "period": "1H",
        "receiveAddress": DOC_ADDRESS,
        "outTradeNo": "123465",
        "notifyUrl": "https://{mydomain}/notify",
    }
    curl_body = (
        '{\n"energyAmount":65000,\n"period":"1H",\n"receiveAddress":"TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS",'
        '\n"outTradeNo":"123465",\n"notifyUrl":"https://{mydomain}/notify"\n}'
    )
    placed = call(devnet.ea888fee_url, "/v1/order", params, body=curl_body)
    assert placed["code"] == 200
    # the document's example scale: listed 36 for 65,000 energy charges 860,000 sun
    assert placed["data"]["amount"] == placed["data"]["price"] == -(-122 * 65_000 * 860_000 // (36 * 65_000))
    order_no = placed["data"]["orderNo"]
    found = call(
        devnet.ea888fee_url, "/v1/order/info", {"orderNo": order_no}, body=f'{{\n"orderNo":"{order_no}"\n}}'
    )
    assert found["data"]["outTradeNo"] == "123465" and found["data"]["receiveAddress"] == DOC_ADDRESS
    assert produce_until(devnet, lambda: devnet.chain.energy_available(DOC_ADDRESS) >= 65_000)


def test_an_order_delegates_energy_moves_through_its_statuses_and_costs_the_balance(fast_devnet):
    receiver = new_activated(fast_devnet)
    before = call(fast_devnet.ea888fee_url, "/v1/balance")["data"]["balance"]
    placed = place(fast_devnet, receiver, "sweep-1-a1")["data"]
    assert placed["balance"] == before - placed["amount"]
    assert info(fast_devnet, placed["orderNo"])["data"]["status"] in ("WAIT_DELEGATE", "PENDING")
    assert produce_until(fast_devnet, lambda: fast_devnet.chain.energy_available(receiver) >= 65_000)
    assert produce_until(
        fast_devnet, lambda: info(fast_devnet, placed["orderNo"])["data"]["status"] == "PENDING"
    )
    assert produce_until(
        fast_devnet, lambda: info(fast_devnet, placed["orderNo"])["data"]["status"] == "FINISHED", blocks=200
    )
    assert produce_until(fast_devnet, lambda: fast_devnet.chain.energy_available(receiver) == 0)
    assert call(fast_devnet.ea888fee_url, "/v1/balance")["data"]["balance"] == placed["balance"]


def test_a_repeated_out_trade_no_is_refused_with_600004(devnet):
    receiver = new_activated(devnet)
    assert place(devnet, receiver, "dup")["code"] == 200
    assert place(devnet, receiver, "dup") == {"code": 600004, "msg": "单号已使用,请更换订单号"}


def test_signature_and_key_errors(devnet):
    assert call(devnet.ea888fee_url, "/v1/balance", key=None) == {
        "code": 10001,
        "msg": "请求头API_KEY不能为空",
    }
    assert call(devnet.ea888fee_url, "/v1/balance", key="wrong")["code"] == 600001
    assert call(devnet.ea888fee_url, "/v1/balance", secret="wrong")["code"] == 600002
    stale = str(int(time.time()) - 301)
    assert call(devnet.ea888fee_url, "/v1/balance", timestamp=stale)["code"] == 600002


def test_the_documented_errors_from_real_requests(devnet):
    receiver = new_activated(devnet)
    _, unactivated = generate_key()
    assert place(devnet, receiver, "p1", period="3D")["code"] == 600003
    assert place(devnet, receiver, "p2", energy=1_000)["code"] == 10001
    assert place(devnet, unactivated, "p3")["code"] == 10001
    assert place(devnet, receiver, "x" * 64)["code"] == 10001
    assert info(devnet, "1")["code"] == 600007
    set_faults(devnet, balance=1_000)
    assert place(devnet, receiver, "p4")["code"] == 600005


@pytest.mark.parametrize("code", [10001, 600001, 600002, 600003, 600004, 600005, 600006, 600007, 600008])
def test_each_documented_error_code_is_forced_by_the_shared_fault_switch_once(devnet, code):
    receiver = new_activated(devnet)
    devnet.faults.set("ea888fee", error_code=code, count=1)
    forced = place(devnet, receiver, f"forced-{code}")
    assert forced["code"] == code and forced["msg"]
    assert place(devnet, receiver, f"after-{code}")["code"] == 200


def test_insufficient_resources_answers_600006(devnet):
    receiver = new_activated(devnet)
    devnet.faults.set("ea888fee", insufficient_resources=True)
    assert place(devnet, receiver, "r1")["code"] == 600006


def test_a_dropped_response_still_creates_the_order_and_the_number_is_then_taken(devnet):
    receiver = new_activated(devnet)
    set_faults(devnet, drop_response=True, count=1)
    params = {"energyAmount": 65_000, "period": "1H", "receiveAddress": receiver, "outTradeNo": "lost"}
    timestamp = str(int(time.time()))
    dropped = httpx.post(
        f"{devnet.ea888fee_url}/v1/order",
        content=json.dumps(params),
        headers={"API-KEY": API_KEY, "TIMESTAMP": timestamp, "SIGNATURE": sign(params, timestamp)},
    )
    assert dropped.status_code == 504 and dropped.content == b""
    assert place(devnet, receiver, "lost")["code"] == 600004
    assert produce_until(devnet, lambda: devnet.chain.energy_available(receiver) >= 65_000)


@pytest.mark.parametrize(("outcome", "status"), [("fail", "ABORT"), ("break_off", "BREAK_OFF")])
def test_a_forced_outcome_ends_the_order_refunded(devnet, outcome, status):
    receiver = new_activated(devnet)
    set_faults(devnet, order_outcome=outcome, count=1)
    placed = place(devnet, receiver, f"o-{outcome}")["data"]
    assert produce_until(devnet, lambda: info(devnet, placed["orderNo"])["data"]["status"] == status)
    assert info(devnet, placed["orderNo"])["data"]["refundAmount"] == placed["amount"]
    assert call(devnet.ea888fee_url, "/v1/balance")["data"]["balance"] == placed["balance"] + placed["amount"]
    assert devnet.chain.energy_available(receiver) == 0
