"""Dynamic energy: the penalty a contract's energy_factor adds, per opcode as java-tron's VM.play does."""

from __future__ import annotations

import pytest

from devnet.crypto import abi_address, to_hex_address
from devnet.energy import CallCost, cycle_number, op_penalty, transfer_costs
from devnet.usdt import SEL, Trc20Token

pytestmark = pytest.mark.unit

ALICE = to_hex_address("TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3")
BOB = to_hex_address("TRsbuxREXKJKonexpejWhacE4sYHt1BSHV")


def test_usdts_default_costs_reproduce_mainnet_receipts_at_factor_34000():
    holder, fresh = transfer_costs(14_650, 29_650)

    assert (holder.base, holder.penalty(34_000), holder.total(34_000)) == (14_650, 49_635, 64_285)
    assert (fresh.base, fresh.penalty(34_000), fresh.total(34_000)) == (29_650, 100_635, 130_285)


def test_each_opcode_loses_the_fraction_of_its_own_penalty():
    assert op_penalty(3, 34_000) == 10  # 3 x 4.4 = 13.2 -> 13, minus the 3 base
    assert op_penalty(5_000, 34_000) == 17_000
    assert CallCost(3_000, cheap_ops=1_000).penalty(34_000) == 10_000 < 3_000 * 34_000 // 10_000


def test_no_factor_means_no_penalty_and_a_higher_factor_costs_more():
    cost = CallCost(14_650, 875)

    assert cost.penalty(0) == 0 and cost.penalty(-1) == 0
    assert cost.penalty(10_000) < cost.penalty(34_000) < cost.penalty(50_000)
    assert cost.total(50_000) == 14_650 + 875 * 15 + (14_650 - 2_625) * 5


def test_a_token_charges_its_own_base_energy_at_the_factor_it_is_called_with():
    token = Trc20Token(holder_energy=20_000, new_holder_energy=40_000)
    token.mint(ALICE, 10**21)
    data = SEL["transfer(address,uint256)"] + abi_address(BOB) + f"{10**21:064x}"

    at_max = token.call(ALICE, data, 34_000)
    flat = token.call(ALICE, data, 0)

    assert (flat.energy, flat.penalty) == (40_000, 0)
    assert at_max.energy == 40_000 and at_max.penalty == CallCost(40_000, 875).penalty(34_000)
    at_max.apply()
    assert token.balance_of(BOB) == 10**21 and token.balance_of(ALICE) == 0


def test_the_maintenance_cycle_counts_intervals_since_genesis():
    assert cycle_number(1_000, 1_000, 21_600_000) == 0
    assert cycle_number(1_000 + 21_600_000 * 3, 1_000, 21_600_000) == 3
