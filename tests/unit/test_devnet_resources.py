"""Resource math of the devnet: recovery, stake ratios, the fee_limit cap and the bandwidth waterfall."""

from __future__ import annotations

import pytest

from devnet.accounts import Account
from devnet.errors import ChainError
from devnet.params import ChainParams
from devnet.resources import (
    SLOT_MS,
    WINDOW_MS,
    WINDOW_SLOTS,
    caller_energy_limit,
    energy_from_stake,
    increase,
    plan_bandwidth,
    recovered,
    split_energy,
    stake_for_energy,
    stake_for_net,
)

pytestmark = pytest.mark.unit

PARAMS = ChainParams()


def test_usage_does_not_recover_within_a_slot_and_is_gone_after_24_hours():
    assert recovered(64_285, 3_000, 5_999) == 64_285
    assert recovered(64_285, 0, WINDOW_MS) == 0


def test_usage_recovers_linearly_over_the_window():
    assert recovered(28_800, 0, WINDOW_MS // 2) == 14_400
    assert recovered(28_800, 0, 3_000) == 28_798  # java-tron's fixed point truncates (ResourceProcessor)


def test_one_energy_costs_100_000_staked_sun_at_the_default_network_totals():
    assert energy_from_stake(6_428_500_000, PARAMS) == 64_285
    assert stake_for_energy(64_285, PARAMS) == 6_428_500_000


def test_the_fee_limit_caps_staked_energy_as_well_as_burnable_trx():
    assert caller_energy_limit(130_285, 0, 10_000_000, 100) == 100_000
    assert caller_energy_limit(0, 20_000_000, 100_000_000, 100) == 200_000
    assert caller_energy_limit(64_285, 0, 100_000_000, 100) == 64_285


def test_energy_is_taken_from_stake_first_and_the_rest_burned():
    charge = split_energy(64_285, 60_000, 100)
    assert (charge.from_stake, charge.burned_sun) == (60_000, 428_500)


@pytest.mark.parametrize(
    ("staked", "free", "balance", "source", "usage", "fee"),
    [
        (345, 0, 0, "staked", 345, 0),
        (0, 600, 0, "free", 345, 0),
        (0, 344, 345_000, "burn", 0, 345_000),
    ],
)
def test_bandwidth_comes_from_stake_then_the_free_allowance_then_burned_trx(
    staked, free, balance, source, usage, fee
):
    charge = plan_bandwidth(
        nbytes=345, creates_account=False, staked_left=staked, free_left=free, balance=balance, params=PARAMS
    )
    assert (charge.source, charge.net_usage, charge.net_fee) == (source, usage, fee)


def test_bandwidth_that_nothing_can_pay_is_a_bandwith_error():
    with pytest.raises(ChainError) as err:
        plan_bandwidth(
            nbytes=345, creates_account=False, staked_left=0, free_left=0, balance=1, params=PARAMS
        )
    assert err.value.code == "BANDWITH_ERROR"


def test_creating_an_account_skips_the_free_allowance_and_costs_a_tenth_of_a_trx():
    charge = plan_bandwidth(
        nbytes=267, creates_account=True, staked_left=0, free_left=600, balance=10**9, params=PARAMS
    )
    assert (charge.source, charge.net_fee) == ("create", 100_000)


def test_increase_is_java_trons_fixed_point_average_over_28800_slots():
    assert increase(0, 345, 100, 100) == 345
    assert increase(345, 345, 100, 100) == 690
    assert increase(345, 0, 100, 100 + WINDOW_SLOTS) == 0
    assert increase(28_800, 0, 0, 1) == 28_798  # ceil to the average, Math.round the decay, floor back


def test_after_one_usdt_transfer_the_free_allowance_covers_another_only_after_about_six_hours():
    account = Account("41" + "aa" * 20)
    account.use_free_net(345, 1_000)
    hours = 3_600_000 // SLOT_MS  # slots per hour

    assert account.free_net_left(PARAMS, 1_000) == 255
    assert account.free_net_left(PARAMS, 1_000 + 6 * hours) < 345
    assert account.free_net_left(PARAMS, 1_000 + 6 * hours + hours // 2) >= 345
    assert account.free_net_left(PARAMS, 1_000 + 24 * hours) == 600


def test_usage_in_stake_is_charged_to_received_delegations_before_own_stake():
    account = Account("41" + "aa" * 20, frozen_energy=10_000 * 1_000_000, acquired_energy=2_000 * 1_000_000)
    account.use_energy(50_000, 7)  # 5 000 TRX of stake at 100 000 sun per energy

    assert account.can_delegate_energy(PARAMS, 7) == 7_000 * 1_000_000
    assert account.can_delegate_net(PARAMS, 7) == 0


def test_bandwidth_stake_for_bytes_rounds_up_and_account_creation_uses_the_bandwidth_rate():
    assert stake_for_net(345, PARAMS) == 345 * 1_000_000
    rated = ChainParams(create_new_account_bandwidth_rate=2)
    with pytest.raises(ChainError):
        plan_bandwidth(
            nbytes=300, creates_account=True, staked_left=599, free_left=600, balance=0, params=rated
        )
    charge = plan_bandwidth(
        nbytes=300, creates_account=True, staked_left=600, free_left=0, balance=0, params=rated
    )
    assert (charge.source, charge.net_usage) == ("staked", 600)
