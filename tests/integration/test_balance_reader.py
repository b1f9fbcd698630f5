"""``BalanceReader`` (the rescan's batch balance path) against the real devnet over HTTP."""

from __future__ import annotations

import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.chain.balances import BalanceReader
from sweeper.errors import ChainUnavailable, InvalidAddress
from sweeper.models import USDT_MAINNET
from tasks.processes import free_port

pytestmark = pytest.mark.integration


def holders(devnet: Devnet, amounts: list[int]) -> list[str]:
    addresses = [generate_key()[1] for _ in amounts]
    for address, amount in zip(addresses, amounts, strict=True):
        if amount:
            devnet.chain.mint(address, amount)
    devnet.chain.produce_blocks(1)
    return addresses


def test_balances_come_back_in_the_order_asked_over_fewer_connections_than_addresses(devnet: Devnet) -> None:
    amounts = [(i % 7) * 1_000_000 for i in range(50)]
    addresses = holders(devnet, amounts)

    balances = BalanceReader(devnet.node_url, connections=4).token_balances(USDT_MAINNET, addresses)

    assert balances == amounts


def test_the_batch_read_agrees_with_one_read_per_address(devnet: Devnet) -> None:
    addresses = holders(devnet, [5_000_000, 0, 123])
    chain = TronChain(devnet.node_url)
    try:
        batch = chain.token_balances(USDT_MAINNET, addresses, concurrency=2)
        single = [chain.token_balance(USDT_MAINNET, a) for a in addresses]
    finally:
        chain.close()

    assert batch == single == [5_000_000, 0, 123]


def test_a_bad_address_is_reported_in_its_place_and_the_others_are_read(devnet: Devnet) -> None:
    good = holders(devnet, [2_000_000, 3_000_000])

    balances = BalanceReader(devnet.node_url).token_balances(
        USDT_MAINNET, [good[0], "Tnot-an-address", good[1]]
    )

    assert balances[0] == 2_000_000 and balances[2] == 3_000_000
    assert isinstance(balances[1], InvalidAddress)


def test_node_errors_of_any_status_are_transient_rate_limits_included(devnet: Devnet) -> None:
    addresses = holders(devnet, [1_000_000] * 6)
    reader = BalanceReader(devnet.node_url, connections=1)

    devnet.faults.set("node", error_rate=1.0, status=503, count=2)
    unavailable = reader.token_balances(USDT_MAINNET, addresses)
    devnet.faults.set("node", error_rate=1.0, status=403, count=1)  # TronGrid's rate limit
    limited = reader.token_balances(USDT_MAINNET, addresses)

    assert [type(b) for b in unavailable[:2]] == [ChainUnavailable, ChainUnavailable]
    assert unavailable[2:] == [1_000_000] * 4
    assert type(limited[0]) is ChainUnavailable and limited[0].reason == "http_403"
    assert limited[1:] == [1_000_000] * 5


def test_an_unreachable_node_makes_every_read_transient() -> None:
    reader = BalanceReader(f"http://127.0.0.1:{free_port()}/", timeout=2.0, connections=3)

    balances = reader.token_balances(USDT_MAINNET, [generate_key()[1] for _ in range(5)])

    assert all(isinstance(b, ChainUnavailable) for b in balances)
