"""The adapter's own base58check encoder (the block scanner's hot path) against the reference library."""

from __future__ import annotations

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweeper.chain.addresses import to_base58, to_hex

pytestmark = pytest.mark.unit


@given(st.binary(min_size=20, max_size=20))
def test_any_address_body_encodes_exactly_as_the_base58_library_does(body: bytes) -> None:
    raw = b"\x41" + body
    expected = base58.b58encode_check(raw).decode()

    assert to_base58(raw.hex()) == expected
    assert to_hex(expected) == raw.hex()


@pytest.mark.parametrize("body", [bytes(20), bytes(19) + b"\x01", b"\xff" * 20])
def test_bodies_with_leading_zero_or_all_one_bits_keep_their_exact_length(body: bytes) -> None:
    raw = b"\x41" + body

    assert to_base58(raw.hex()) == base58.b58encode_check(raw).decode()
    assert len(to_base58(raw.hex())) == 34


def test_the_conversion_caches_stay_small_however_many_addresses_pass_through() -> None:
    """The rescan encodes every watched address once an hour: a worker must not keep them all."""
    import hashlib
    import tracemalloc

    addresses = [
        base58.b58encode_check(b"\x41" + hashlib.sha256(f"cache-{i}".encode()).digest()[:20]).decode()
        for i in range(60_000)
    ]
    to_hex.cache_clear()
    to_base58.cache_clear()
    tracemalloc.start()
    try:
        for address in addresses:
            to_base58(to_hex(address))
            to_base58(address)
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        to_hex.cache_clear()
        to_base58.cache_clear()

    assert held < 10 * 2**20, f"{held / 2**20:.1f} MB held by the address caches"
