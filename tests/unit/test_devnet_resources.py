"""Resource math of the devnet: recovery, stake ratios, the fee_limit cap and the bandwidth waterfall."""

from __future__ import annotations

import pytest

from devnet.errors import ChainError
from devnet.params import ChainParams
from devnet.resources import (
    WINDOW_MS,
    caller_energy_limit,
    energy_from_stake,
    plan_bandwidth,
    recovered,
    split_energy,
    stake_for_energy,
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
