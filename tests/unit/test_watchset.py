"""The watched-address set: exact O(1) membership, compact memory, loading in batches."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import base58
import pytest

from sweeper.chain.addresses import KEY_BITS, topic_key
from sweeper.detect import WatchCache, WatchSet
from sweeper.errors import InvalidAddress

pytestmark = pytest.mark.unit

MEMORY_BOUND_BYTES_PER_ADDRESS = 85


def address(seed: int | str) -> str:
    return base58.b58encode_check(b"\x41" + hashlib.sha256(str(seed).encode()).digest()[:20]).decode()


class ListSource:
    """An in-memory stand-in for the ledger's address listing, counting the batches it hands out."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.batches = 0
        self.loads = 0

    def iter_addresses(self, batch_size: int = 10_000) -> Iterator[list[str]]:
        self.loads += 1
        ordered = sorted(self.addresses)
        for start in range(0, len(ordered), batch_size):
            self.batches += 1
            yield ordered[start : start + batch_size]

    def address_count(self) -> int:
        return len(self.addresses)


def test_added_addresses_are_members_and_others_are_not() -> None:
    watched = WatchSet(address(i) for i in range(100))
    assert len(watched) == 100
    assert all(address(i) in watched for i in range(100))
    assert not any(address(i) in watched for i in range(100, 200))


def test_adding_an_address_twice_keeps_one() -> None:
    watched = WatchSet([address(1), address(1)])
    watched.add(address(1))
    assert len(watched) == 1


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "T",
        None,
        42,
        b"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
        "41a614f803b6fd780986a42c78ec9c7f77e6ded13c",
        "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj60",  # '0' is not base58
        "1R7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t",
    ],
)
def test_membership_of_anything_that_is_not_an_address_is_false_not_an_error(candidate: object) -> None:
    watched = WatchSet(["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"])
    assert candidate not in watched


def test_an_address_with_a_corrupted_checksum_is_not_a_member_even_if_its_body_is() -> None:
    valid = address("body")
    watched = WatchSet([valid])
    for replacement in "abcdef":
        corrupted = valid[:-1] + replacement
        if corrupted == valid:
            continue
        with pytest.raises(ValueError):
            base58.b58decode_check(corrupted)
        assert corrupted not in watched


def test_an_invalid_address_cannot_be_added() -> None:
    valid = address("x")
    corrupted = valid[:-1] + ("a" if valid[-1] != "a" else "b")
    with pytest.raises(InvalidAddress):
        WatchSet().add(corrupted)
    with pytest.raises(InvalidAddress):
        WatchSet().add("not an address")


def topic(address_: str) -> str:
    """The 64-hex ABI word of an address, as a Transfer log's topic carries it."""
    return "0" * 24 + base58.b58decode_check(address_)[1:].hex()


def test_the_scanner_topic_test_agrees_with_the_address_test() -> None:
    members = [address(i) for i in range(50)] + ["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"]
    strangers = [address(f"stranger-{i}") for i in range(2_000)]
    watched = WatchSet(members)

    assert all(topic_key(topic(a)) in watched.keys for a in members)
    assert not any(topic_key(topic(a)) in watched.keys for a in strangers)
    assert not any(a in watched for a in strangers)
    assert "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t" in watched
    assert topic_key("not hex at all, not an address word, not anything") not in watched.keys


def test_an_address_is_told_apart_by_the_top_88_bits_of_its_body() -> None:
    member = address("member")
    body = int(topic(member), 16)
    low_bits_changed = body ^ ((1 << (160 - KEY_BITS)) - 1)  # every bit the key leaves out, flipped
    high_bit_changed = body ^ (1 << (160 - KEY_BITS))  # the lowest bit the key keeps, flipped
    watched = WatchSet([member])

    assert topic_key(f"{low_bits_changed:064x}") in watched.keys  # the documented trade (2**-88 a pair)
    assert topic_key(f"{high_bit_changed:064x}") not in watched.keys


def test_loading_reads_the_source_in_batches_and_skips_rows_that_are_not_addresses() -> None:
    source = ListSource([address(i) for i in range(250)] + ["Tbroken"])
    watched = WatchSet.load(source, batch_size=100)
    assert len(watched) == 250
    assert source.batches == 3
    assert all(address(i) in watched for i in range(250))


def test_a_hundred_thousand_addresses_take_less_than_85_bytes_each() -> None:
    count = 100_000
    addresses = [address(i) for i in range(count)]
    tracemalloc.start()
    try:
        watched = WatchSet(addresses)
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(watched) == count
    per_address = used / count
    assert per_address < MEMORY_BOUND_BYTES_PER_ADDRESS, f"{per_address:.1f} bytes per address"


def test_the_cache_reloads_only_when_the_address_count_changes_or_the_set_is_old() -> None:
    now = [0.0]
    source = ListSource([address(i) for i in range(10)])
    cache = WatchCache(source, max_age_s=60, clock=lambda: now[0])
    first = cache.get()
    assert cache.get() is first
    assert source.loads == 1

    source.addresses.append(address("new"))
    second = cache.get()
    assert second is not first and address("new") in second
    assert source.loads == 2

    now[0] = 61.0
    assert cache.get() is not second
    assert source.loads == 3
