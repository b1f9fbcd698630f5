"""The balance rescan against the real devnet over HTTP, reading its addresses from the real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain as chained

import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.detect import Holding, iter_rescan, rescan
from sweeper.errors import ChainUnavailable
from sweeper.ledger import DepositAddress, Ledger
from sweeper.models import USDT_MAINNET, Token

pytestmark = pytest.mark.integration

USDT = Token(symbol="USDT", contract=USDT_MAINNET, decimals=6, min_amount=1_000_000)


def watched_addresses(ledger: Ledger, count: int) -> list[str]:
    addresses = [generate_key()[1] for _ in range(count)]
    ledger.add_addresses(DepositAddress(a, f"mnemonic:{i}") for i, a in enumerate(addresses))
    return addresses


def every_watched(ledger: Ledger) -> Iterator[str]:
    return chained.from_iterable(ledger.iter_addresses(batch_size=100))


def test_the_rescan_finds_every_watched_address_holding_at_least_the_minimum(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    above, exactly, below, empty = watched_addresses(ledger, 4)
    stranger = generate_key()[1]
    for address, amount in [
        (above, 7_500_000),
        (exactly, 1_000_000),
        (below, 999_999),
        (stranger, 9_000_000),
    ]:
        devnet.chain.mint(address, amount)
    devnet.chain.produce_blocks(1)

    result = rescan(chain, every_watched(ledger), [USDT], workers=4)

    assert result.checked == 4
    assert result.failed == []
    assert sorted(result.found) == sorted(
        [Holding(above, USDT_MAINNET, 7_500_000), Holding(exactly, USDT_MAINNET, 1_000_000)]
    )
    assert empty not in {h.address for h in result.found}


def test_many_addresses_are_read_in_bounded_chunks_by_a_pool_of_workers(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    addresses = watched_addresses(ledger, 600)
    holders = addresses[::10]
    for address in holders:
        devnet.chain.mint(address, 2_000_000)
    devnet.chain.produce_blocks(1)

    chunks = list(iter_rescan(chain, every_watched(ledger), [USDT], workers=8, chunk_size=128))

    assert [chunk.checked for chunk in chunks] == [128, 128, 128, 128, 88]
    assert sorted(h.address for chunk in chunks for h in chunk.found) == sorted(holders)
    assert all(chunk.failed == [] for chunk in chunks)


def test_balances_that_cannot_be_read_are_reported_and_the_rest_still_found(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    addresses = watched_addresses(ledger, 40)
    for address in addresses:
        devnet.chain.mint(address, 1_000_000)
    devnet.chain.produce_blocks(1)
    devnet.faults.set("node", error_rate=1.0, status=503, count=3)

    result = rescan(chain, addresses, [USDT], workers=4, chunk_size=20)

    assert result.checked == 40
    assert len(result.failed) == 3
    unread = {address for address, _ in result.failed}
    assert {h.address for h in result.found} == set(addresses) - unread


def test_the_rescan_stops_when_the_node_is_down(devnet: Devnet, chain: TronChain, ledger: Ledger) -> None:
    addresses = watched_addresses(ledger, 30)
    devnet.faults.set("node", error_rate=1.0, status=503)

    with pytest.raises(ChainUnavailable):
        rescan(chain, addresses, [USDT], workers=4, chunk_size=10)
