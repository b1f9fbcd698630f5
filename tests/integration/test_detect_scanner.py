"""The block scanner against the real devnet over HTTP, with its cursor in the real ledger."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.chain import TronChain
from sweeper.detect import BlockScanner, ScanResult, WatchSet, commit, scan
from sweeper.detect.scanner import fetch_threads
from sweeper.errors import ChainUnavailable
from sweeper.ledger import DepositAddress, Ledger, create_engine_for
from sweeper.models import USDT_MAINNET
from tests.fixtures.devnet import fund_over_http

pytestmark = pytest.mark.integration

CONTRACTS = (USDT_MAINNET,)


def new_addresses(count: int) -> list[str]:
    return [generate_key()[1] for _ in range(count)]


def watch(ledger: Ledger, addresses: list[str]) -> WatchSet:
    ledger.add_addresses(DepositAddress(a, f"mnemonic:{i}") for i, a in enumerate(addresses))
    return WatchSet.load(ledger)


def start_cursor_at_head(ledger: Ledger, devnet: Devnet) -> int:
    head = devnet.chain.produce_blocks(1)
    ledger.set_cursor("blocks", head)
    return head


def spaced_deposits(devnet: Devnet, addresses: list[str], gap: int) -> dict[str, int]:
    """One deposit to each address, ``gap`` empty blocks before each and after the last; its block."""
    deposits: dict[str, int] = {}
    for address in addresses:
        devnet.chain.produce_blocks(gap)
        devnet.chain.mint(address, 1_000_000)
        deposits[address] = devnet.chain.produce_blocks(1)
    devnet.chain.produce_blocks(20)
    return deposits


def scan_to(scanner: BlockScanner, watched: WatchSet, block: int) -> list[ScanResult]:
    """Scan and commit until ``block`` is covered; every result in order."""
    results: list[ScanResult] = []
    for _ in range(100):
        result = scanner.scan(watched)
        results.append(result)
        scanner.commit(result)
        if result.to_block >= block:
            return results
    raise AssertionError(f"block {block} was never reached: last result {results[-1]}")


def test_a_scan_reports_exactly_the_watched_recipients_once_per_address_and_token(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    watched_paid, watched_idle = new_addresses(3), new_addresses(2)
    strangers = new_addresses(3)
    watched = watch(ledger, watched_paid + watched_idle)
    start_cursor_at_head(ledger, devnet)

    for address in watched_paid[:2] + strangers:
        fund_over_http(devnet, address, usdt=2_000_000)  # through the admin HTTP API
    first_block = devnet.chain.produce_blocks(1)
    devnet.chain.mint(watched_paid[0], 5_000_000)  # a second deposit in a later block
    devnet.chain.mint(watched_paid[2], 1)
    last_block = devnet.chain.produce_blocks(1)

    scanner = BlockScanner(chain, ledger, CONTRACTS, confirmations=0, max_blocks=1_000)
    results = scan_to(scanner, watched, last_block)

    hits = [hit for result in results for hit in result.hits]
    assert sorted(hit.address for hit in hits) == sorted(watched_paid)
    assert {hit.contract for hit in hits} == {USDT_MAINNET}
    first_seen = {hit.address: hit.block for hit in hits}
    assert first_seen[watched_paid[0]] <= first_block < first_seen[watched_paid[2]] <= last_block
    assert sum(result.transfers for result in results) == 4  # to watched addresses; the strangers' 3 not


def test_the_cursor_moves_only_when_the_caller_commits(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    address = new_addresses(1)[0]
    watched = watch(ledger, [address])
    cursor = start_cursor_at_head(ledger, devnet)
    devnet.chain.mint(address, 3_000_000)
    mined = devnet.chain.produce_blocks(1)

    first = scan(chain, ledger, watched, CONTRACTS, confirmations=0, max_blocks=mined - cursor)
    again = scan(chain, ledger, watched, CONTRACTS, confirmations=0, max_blocks=mined - cursor)

    assert ledger.get_cursor("blocks") == cursor
    assert (again.from_block, again.to_block) == (first.from_block, first.to_block) == (cursor + 1, mined)
    assert again.hits == first.hits == [(address, USDT_MAINNET, mined)]

    assert commit(ledger, first) is True
    assert ledger.get_cursor("blocks") == mined
    after = scan(chain, ledger, watched, CONTRACTS, confirmations=0, max_blocks=10)
    assert after.from_block == mined + 1
    assert address not in {hit.address for hit in after.hits}


def test_the_cursor_persists_in_the_ledger_across_connections(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    watched = watch(ledger, new_addresses(1))
    start_cursor_at_head(ledger, devnet)
    devnet.chain.produce_blocks(3)
    result = scan(chain, ledger, watched, CONTRACTS, confirmations=0, max_blocks=5)
    assert commit(ledger, result)

    engine = create_engine_for(ledger.engine.url)
    try:
        reopened = Ledger(engine)
        assert reopened.get_cursor("blocks") == result.to_block
        devnet.chain.produce_blocks(1)
        following = scan(chain, reopened, watched, CONTRACTS, confirmations=0, max_blocks=5)
    finally:
        engine.dispose()
    assert following.from_block == result.to_block + 1


def test_a_first_scan_without_a_cursor_starts_at_head_minus_confirmations(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    devnet.chain.produce_blocks(30)
    head_before = devnet.chain.head_number()
    result = scan(chain, ledger, WatchSet(), CONTRACTS, confirmations=10, max_blocks=50)
    head_after = devnet.chain.head_number()
    assert result.cursor_before is None
    assert result.from_block == result.to_block  # one block: the newest safe one
    assert head_before - 10 <= result.to_block <= head_after - 10
    assert commit(ledger, result)
    assert ledger.get_cursor("blocks") == result.to_block


def test_a_configured_start_block_is_used_when_there_is_no_cursor(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    address = new_addresses(1)[0]
    watched = watch(ledger, [address])
    devnet.chain.mint(address, 1_000_000)
    mined = devnet.chain.produce_blocks(1)
    devnet.chain.produce_blocks(5)

    result = scan(chain, ledger, watched, CONTRACTS, confirmations=0, max_blocks=100, start_block=mined)

    assert result.from_block == mined
    assert result.hits == [(address, USDT_MAINNET, mined)]


def test_blocks_within_the_confirmation_depth_are_left_for_later(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    address = new_addresses(1)[0]
    watched = watch(ledger, [address])
    cursor = start_cursor_at_head(ledger, devnet)
    devnet.chain.mint(address, 1_000_000)
    devnet.chain.produce_blocks(1)

    waiting = scan(chain, ledger, watched, CONTRACTS, confirmations=1_000, max_blocks=100)

    assert waiting.blocks == 0 and waiting.hits == [] and waiting.lag_blocks == 0
    assert commit(ledger, waiting) is False
    assert ledger.get_cursor("blocks") == cursor


def test_a_long_outage_is_caught_up_in_bounded_contiguous_steps(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    addresses = new_addresses(6)
    watched = watch(ledger, addresses[:4])
    cursor = start_cursor_at_head(ledger, devnet)
    deposits = spaced_deposits(devnet, addresses, gap=60)
    target = devnet.chain.head_number()

    scanner = BlockScanner(chain, ledger, CONTRACTS, confirmations=0, max_blocks=100, workers=4)
    results = scan_to(scanner, watched, target)

    assert len(results) >= 4
    assert all(r.blocks <= 100 for r in results)
    assert results[0].from_block == cursor + 1
    assert all(b.from_block == a.to_block + 1 for a, b in pairwise(results))
    assert all(r.lag_blocks > 0 for r in results[:-1])
    hits = [hit for result in results for hit in result.hits]
    assert hits == [(a, USDT_MAINNET, deposits[a]) for a in addresses[:4]]


def test_of_two_scanners_over_the_same_range_only_one_moves_the_cursor(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    cursor = start_cursor_at_head(ledger, devnet)
    devnet.chain.produce_blocks(3)
    one = scan(chain, ledger, WatchSet(), CONTRACTS, confirmations=0, max_blocks=2)
    other = scan(chain, ledger, WatchSet(), CONTRACTS, confirmations=0, max_blocks=3)

    assert commit(ledger, one) is True
    assert commit(ledger, other) is False
    assert ledger.get_cursor("blocks") == cursor + 2


def test_a_node_failure_leaves_the_cursor_where_it_was(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    cursor = start_cursor_at_head(ledger, devnet)
    devnet.chain.produce_blocks(5)
    devnet.faults.set("node", error_rate=1.0, status=503)

    with pytest.raises(ChainUnavailable):
        scan(chain, ledger, WatchSet(), CONTRACTS, confirmations=0, max_blocks=10)
    assert ledger.get_cursor("blocks") == cursor


class ThreadRecorder:
    """The devnet chain, noting which thread fetched each range (what the scanner chose to overlap)."""

    def __init__(self, chain: TronChain) -> None:
        self.chain = chain
        self.threads: set[str] = set()

    def head_block_number(self) -> int:
        return self.chain.head_block_number()

    def block_transfers(self, start, end, contracts, *, recipients=None):  # type: ignore[no-untyped-def]
        self.threads.add(threading.current_thread().name)
        return self.chain.block_transfers(start, end, contracts, recipients=recipients)


def test_a_catch_up_overlaps_the_waits_of_a_slow_node_and_keeps_chain_order(
    devnet: Devnet, chain: TronChain, ledger: Ledger
) -> None:
    addresses = new_addresses(4)
    watched = watch(ledger, addresses)
    cursor = start_cursor_at_head(ledger, devnet)
    deposits = spaced_deposits(devnet, addresses, gap=20)
    devnet.faults.set("node", latency_ms=30)  # a node in another data centre, or java-tron reading its DB
    recorder = ThreadRecorder(chain)

    result = scan(recorder, ledger, watched, CONTRACTS, confirmations=0, max_blocks=100, workers=4)

    assert result.from_block == cursor + 1 and result.blocks == 100
    assert [h.address for h in result.hits] == addresses  # chain order, whatever thread read them
    assert [h.block for h in result.hits] == [deposits[a] for a in addresses]
    assert len([t for t in recorder.threads if t.startswith("scan")]) == 4  # the waits overlapped


@pytest.mark.parametrize(
    ("wall_ms", "cpu_ms", "threads"),
    [
        (1.9, 1.38, 1),  # a node on this host: our own CPU is the cost, and the GIL serialises it
        (2.7, 1.38, 1),  # its slowest answers (p90 of the devnet's 1.57): still not worth a second
        (3.0, 1.4, 2),
        (31.4, 1.4, 4),  # 30 ms away: as many as allowed
        (5.0, 0.0, 4),  # no CPU measured (a coarse clock): the most allowed
    ],
)
def test_fetch_threads_are_the_wall_time_of_a_request_over_its_cpu(
    wall_ms: float, cpu_ms: float, threads: int
) -> None:
    assert fetch_threads(wall_ms / 1000, cpu_ms / 1000, 4) == threads
