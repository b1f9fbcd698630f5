"""Chain time on slots, the solid state, per-token energy, energy_factor and uint256 amounts, in-process."""

from __future__ import annotations

import itertools
import json

import pytest

from devnet.chain import Chain, ChainError
from devnet.crypto import generate_key, to_hex_address
from devnet.usdt import USDT_ADDRESS
from tests.support.devnet_tx import TRX, signed, submit, token_transfer, trx_transfer

pytestmark = pytest.mark.unit

TOKEN = "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"  # any address will do for a deployed token


@pytest.fixture
def chain() -> Chain:
    return Chain(solid_depth=2, slot_ms=3_000)


def funded(chain: Chain, sun: int = 100 * TRX) -> tuple[bytes, str]:
    priv, address = generate_key()
    chain.fund(address, sun)
    chain.produce_blocks(1)
    return priv, address


def test_blocks_sit_on_slots_from_genesis_and_a_burst_runs_one_slot_per_block(chain):
    chain.produce_blocks(4)
    times = [chain.block(n).timestamp for n in range(5)]

    assert all((t - times[0]) % 3_000 == 0 for t in times)
    assert all(b - a >= 3_000 for a, b in itertools.pairwise(times))
    assert chain.next_slot_time() == times[-1] + 3_000


def test_expiration_is_judged_by_the_head_block_not_by_any_clock(chain):
    priv, owner = funded(chain)
    to = funded(chain, TRX)[1]
    chain.produce_blocks(30)  # 90 s of chain time in a moment: the head is ahead of the wall clock
    head = chain.head_block().timestamp

    late = signed(chain, priv, "TransferContract", _value(owner, to), expiration_ms=2_999)
    with pytest.raises(ChainError) as expired:
        submit(chain, late)
    on_time = submit(chain, signed(chain, priv, "TransferContract", _value(owner, to), expiration_ms=3_000))
    chain.produce_blocks(1)

    assert expired.value.code == "TRANSACTION_EXPIRATION_ERROR"
    assert chain.tx_record(on_time).info["blockTimeStamp"] == head + 3_000


def _value(owner: str, to: str) -> dict[str, object]:
    return {"owner_address": to_hex_address(owner), "to_address": to_hex_address(to), "amount": TRX}


def test_the_free_allowance_recovers_by_chain_time_so_a_later_second_transfer_passes(chain):
    priv, sender = funded(chain, 1)
    chain.mint(sender, 100)
    to = funded(chain, TRX)[1]
    _, pool = generate_key()
    chain.create_pool(pool, 0, 30_000 * TRX)
    chain.delegate_energy(pool, sender, 2 * 130_285)
    chain.produce_blocks(1)
    submit(chain, token_transfer(chain, priv, sender, to, 10))
    chain.produce_blocks(1)
    with pytest.raises(ChainError, match="Account resource insufficient"):
        submit(chain, token_transfer(chain, priv, sender, to, 10))

    chain.produce_blocks(7_800)  # 6.5 hours of 3 s blocks

    assert chain.bandwidth_available(sender)[0] >= 345
    submit(chain, token_transfer(chain, priv, sender, to, 10))


def test_the_solid_state_lags_the_head_by_the_solid_depth(chain):
    _, address = generate_key()
    chain.fund(address, 7 * TRX)
    chain.produce_blocks(1)
    hexed = to_hex_address(address)

    assert chain.state.account(hexed).balance == 7 * TRX
    assert chain.solid_state().peek_account(hexed) is None
    chain.produce_blocks(2)
    assert chain.solid_state().peek_account(hexed).balance == 7 * TRX


def test_a_token_with_its_own_energy_cost_and_18_decimals_moves_any_uint256_amount(chain):
    chain.deploy_token(TOKEN, "USDD", 18, holder_energy=20_000, new_holder_energy=45_000)
    priv, sender = funded(chain, 500 * TRX)
    to = funded(chain, TRX)[1]
    thousand = 1_000 * 10**18
    chain.mint(sender, 2**256 - 1 - thousand, TOKEN)
    chain.mint(to, thousand, TOKEN)
    chain.produce_blocks(1)

    txid = submit(chain, token_transfer(chain, priv, sender, to, thousand, token=TOKEN, fee_limit=200 * TRX))
    chain.produce_blocks(1)

    receipt = chain.tx_record(txid).info
    assert receipt["receipt"]["result"] == "SUCCESS"
    assert receipt["receipt"]["energy_usage_total"] == 20_000 + receipt["receipt"]["energy_penalty_total"]
    assert int(receipt["log"][0]["data"], 16) == thousand
    assert chain.token_balance(to, TOKEN) == 2 * thousand
    with pytest.raises(ChainError, match="overflow"):
        chain.mint(to, 1, TOKEN)
    with pytest.raises(ValueError, match="decimals"):
        chain.deploy_token("TVj7RNVHy6thbM7BWdSe9G6gXwKhjhdNZS", "BIG", 19)


