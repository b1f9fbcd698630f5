"""The devnet's USDT semantics: energy split, reverts, the false return value, and its ABI."""

from __future__ import annotations

import pytest

from devnet.crypto import abi_address, selector, to_hex_address
from devnet.usdt import SEL, TRANSFER_TOPIC, Trc20Token, token_abi

pytestmark = pytest.mark.unit

ALICE = to_hex_address("TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3")
BOB = to_hex_address("TRsbuxREXKJKonexpejWhacE4sYHt1BSHV")


def transfer_data(to: str, amount: int) -> str:
    return SEL["transfer(address,uint256)"] + abi_address(to) + f"{amount:064x}"


@pytest.fixture
def token() -> Trc20Token:
    t = Trc20Token()
    t.mint(ALICE, 100)
    return t


def test_selectors_match_keccak_of_the_canonical_signatures():
    assert SEL["transfer(address,uint256)"] == "a9059cbb" == selector("transfer(address,uint256)")
    assert SEL["balanceOf(address)"] == "70a08231"
    assert TRANSFER_TOPIC.startswith("ddf252ad")


def test_a_transfer_to_a_fresh_holder_costs_130285_energy_and_to_a_holder_64285(token):
    fresh = token.call(ALICE, transfer_data(BOB, 10))
    fresh.apply()
    again = token.call(ALICE, transfer_data(BOB, 10))

    assert (fresh.energy_total, fresh.penalty) == (130_285, 100_635)
    assert (again.energy_total, again.penalty) == (64_285, 49_635)


def test_a_successful_transfer_returns_false_and_logs_transfer(token):
    result = token.call(ALICE, transfer_data(BOB, 10))
    assert token.balance_of(BOB) == 0  # nothing changes until applied
    result.apply()

    assert result.status == "SUCCESS" and result.output == "0" * 64
    assert result.logs[0]["topics"] == [TRANSFER_TOPIC, abi_address(ALICE), abi_address(BOB)]
    assert (token.balance_of(ALICE), token.balance_of(BOB)) == (90, 10)


def test_a_blacklisted_sender_or_a_short_balance_reverts(token):
    assert token.call(ALICE, transfer_data(BOB, 101)).status == "REVERT"
    token.blacklist.add(ALICE)
    assert token.call(ALICE, transfer_data(BOB, 1)).status == "REVERT"


def test_views_answer_balance_blacklist_and_metadata(token):
    assert int(token.call(BOB, SEL["balanceOf(address)"] + abi_address(ALICE)).output, 16) == 100
    assert int(token.call(BOB, SEL["isBlackListed(address)"] + abi_address(ALICE)).output, 16) == 0
    assert int(token.call(BOB, SEL["decimals()"]).output, 16) == 6
    assert token.call(BOB, "deadbeef").status == "REVERT"


def test_the_abi_uses_tron_enum_spellings_and_every_function_has_a_state_mutability():
    for entry in token_abi():
        assert entry["type"] in ("Function", "Event")
        if entry["type"] == "Function":
            assert entry["stateMutability"] in ("View", "Nonpayable")
