"""Watched deposit addresses: bulk import (all or nothing), membership, streaming."""

from __future__ import annotations

import pytest

from sweeper.errors import InvalidAddress
from sweeper.ledger import AddressConflict, DepositAddress, InvalidKeyReference, Ledger
from tests.fixtures.db import tron_address

pytestmark = pytest.mark.integration


def deposits(count: int, start: int = 0) -> list[DepositAddress]:
    return [
        DepositAddress(tron_address(i), f"mnemonic:{i}", f"user-{i}") for i in range(start, start + count)
    ]


def test_an_import_returns_how_many_addresses_were_new(ledger: Ledger) -> None:
    assert ledger.add_addresses(deposits(25), chunk_size=10) == 25
    assert ledger.add_addresses(deposits(30), chunk_size=10) == 5
    assert ledger.address_count() == 30


def test_an_import_in_many_chunks_stores_every_address(ledger: Ledger) -> None:
    rows = deposits(20_000)

    assert ledger.add_addresses(iter(rows), chunk_size=5_000) == 20_000

    assert ledger.watched_set() == frozenset(r.address for r in rows)


def test_a_bad_address_anywhere_aborts_the_whole_import(ledger: Ledger) -> None:
    rows = [*deposits(95), DepositAddress("not-an-address", "mnemonic:95")]

    with pytest.raises(InvalidAddress):
        ledger.add_addresses(rows, chunk_size=10)

    assert ledger.address_count() == 0


def test_an_address_already_watched_under_another_key_aborts_the_import(ledger: Ledger) -> None:
    ledger.add_addresses(deposits(5))
    clash = DepositAddress(tron_address(3), "keystore:other")

    with pytest.raises(AddressConflict):
        ledger.add_addresses([*deposits(10, start=100), clash], chunk_size=4)

    assert ledger.address_count() == 5
    stored = ledger.get_address(tron_address(3))
    assert stored is not None and stored.key_ref == "mnemonic:3"


def test_one_address_twice_with_different_keys_in_one_import_is_refused(ledger: Ledger) -> None:
    address = tron_address("twice")
    rows = [DepositAddress(address, "mnemonic:1"), DepositAddress(address, "mnemonic:2")]

    with pytest.raises(AddressConflict):
        ledger.add_addresses(rows)

    assert ledger.address_count() == 0


@pytest.mark.parametrize(
    "key_ref",
    [
        "0c" * 32,
        "raw:" + "AB" * 32,
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        "",
    ],
)
def test_key_material_is_never_accepted_as_a_key_reference(ledger: Ledger, key_ref: str) -> None:
    with pytest.raises(InvalidKeyReference) as caught:
        ledger.add_addresses([DepositAddress(tron_address(1), key_ref)])

    assert key_ref not in str(caught.value) or key_ref == ""
    assert ledger.address_count() == 0


def test_is_watched_returns_the_watched_subset(ledger: Ledger) -> None:
    ledger.add_addresses(deposits(1_200))
    asked = [tron_address(i) for i in range(1_100, 1_300)]

    assert ledger.is_watched(asked) == {tron_address(i) for i in range(1_100, 1_200)}
    assert ledger.is_watched([]) == set()


def test_iter_addresses_yields_every_address_once_in_batches(ledger: Ledger) -> None:
    ledger.add_addresses(deposits(1_050))

    batches = list(ledger.iter_addresses(batch_size=100))

    assert [len(b) for b in batches] == [100] * 10 + [50]
    flat = [a for batch in batches for a in batch]
    assert flat == sorted(flat)
    assert set(flat) == {tron_address(i) for i in range(1_050)}


def test_get_address_returns_the_key_reference_and_label(ledger: Ledger) -> None:
    ledger.add_addresses(deposits(1))

    stored = ledger.get_address(tron_address(0))

    assert stored is not None
    assert (stored.key_ref, stored.label) == ("mnemonic:0", "user-0")
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    assert ledger.get_address(tron_address("unknown")) is None
