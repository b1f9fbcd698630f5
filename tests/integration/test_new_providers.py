"""MERX, Feee.io and CatFee clients against their devnet simulators over real HTTP, energy judged on chain.

Each source: a quote, an order whose energy lands on the receiver, its refusals typed, and the lost reply
(the simulator creates and charges the order, then drops the answer): MERX and CatFee resolve it by
asking again under the same key (one charge), Feee.io answers UNKNOWN and the energy on chain decides.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.providers import catfee as catfee_sim
from devnet.providers import feee as feee_sim
from devnet.providers import merx as merx_sim
from devnet.server import Devnet
from sweeper.energy.base import AddressNotActivated, EnergySource
from sweeper.energy.catfee import CatfeeClient
from sweeper.energy.feee import FeeeClient
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.merx import MerxClient
from sweeper.errors import (
    DuplicateOrderNumber,
    ProviderAuthError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
)
from sweeper.models import OrderStatus

pytestmark = pytest.mark.integration

TRX = 1_000_000
NAMES = ("merx", "feee", "catfee")
_numbers = itertools.count(1)


def order_no() -> str:
    return f"n{time.time_ns() % 10**12}{next(_numbers)}"


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2) as devnet:
        yield devnet


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def transport(http: httpx.Client, node: Devnet, name: str) -> ProviderHttp:
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
    return ProviderHttp(http, node.provider_url(name), provider=name, retry=retry)


def client(name: str, http: httpx.Client, node: Devnet, *, wrong: bool = False) -> EnergySource:
    t = transport(http, node, name)
    nap = lambda _s: time.sleep(0.05)  # noqa: E731 - re-asks need no long pause on the devnet
    if name == "merx":
        return MerxClient(t, api_key="wrong" if wrong else merx_sim.API_KEY, sleep=nap)
    if name == "feee":
        return FeeeClient(t, api_key="wrong" if wrong else feee_sim.API_KEY)
    return CatfeeClient(
        t, api_key=catfee_sim.API_KEY, api_secret="wrong" if wrong else catfee_sim.API_SECRET, sleep=nap
    )


@pytest.fixture(autouse=True)
def clear_faults(node: Devnet, http: httpx.Client) -> Iterator[None]:
    yield
    for name in NAMES:
        http.delete(f"{node.provider_url(name)}/devnet/provider-faults").raise_for_status()


def fault(node: Devnet, http: httpx.Client, name: str, **switches: Any) -> None:
    http.post(f"{node.provider_url(name)}/devnet/provider-faults", json=switches).raise_for_status()


def account_balance(node: Devnet, http: httpx.Client, name: str) -> int:
    return int(http.get(f"{node.provider_url(name)}/devnet/provider-faults").json()["balance"])


def new_address(node: Devnet, *, sun: int = 1 * TRX) -> str:
    _, address = generate_key()
    if sun:
        node.chain.fund(address, sun)
        node.chain.produce_blocks(1)
    return address


def wait_for_energy(node: Devnet, address: str, at_least: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        energy = int(node.chain.energy_available(address))
        if energy >= at_least:
            return energy
        time.sleep(0.1)
    raise AssertionError(f"{address} never had {at_least} energy")


@pytest.mark.parametrize("name", NAMES)
def test_an_order_delivers_the_quoted_energy_on_chain_and_costs_what_was_quoted(
    name: str, node: Devnet, http: httpx.Client
) -> None:
    source = client(name, http, node)
    address = new_address(node)
    before = account_balance(node, http, name)

    quote = source.quote(address, 64_285)
    order = source.order(order_no(), address, 64_285)

    assert order.status in (OrderStatus.PENDING, OrderStatus.DELIVERED) and order.provider_order_id
    wait_for_energy(node, address, 64_285)
    assert before - account_balance(node, http, name) == quote.total_sun
    deadline = time.monotonic() + 10
    while (final := source.status(order)).status is not OrderStatus.DELIVERED:
        assert time.monotonic() < deadline, final
        time.sleep(0.1)
    assert final.cost_sun == quote.total_sun and final.delegate_txid
    assert source.balance() == account_balance(node, http, name)


@pytest.mark.parametrize("name", ["merx", "catfee"])
def test_a_lost_reply_is_resolved_by_asking_again_under_our_number_and_charged_once(
    name: str, node: Devnet, http: httpx.Client
) -> None:
    source = client(name, http, node)
    address = new_address(node)
    before = account_balance(node, http, name)
    fault(node, http, name, drop_response=True, count=1)

    number = order_no()
    order = source.order(number, address, 70_000)
    again = source.order(number, address, 70_000)  # a retried task asks once more: still the one order

    assert order.status is not OrderStatus.UNKNOWN and order.provider_order_id
    assert again.provider_order_id == order.provider_order_id
    wait_for_energy(node, address, 70_000)
    assert before - account_balance(node, http, name) == source.quote(address, 70_000).total_sun


def test_feee_cannot_recognise_a_resent_order_so_a_lost_reply_is_unknown_and_charged_once(
    node: Devnet, http: httpx.Client
) -> None:
    source = client("feee", http, node)
    address = new_address(node)
    before = account_balance(node, http, "feee")
    fault(node, http, "feee", drop_response=True, count=1)

    order = source.order(order_no(), address, 64_285)

    assert order.status is OrderStatus.UNKNOWN and order.provider_order_id is None
    assert source.status(order).status is OrderStatus.UNKNOWN  # nothing to ask with: judged on chain
    wait_for_energy(node, address, 64_285)
    assert before - account_balance(node, http, "feee") == source.quote(address, 64_285).total_sun


@pytest.mark.parametrize("name", NAMES)
def test_refusals_are_typed_and_order_nothing(name: str, node: Devnet, http: httpx.Client) -> None:
    source, address = client(name, http, node), new_address(node)
    before = account_balance(node, http, name)

    with pytest.raises(ProviderAuthError):
        client(name, http, node, wrong=True).order(order_no(), address, 65_000)
    fault(node, http, name, insufficient_resources=True, count=1)
    with pytest.raises(ProviderOutOfResources):
        source.order(order_no(), address, 65_000)
    fault(node, http, name, balance=1)
    with pytest.raises(ProviderInsufficientBalance):
        source.order(order_no(), address, 65_000)
    fault(node, http, name, balance=before)
    if name == "catfee":
        with pytest.raises(ProviderInvalidRequest):
            source.order("x" * 65, address, 65_000)
    else:
        with pytest.raises(AddressNotActivated if name == "feee" else Exception):
            source.order(order_no(), new_address(node, sun=0), 65_000)
        with pytest.raises(ProviderInvalidRequest, match="activat"):
            source.quote(address, 65_000, activate=True)
    assert account_balance(node, http, name) == before


def test_catfee_activates_a_new_address_and_charges_the_estimated_activation(
    node: Devnet, http: httpx.Client
) -> None:
    source = client("catfee", http, node)
    address = new_address(node, sun=0)
    before = account_balance(node, http, "catfee")

    quote = source.quote(address, 65_000, activate=True)
    source.order(order_no(), address, 65_000, activate=True)

    wait_for_energy(node, address, 65_000)
    assert quote.activation_sun == catfee_sim.ACTIVATION_SUN
    assert before - account_balance(node, http, "catfee") == quote.total_sun


def test_merx_sells_bandwidth_delegated_on_chain(node: Devnet, http: httpx.Client) -> None:
    source = client("merx", http, node)
    address = new_address(node)
    assert source.capabilities.bandwidth
    _, staked_before = node.chain.bandwidth_available(address)

    quote = source.quote_bandwidth(address, 400)
    order = source.order_bandwidth(order_no(), address, 400)

    deadline = time.monotonic() + 20
    while node.chain.bandwidth_available(address)[1] - staked_before < 400:
        assert time.monotonic() < deadline, "no bandwidth delegated"
        time.sleep(0.1)
    assert quote.total_sun == 400 * merx_sim.BANDWIDTH_PRICE_SUN
    assert source.status(order).cost_sun == quote.total_sun


@pytest.mark.parametrize("name", ["merx", "catfee"])
def test_a_number_another_ledger_already_used_is_refused_not_adopted(
    name: str, node: Devnet, http: httpx.Client
) -> None:
    """A restored or second ledger repeats numbers: the provider replays the old order, which is not ours."""
    source, number = client(name, http, node), order_no()
    source.order(number, new_address(node), 66_000)
    before = account_balance(node, http, name)

    with pytest.raises(DuplicateOrderNumber):
        source.order(number, new_address(node), 66_000)
    assert account_balance(node, http, name) == before  # the replay charged nothing


def test_merx_webhooks_are_signed_as_documented(node: Devnet, http: httpx.Client) -> None:
    """``order.filled`` is POSTed with ``X-Merx-Signature: sha256=<hex HMAC-SHA256 of the body>``."""
    got: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(
                (self.headers["X-Merx-Signature"], self.rfile.read(int(self.headers["Content-Length"])))
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = http.post(
            f"{node.provider_url('merx')}/api/v1/webhooks",
            headers={"X-API-Key": merx_sim.API_KEY},
            json={"url": f"http://127.0.0.1:{server.server_port}/hook", "events": ["order.filled"]},
        ).json()["data"]
        order = client("merx", http, node).order(order_no(), new_address(node), 65_000)
        deadline = time.monotonic() + 20
        while not any(json.loads(body)["data"]["id"] == order.provider_order_id for _, body in got):
            assert time.monotonic() < deadline, "no webhook"
            time.sleep(0.1)
    finally:
        server.shutdown()
    signature, body = next((s, b) for s, b in got if json.loads(b)["data"]["id"] == order.provider_order_id)
    assert signature == "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body)["event"] == "order.filled" and json.loads(body)["data"]["status"] == "FILLED"