def test_energy_factor_per_contract_and_as_the_chain_default_sets_the_penalty_in_receipts(chain):
    priv, sender = funded(chain, 100 * TRX)
    chain.mint(sender, 100)
    to = funded(chain, TRX)[1]
    chain.mint(to, 1)
    chain.produce_blocks(1)

    chain.set_energy_factor(USDT_ADDRESS, 0)
    flat = submit(chain, token_transfer(chain, priv, sender, to, 1))
    chain.produce_blocks(1)
    chain.set_energy_factor(USDT_ADDRESS, None)
    chain.update_params({"energy_factor": 50_000})
    raised = submit(chain, token_transfer(chain, priv, sender, to, 1))
    chain.produce_blocks(1)

    assert chain.tx_record(flat).info["receipt"]["energy_usage_total"] == 14_650
    assert "energy_penalty_total" not in chain.tx_record(flat).info["receipt"]
    receipt = chain.tx_record(raised).info["receipt"]
    assert receipt["energy_usage_total"] == 14_650 + 875 * 15 + 12_025 * 5
    assert receipt["energy_penalty_total"] == 875 * 15 + 12_025 * 5
    assert chain.energy_factor(USDT_ADDRESS) == 50_000
    chain.update_params({"getAllowDynamicEnergy": 0})
    assert chain.energy_factor(USDT_ADDRESS) == 0


def test_a_transfer_short_of_energy_and_fee_limit_fails_out_of_energy_on_chain(chain):
    priv, sender = funded(chain, 100 * TRX)
    chain.mint(sender, 100)
    to = funded(chain, TRX)[1]
    chain.update_params({"energy_factor": 60_000})

    txid = submit(chain, token_transfer(chain, priv, sender, to, 1, fee_limit=13_028_500))
    chain.produce_blocks(1)

    record = chain.tx_record(txid)
    assert record.contract_ret == "OUT_OF_ENERGY"
    assert record.info["receipt"]["energy_usage_total"] == 130_285
    assert chain.token_balance(to) == 0


def test_a_trx_transfer_still_moves_under_the_pending_state_and_slot_time(chain):
    priv, owner = funded(chain)
    to = funded(chain, TRX)[1]
    txid = submit(chain, trx_transfer(chain, priv, owner, to, 5 * TRX))
    chain.produce_blocks(1)

    assert chain.tx_record(txid).contract_ret == "SUCCESS"
    assert chain.trx_balance(to) == 6 * TRX


def test_a_snapshot_keeps_tokens_delegation_records_and_usage_and_an_old_one_still_loads(chain):
    priv, owner = funded(chain, 10 * TRX)
    _, receiver = funded(chain, TRX)
    chain.deploy_token(TOKEN, "USDD", 18, holder_energy=9_000, energy_factor=12_000)
    chain.create_pool(owner, 0, 3_000 * TRX)
    chain.delegate_energy(owner, receiver, 10_000, lock=True, lock_period=50)
    submit(chain, trx_transfer(chain, priv, owner, receiver, TRX))  # some free bandwidth used
    chain.produce_blocks(1)
    assert chain.bandwidth_available(owner)[0] < 600
    restored = Chain(solid_depth=2, slot_ms=3_000)
    restored.restore(json.loads(json.dumps(chain.snapshot())))

    token = restored.state.tokens[to_hex_address(TOKEN)]
    assert (token.decimals, token.holder_energy, token.energy_factor) == (18, 9_000, 12_000)
    (record,) = restored.state.delegation_records(to_hex_address(owner), to_hex_address(receiver))
    assert record.lock and record.energy == 10_000 * 100_000
    assert restored.energy_available(receiver) == 10_000

    old = chain.snapshot()
    old["version"] = 1
    for account in old["state"]["accounts"]:
        account["free_net_time"] = account["free_net_time"] * 3_000  # version 1 kept milliseconds
    for d in old["state"]["delegations"]:
        del d["lock"]
    again = Chain(solid_depth=2, slot_ms=3_000)
    again.restore(old)
    assert again.state.delegation_records(to_hex_address(owner), to_hex_address(receiver))[0].lock
    assert again.bandwidth_available(owner) == chain.bandwidth_available(owner)
