"""The pending pool runs every broadcast on a pending state, as java-tron's Manager.pushTransaction does.

So a transaction nothing can pay for is refused at broadcast, never accepted and then dropped, and the
next transaction sees the bandwidth, energy and TRX the waiting ones already use.
"""

from __future__ import annotations

import pytest

from devnet.chain import Chain, ChainError
from devnet.crypto import generate_key
from devnet.usdt import USDT_ADDRESS
from tests.support.devnet_tx import TRX, submit, token_transfer, trx_transfer

pytestmark = pytest.mark.unit

SUN_PER_ENERGY = 100_000


@pytest.fixture
def chain() -> Chain:
    return Chain(solid_depth=2)


def holder(chain: Chain, *, sun: int, energy: int = 0, usdt: int = 1_000_000) -> tuple[bytes, str]:
    """An activated address holding USDT, `sun` TRX and `energy` delegated from a pool (mined)."""
    priv, address = generate_key()
    chain.fund(address, sun)
    chain.mint(address, usdt)
    if energy:
        _, pool = generate_key()
        chain.create_pool(pool, 0, energy * SUN_PER_ENERGY + TRX)
        chain.delegate_energy(pool, address, energy)
    chain.produce_blocks(1)
    return priv, address


def recipient(chain: Chain) -> str:
    _, address = generate_key()
    chain.fund(address, TRX)
    chain.mint(address, 1)
    chain.produce_blocks(1)
    return address


def test_a_second_transfer_nothing_can_pay_for_is_refused_at_broadcast(chain):
    priv, sender = holder(chain, sun=1, energy=2 * 64_285)
    to = recipient(chain)
    first = submit(chain, token_transfer(chain, priv, sender, to, 10))

    with pytest.raises(ChainError) as refused:
        submit(chain, token_transfer(chain, priv, sender, to, 20))

    assert (refused.value.code, refused.value.message) == (
        "BANDWITH_ERROR",
        "Account resource insufficient error.",
    )
    assert list(chain.pending) == [first]
    chain.produce_blocks(1)
    assert chain.tx_record(first).info["receipt"]["net_usage"] == 345
    assert chain.token_balance(to) == 11 and not chain.dropped


def test_a_waiting_trx_transfer_spends_the_balance_a_second_one_would_need(chain):
    priv, sender = holder(chain, sun=10 * TRX)
    to = recipient(chain)
    submit(chain, trx_transfer(chain, priv, sender, to, 6 * TRX))

    with pytest.raises(ChainError, match="balance is not sufficient"):
        submit(chain, trx_transfer(chain, priv, sender, to, 6 * TRX))
    assert chain.trx_balance(sender) == 10 * TRX  # balances change only when mined


def test_energy_a_waiting_transfer_uses_is_not_there_for_the_next(chain):
    priv, sender = holder(chain, sun=2 * TRX, energy=64_285)
    to = recipient(chain)
    first = submit(chain, token_transfer(chain, priv, sender, to, 1, fee_limit=7 * TRX))
    second = submit(chain, token_transfer(chain, priv, sender, to, 1, fee_limit=7 * TRX))

    chain.produce_blocks(1)

    assert chain.tx_record(first).info["receipt"]["result"] == "SUCCESS"
    assert chain.tx_record(second).info["receipt"]["result"] == "OUT_OF_ENERGY"


def test_delegated_bandwidth_pays_the_bytes_the_free_allowance_no_longer_covers(chain):
    priv, sender = holder(chain, sun=1, energy=2 * 64_285)
    to = recipient(chain)
    _, stake = generate_key()
    chain.create_pool(stake, 0, 0, 1_000 * TRX)
    submit(chain, token_transfer(chain, priv, sender, to, 10))
    chain.delegate_bandwidth(stake, sender, 345)
    chain.produce_blocks(1)

    second = submit(chain, token_transfer(chain, priv, sender, to, 20))
    chain.produce_blocks(1)

    assert chain.tx_record(second).info["receipt"] == {
        "energy_usage": 64_285,
        "energy_usage_total": 64_285,
        "net_usage": 345,
        "result": "SUCCESS",
        "energy_penalty_total": 49_635,
    }
    free, staked = chain.bandwidth_available(sender)
    assert free < 345 and staked == 0


def test_an_admin_credit_while_transactions_wait_counts_for_the_next_broadcast(chain):
    priv, sender = holder(chain, sun=1, energy=2 * 64_285)
    to = recipient(chain)
    first = submit(chain, token_transfer(chain, priv, sender, to, 10))
    chain.fund(sender, TRX)

    second = submit(chain, token_transfer(chain, priv, sender, to, 20))
    chain.produce_blocks(1)

    assert chain.tx_record(first).contract_ret == chain.tx_record(second).contract_ret == "SUCCESS"
    assert chain.tx_record(second).info["receipt"]["net_fee"] == 345_000
    assert chain.trx_balance(sender) == 1 + TRX - 345_000
    assert chain.token_balance(to, USDT_ADDRESS) == 31
