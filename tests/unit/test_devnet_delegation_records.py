"""Locked and unlocked delegations are separate records (DelegateResourceActuator.createDbKeyV2)."""

from __future__ import annotations

import pytest

from devnet.chain import Chain, ChainError
from devnet.crypto import generate_key, to_hex_address
from tests.support.devnet_tx import TRX, delegate, submit, undelegate

pytestmark = pytest.mark.unit


@pytest.fixture
def chain() -> Chain:
    return Chain(solid_depth=2, slot_ms=3_000)


@pytest.fixture
def staker(chain: Chain) -> tuple[bytes, str, str]:
    """(key, owner with 10 000 TRX staked for energy and 1 000 for bandwidth, an activated receiver)."""
    priv, owner = generate_key()
    _, receiver = generate_key()
    chain.create_pool(owner, 10 * TRX, 10_000 * TRX, 1_000 * TRX)
    chain.fund(receiver, TRX)
    chain.produce_blocks(1)
    return priv, owner, receiver


def records(chain: Chain, owner: str, receiver: str) -> list[tuple[bool, int, int, int]]:
    pair = chain.state.delegation_records(to_hex_address(owner), to_hex_address(receiver))
    return [(d.lock, d.energy, d.energy_expire, d.net) for d in pair]


def test_a_locked_and_an_unlocked_delegation_are_two_records_and_the_unlocked_one_can_go(chain, staker):
    priv, owner, receiver = staker
    submit(chain, delegate(chain, priv, owner, receiver, 1_000 * TRX))
    submit(chain, delegate(chain, priv, owner, receiver, 2_000 * TRX, lock=True, lock_period=100))
    chain.produce_blocks(1)
    locked_until = chain.block(chain.head_number() - 1).timestamp + 100 * 3_000  # parent time + 100 blocks

    assert records(chain, owner, receiver) == [
        (False, 1_000 * TRX, 0, 0),
        (True, 2_000 * TRX, locked_until, 0),
    ]
    submit(chain, undelegate(chain, priv, owner, receiver, 1_000 * TRX))
    with pytest.raises(ChainError) as locked:
        submit(chain, undelegate(chain, priv, owner, receiver, TRX))
    chain.produce_blocks(1)

    assert (
        "insufficient delegateFrozenBalance(Energy), request=1000000, unlock_balance=0"
        in locked.value.message
    )
    assert records(chain, owner, receiver) == [(True, 2_000 * TRX, locked_until, 0)]
    assert chain.energy_available(receiver) == 20_000


def test_a_lock_that_has_run_out_is_taken_back_through_the_unlocked_record(chain, staker):
    priv, owner, receiver = staker
    submit(chain, delegate(chain, priv, owner, receiver, 2_000 * TRX, lock=True, lock_period=3))
    chain.produce_blocks(5)

    submit(chain, undelegate(chain, priv, owner, receiver, 500 * TRX))
    chain.produce_blocks(1)

    assert records(chain, owner, receiver) == [(False, 1_500 * TRX, 0, 0)]
    assert chain.energy_available(receiver) == 15_000


def test_a_new_lock_may_not_end_before_the_lock_already_running(chain, staker):
    priv, owner, receiver = staker
    submit(chain, delegate(chain, priv, owner, receiver, 1_000 * TRX, lock=True, lock_period=100))
    chain.produce_blocks(1)

    with pytest.raises(ChainError, match=r"cannot be less than the remaining time\[\d+ms\]"):
        submit(chain, delegate(chain, priv, owner, receiver, 1_000 * TRX, lock=True, lock_period=10))


def test_lock_period_is_only_checked_when_the_delegation_locks(chain, staker):
    priv, owner, receiver = staker
    submit(chain, delegate(chain, priv, owner, receiver, 1_000 * TRX, lock_period=10**9))
    with pytest.raises(ChainError, match="cannot exceed 864000"):
        submit(chain, delegate(chain, priv, owner, receiver, 1_000 * TRX, lock=True, lock_period=10**9))


def test_bandwidth_delegations_move_net_limit_and_name_bandwidth_in_their_refusal(chain, staker):
    priv, owner, receiver = staker
    submit(chain, delegate(chain, priv, owner, receiver, 400 * TRX, resource="BANDWIDTH"))
    chain.produce_blocks(1)

    assert chain.bandwidth_available(receiver)[1] == 400
    with pytest.raises(
        ChainError, match=r"insufficient delegatedFrozenBalance\(BANDWIDTH\), request=401000000"
    ):
        submit(chain, undelegate(chain, priv, owner, receiver, 401 * TRX, resource="BANDWIDTH"))
    submit(chain, undelegate(chain, priv, owner, receiver, 400 * TRX, resource="BANDWIDTH"))
    chain.produce_blocks(1)
    assert records(chain, owner, receiver) == [] and chain.bandwidth_available(receiver)[1] == 0
