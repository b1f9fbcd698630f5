"""Stake and burn against the devnet chain through the real chain adapter and a real local signer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.energy.burn import BurnSource
from sweeper.energy.journal import MemoryJournal
from sweeper.energy.stake import StakeSource
from sweeper.errors import ProviderOutOfResources
from sweeper.keys.local import LocalSigner
from sweeper.models import OrderStatus

pytestmark = pytest.mark.integration

TRX = 1_000_000


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2, providers=False) as devnet:
        yield devnet


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def admin(node: Devnet, http: httpx.Client, path: str, body: dict) -> dict:
    response = http.post(node.node_url + path, json=body)
    response.raise_for_status()
    return response.json()


def new_key(node: Devnet, http: httpx.Client, *, sun: int = 0) -> tuple[LocalSigner, str]:
    priv, address = generate_key()
    if sun:
        admin(node, http, "devnet/fund", {"address": address, "sun": sun})
    return LocalSigner(priv), address


def wait_until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def stake_owner(node: Devnet, http: httpx.Client) -> LocalSigner:
    signer, address = new_key(node, http)
    admin(
        node,
        http,
        "devnet/pool",
        {"address": address, "trx_sun": 100 * TRX, "staked_energy_sun": 10**8 * TRX},
    )
    return signer


def test_stake_delegates_energy_from_our_own_stake_and_reclaims_it(node, http, stake_owner):
    chain = TronChain(node.node_url, http=http, reference_address=stake_owner.address)
    source = StakeSource(chain, stake_owner, journal=MemoryJournal())
    _, deposit = new_key(node, http, sun=TRX)
    assert source.quote(deposit, 65_000).total_sun == 0
    order = source.order("stake-1", deposit, 65_000)
    assert source.order("stake-1", deposit, 65_000).provider_order_id == order.provider_order_id
    assert wait_until(lambda: chain.resources(deposit).energy >= 65_000)
    assert wait_until(lambda: source.status(order).status is OrderStatus.DELIVERED)
    delegated = chain.delegated_energy_sun(stake_owner.address, deposit)
    assert delegated > 0
    txid = source.reclaim(order)
    assert txid is not None and source.reclaim(order) == txid
    assert wait_until(lambda: chain.delegated_energy_sun(stake_owner.address, deposit) == 0)
    assert wait_until(lambda: chain.resources(deposit).energy == 0)


def test_stake_refuses_more_than_the_account_can_delegate(node, http):
    signer, address = new_key(node, http)
    admin(
        node, http, "devnet/pool", {"address": address, "trx_sun": 100 * TRX, "staked_energy_sun": 10 * TRX}
    )
    chain = TronChain(node.node_url, http=http, reference_address=address)
    _, deposit = new_key(node, http, sun=TRX)
    with pytest.raises(ProviderOutOfResources):
        StakeSource(chain, signer, journal=MemoryJournal()).quote(deposit, 65_000)


def test_burn_sends_the_trx_the_transfer_will_burn_and_activates_the_address(node, http):
    gas, gas_address = new_key(node, http, sun=1_000 * TRX)
    chain = TronChain(node.node_url, http=http, reference_address=gas_address)
    source = BurnSource(chain, gas, journal=MemoryJournal(), max_sun_per_sweep=20 * TRX)
    _, deposit = new_key(node, http)
    quote = source.quote(deposit, 64_285)
    price = chain.energy_price_sun()
    # A new account gets the day's free bytes: only the energy is sent; the gas wallet pays 1.1 TRX on top.
    assert (
        quote.cost_sun == 64_285 * price and quote.activation_sun == chain.chain_parameters().activation_sun
    )
    order = source.order("burn-1", deposit, 64_285)
    assert source.order("burn-1", deposit, 64_285).provider_order_id == order.provider_order_id
    assert wait_until(lambda: source.status(order).status is OrderStatus.DELIVERED)
    assert chain.is_activated(deposit)
    assert chain.trx_balance(deposit) == quote.cost_sun
