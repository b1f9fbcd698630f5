"""The three provider clients over real HTTP against the devnet simulators: energy lands on chain.

One devnet serves this module; each test uses fresh addresses and clears the provider faults it sets.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.providers.common import (
    EA888FEE_API_KEY,
    EA888FEE_API_SECRET,
    ITRX_API_KEY,
    ITRX_API_SECRET,
    TRONZAP_API_SECRET,
    TRONZAP_API_TOKEN,
)
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.energy.base import AddressNotActivated
from sweeper.energy.ea888fee import Ea888feeClient
from sweeper.energy.http import ProviderHttp, RetryPolicy
from sweeper.energy.itrx import ItrxClient
from sweeper.energy.tronzap import TronzapClient
from sweeper.errors import (
    InvalidAddress,
    OrderNotFound,
    ProviderAuthError,
    ProviderInsufficientBalance,
    ProviderInvalidRequest,
    ProviderOutOfResources,
    SweeperError,
)
from sweeper.models import OrderStatus

pytestmark = pytest.mark.integration

TRX = 1_000_000
_numbers = itertools.count(1)


def order_no(prefix: str = "t") -> str:
    return f"{prefix}-{time.time_ns()}-{next(_numbers)}"


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2) as devnet:
        yield devnet


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def chain(node: Devnet, http: httpx.Client) -> TronChain:
    return TronChain(node.node_url, http=http)


def provider(http: httpx.Client, url: str, name: str) -> ProviderHttp:
    return ProviderHttp(
        http, url, provider=name, retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
    )


@pytest.fixture
def itrx(node: Devnet, http: httpx.Client) -> ItrxClient:
    return ItrxClient(provider(http, node.itrx_url, "itrx"), api_key=ITRX_API_KEY, api_secret=ITRX_API_SECRET)


@pytest.fixture
def ea(node: Devnet, http: httpx.Client) -> Ea888feeClient:
    return Ea888feeClient(
        provider(http, node.ea888fee_url, "ea888fee"),
        api_key=EA888FEE_API_KEY,
        api_secret=EA888FEE_API_SECRET,
    )


@pytest.fixture
def tz(node: Devnet, http: httpx.Client) -> TronzapClient:
    return TronzapClient(
        provider(http, node.tronzap_url, "tronzap"),
        api_token=TRONZAP_API_TOKEN,
        api_secret=TRONZAP_API_SECRET,
    )


@pytest.fixture(autouse=True)
def clear_faults(node: Devnet, http: httpx.Client) -> Iterator[None]:
    yield
    for name in ("itrx", "ea888fee", "tronzap"):
        http.delete(f"{node.provider_url(name)}/devnet/provider-faults").raise_for_status()


def fault(node: Devnet, http: httpx.Client, name: str, **switches: Any) -> dict[str, Any]:
    response = http.post(f"{node.provider_url(name)}/devnet/provider-faults", json=switches)
    response.raise_for_status()
    return response.json()


def account_balance(node: Devnet, http: httpx.Client, name: str) -> int:
    return int(http.get(f"{node.provider_url(name)}/devnet/provider-faults").json()["balance"])


def new_address(node: Devnet, http: httpx.Client, *, sun: int = 0, usdt: int = 0) -> str:
    _, address = generate_key()
    if sun:
        http.post(node.node_url + "devnet/fund", json={"address": address, "sun": sun}).raise_for_status()
    if usdt:
        http.post(node.node_url + "devnet/mint", json={"address": address, "amount": usdt}).raise_for_status()
    return address


def wait_for_energy(chain: TronChain, address: str, at_least: int, timeout: float = 20.0) -> int:
    """Poll the chain (not the provider) until the address can spend ``at_least`` energy."""
    deadline = time.monotonic() + timeout
    while True:
        energy = chain.resources(address).energy
        if energy >= at_least or time.monotonic() > deadline:
            return energy
        time.sleep(0.1)


def wait_for_status(source: Any, order: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        current = source.status(order)
        if current.status is not OrderStatus.PENDING or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


# -- orders deliver energy on chain ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["itrx", "ea", "tz"])
def test_each_client_orders_energy_and_the_energy_appears_on_chain(name, request, node, http, chain):
    source = request.getfixturevalue(name)
    address = new_address(node, http, sun=1 * TRX, usdt=5 * TRX)
    quote = source.quote(address, 65_000)
    assert quote.cost_sun > 0
    order = source.order(order_no(name), address, 65_000)
    assert order.status is OrderStatus.PENDING and order.provider_order_id
    assert wait_for_energy(chain, address, 65_000) >= 65_000
    assert wait_for_status(source, order).status is OrderStatus.DELIVERED


@pytest.mark.parametrize(("holds", "energy"), [(True, 65_000), (False, 131_000)])
def test_itrx_collect_manual_delivers_65k_or_131k_by_whether_the_destination_holds_usdt(
    holds, energy, itrx, node, http, chain
):
    address = new_address(node, http, sun=1 * TRX, usdt=5 * TRX)
    destination = new_address(node, http, sun=1 * TRX, usdt=TRX if holds else 0)
    quote = itrx.quote(address, 64_285 if holds else 130_285, to=destination)
    assert quote.energy == energy
    order = itrx.order(order_no("collect"), address, 64_285 if holds else 130_285, to=destination)
    assert order.detail.startswith("collect-manual scene")
    assert wait_for_energy(chain, address, energy) == energy
    assert wait_for_status(itrx, order).energy == energy


def test_itrx_activates_an_address_with_active_and_delegates_to_it(itrx, node, http, chain):
    address = new_address(node, http, usdt=5 * TRX)
    assert not chain.is_activated(address)
    with pytest.raises(AddressNotActivated):
        itrx.order(order_no("noact"), address, 65_000)
    order = itrx.order(order_no("act"), address, 65_000, to=new_address(node, http), activate=True)
    assert order.detail == "order"
    assert wait_for_energy(chain, address, 65_000) >= 65_000
    assert chain.is_activated(address)


def test_tronzap_activates_with_the_flag_on_an_energy_order(tz, node, http, chain):
    address = new_address(node, http, usdt=5 * TRX)
    with pytest.raises(AddressNotActivated):
        tz.order(order_no("noact"), address, 65_000)
    quote = tz.quote(address, 65_000, activate=True)
    assert quote.activation_sun == 1_400_000
    tz.order(order_no("act"), address, 65_000, activate=True)
    assert wait_for_energy(chain, address, 65_000) >= 65_000
    assert chain.is_activated(address)


def test_tronzap_activates_with_the_activate_address_service(tz, node, http, chain):
    address = new_address(node, http, usdt=5 * TRX)
    order = tz.order(order_no("only"), address, 0, activate=True)
    assert order.detail.startswith("tronzap activate_address")
    assert wait_for_status(tz, order).status is OrderStatus.DELIVERED
    assert chain.is_activated(address)


# -- lookups ----------------------------------------------------------------------------------------
def test_itrx_looks_orders_up_by_out_trade_no(itrx, node, http):
    address = new_address(node, http, sun=TRX)
    number = order_no("look")
    assert itrx.lookup(number) is None
    placed = itrx.order(number, address, 40_000)
    found = itrx.lookup(number)
    assert found is not None and found.provider_order_id == placed.provider_order_id
    assert found.receive_address == address and found.energy == 40_000


def test_tronzap_looks_orders_up_by_external_id(tz, node, http):
    address = new_address(node, http, sun=TRX)
    number = order_no("look")
    assert tz.lookup(number) is None
    placed = tz.order(number, address, 65_000)
    found = tz.lookup(number)
    assert found is not None and found.provider_order_id == placed.provider_order_id


def test_calling_order_twice_with_the_same_number_places_one_order(itrx, tz, node, http):
    for source, name in ((itrx, "itrx"), (tz, "tronzap")):
        address = new_address(node, http, sun=TRX)
        before = account_balance(node, http, name)
        number = order_no(name)
        first = source.order(number, address, 65_000)
        second = source.order(number, address, 65_000)
        assert first.provider_order_id == second.provider_order_id
        assert before - account_balance(node, http, name) == first.cost_sun


def test_ea888fee_refuses_a_reused_order_number_and_the_client_reports_an_unknown_outcome(ea, node, http):
    address = new_address(node, http, sun=TRX)
    number = order_no("ea")
    before = account_balance(node, http, "ea888fee")
    first = ea.order(number, address, 65_000)
    assert ea.order(number, address, 65_000).status is OrderStatus.UNKNOWN
    assert before - account_balance(node, http, "ea888fee") == first.cost_sun


# -- a lost answer never doubles an order -----------------------------------------------------------
@pytest.mark.parametrize(("name", "fixture"), [("itrx", "itrx"), ("tronzap", "tz")])
def test_a_dropped_order_answer_is_resolved_by_lookup_without_a_second_order(
    name, fixture, request, node, http, chain
):
    source = request.getfixturevalue(fixture)
    address = new_address(node, http, sun=TRX)
    before = account_balance(node, http, name)
    fault(node, http, name, drop_response=True, count=1)
    number = order_no("drop")
    order = source.order(number, address, 65_000)
    assert order.provider_order_id
    again = source.order(number, address, 65_000)
    assert again.provider_order_id == order.provider_order_id
    assert before - account_balance(node, http, name) == order.cost_sun  # charged once
    assert wait_for_energy(chain, address, 65_000) == 65_000  # delegated once


def test_ea888fee_dropped_answer_is_an_unknown_outcome_and_the_retry_does_not_order_again(
    ea, node, http, chain
):
    address = new_address(node, http, sun=TRX)
    before = account_balance(node, http, "ea888fee")
    fault(node, http, "ea888fee", drop_response=True, count=1)
    number = order_no("drop")
    assert ea.order(number, address, 65_000).status is OrderStatus.UNKNOWN
    # 600004: the first order exists
    assert ea.order(number, address, 65_000).status is OrderStatus.UNKNOWN
    assert before - account_balance(node, http, "ea888fee") == -(-122 * 65_000 * 860_000 // (36 * 65_000))
    assert wait_for_energy(chain, address, 65_000) == 65_000  # the caller waits for it on chain


# -- every documented error yields its typed error --------------------------------------------------
@pytest.mark.parametrize(
    ("code", "error"),
    [
        (10001, ProviderInvalidRequest),
        (600001, ProviderAuthError),
        (600002, ProviderAuthError),
        (600003, ProviderInvalidRequest),
        (600005, ProviderInsufficientBalance),
        (600006, ProviderOutOfResources),
        (600007, OrderNotFound),
        (600008, ProviderAuthError),
    ],
)
def test_ea888fee_error_codes_yield_typed_errors(code, error, ea, node, http):
    fault(node, http, "ea888fee", error_code=code, count=1)
    with pytest.raises(error) as info:
        ea.order(order_no("err"), new_address(node, http, sun=TRX), 65_000)
    assert type(info.value) is error


def test_ea888fee_600004_is_never_an_error_the_caller_must_act_on_by_reordering(ea, node, http):
    fault(node, http, "ea888fee", error_code=600004, count=1)
    assert ea.order(order_no("dup"), new_address(node, http, sun=TRX), 65_000).status is OrderStatus.UNKNOWN


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (1, ProviderAuthError),
        (2, ProviderInvalidRequest),
        (5, ProviderAuthError),
        (6, ProviderInsufficientBalance),
        (10, InvalidAddress),
        (11, ProviderInvalidRequest),
        (12, ProviderInvalidRequest),
        (20, OrderNotFound),
        (21, ProviderInvalidRequest),
        (24, AddressNotActivated),
        (25, ProviderInvalidRequest),
        (30, OrderNotFound),
        (50, ProviderInvalidRequest),
    ],
)
def test_tronzap_error_codes_yield_typed_errors(code, error, tz, node, http):
    fault(node, http, "tronzap", error_code=code, count=1)
    with pytest.raises(SweeperError) as info:
        tz.order(order_no("err"), new_address(node, http, sun=TRX), 65_000)
    assert type(info.value) is error


@pytest.mark.parametrize("code", [500, 35, 77])
def test_tronzap_internal_error_on_an_order_is_resolved_by_lookup_and_then_unknown(code, tz, node, http):
    """500, 35 and codes outside the catalogue may follow a created transaction (docs/PROVIDERS.md §4.2)."""
    fault(node, http, "tronzap", error_code=code, count=1)
    assert tz.order(order_no("500"), new_address(node, http, sun=TRX), 65_000).status is OrderStatus.UNKNOWN


@pytest.mark.parametrize(
    ("code", "error"),
    [(400, ProviderInvalidRequest), (403, ProviderAuthError), (1, ProviderInvalidRequest)],
)
def test_itrx_forced_errors_yield_typed_errors(code, error, itrx, node, http):
    fault(node, http, "itrx", error_code=code, count=1)
    with pytest.raises(error) as info:
        itrx.order(order_no("err"), new_address(node, http, sun=TRX), 65_000)
    assert type(info.value) is error


def test_itrx_errno_with_no_known_refusal_leaves_the_order_unknown(itrx, node, http):
    """errno text outside the known refusals may follow a created order (docs/PROVIDERS.md §2.2)."""
    fault(node, http, "itrx", error_code=404, count=1)
    assert itrx.order(order_no("err"), new_address(node, http, sun=TRX), 65_000).status is OrderStatus.UNKNOWN


def test_itrx_free_text_after_a_created_order_is_resolved_by_lookup_to_that_order(itrx, node, http):
    address, number = new_address(node, http, sun=TRX), order_no("made")
    before = account_balance(node, http, "itrx")
    fault(node, http, "itrx", error_after_order=1, count=1)
    order = itrx.order(number, address, 65_000)
    assert order.found and order.provider_order_id and order.receive_address == address
    assert before - account_balance(node, http, "itrx") == order.cost_sun  # one order, not two


def test_itrx_out_of_energy_insufficient_balance_and_bad_credentials_are_typed(itrx, node, http):
    address = new_address(node, http, sun=TRX)
    fault(node, http, "itrx", insufficient_resources=True, count=1)
    with pytest.raises(ProviderOutOfResources):
        itrx.order(order_no("res"), address, 65_000)
    saved = account_balance(node, http, "itrx")
    fault(node, http, "itrx", balance=0)
    try:
        with pytest.raises(ProviderInsufficientBalance):
            itrx.order(order_no("poor"), address, 65_000)
    finally:
        fault(node, http, "itrx", balance=saved)
    wrong = ItrxClient(provider(http, node.itrx_url, "itrx"), api_key=ITRX_API_KEY, api_secret="wrong")
    with pytest.raises(ProviderAuthError):
        wrong.order(order_no("auth"), address, 65_000)
    unknown = ItrxClient(provider(http, node.itrx_url, "itrx"), api_key="nope", api_secret=ITRX_API_SECRET)
    with pytest.raises(ProviderAuthError):
        unknown.balance()


def test_ea888fee_and_tronzap_bad_credentials_and_unactivated_receivers_are_typed(ea, tz, node, http):
    unactivated = new_address(node, http)
    with pytest.raises(AddressNotActivated):
        ea.order(order_no("ea"), unactivated, 65_000)
    wrong_ea = Ea888feeClient(
        provider(http, node.ea888fee_url, "ea888fee"), api_key=EA888FEE_API_KEY, api_secret="wrong"
    )
    with pytest.raises(ProviderAuthError):
        wrong_ea.balance()
    wrong_tz = TronzapClient(provider(http, node.tronzap_url, "tronzap"), api_token="x", api_secret="y")
    with pytest.raises(ProviderAuthError):
        wrong_tz.balance()
    with pytest.raises(ProviderInvalidRequest):  # code 12: a duration the provider does not offer
        TronzapClient(
            provider(http, node.tronzap_url, "tronzap"),
            api_token=TRONZAP_API_TOKEN,
            api_secret=TRONZAP_API_SECRET,
            duration_hours=7,
        ).quote(new_address(node, http, sun=TRX), 65_000)


def test_balances_are_read_in_sun_from_every_provider(itrx, ea, tz, node, http):
    for source, name in ((itrx, "itrx"), (ea, "ea888fee"), (tz, "tronzap")):
        assert source.balance() == account_balance(node, http, name)
