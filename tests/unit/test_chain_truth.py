"""The chain's own rules on the in-memory seams: bandwidth, measured energy, chain time, solid truth, cost.

The MemoryChain charges bytes at broadcast (stake, else the free allowance, else TRX, else
``BANDWITH_ERROR``), measures each token's transfer with its own energy and factor, keeps a solid block
behind the head and chain time apart from the workers' clock, and writes ``Transfer`` logs into receipts.
"""

from __future__ import annotations

import pytest

from sweeper.chain import size
from sweeper.ledger.records import OrderRequestStatus, TxStatus
from sweeper.models import SweepState
from tests.fixtures.db import tron_address
from tests.support.memory import GAS_WALLET, HOT, STAKE_OWNER, USDT_CONTRACT, heart

pytestmark = pytest.mark.unit

USDT = 1_000_000
TRX = 1_000_000
A = tron_address("truth-a")
TRANSFER_BYTES = 345


def orders(h, sid):
    return h.ledger.orders_for_sweep(sid)


def second_deposit(h, address=A, amount=20 * USDT):
    """The address was swept a moment ago: its free bytes for the day are mostly spent."""
    h.chain.spend_free_bandwidth(address, TRANSFER_BYTES)
    h.chain.mint(address, amount)
    return h.open(address)


# -- bandwidth ---------------------------------------------------------------------------------------


def test_a_transfer_is_measured_to_the_byte_as_java_tron_charges_it():
    # 1 + 1 + raw + 67 for one signature + 64 for the result; a USDT transfer is the well-known ~345.
    bytes_ = size.trc20_transfer_bytes(A, USDT_CONTRACT, HOT, 10**21, 15_427_200)
    assert 340 <= bytes_ <= 350
    assert size.trx_transfer_bytes(A, HOT, 3 * TRX) in range(260, 272)


def test_without_a_bandwidth_source_a_second_deposit_waits_for_free_bandwidth_and_pays_nothing():
    h = heart()
    h.deposit(A, 0)
    sid = second_deposit(h)
    step = h.flow.advance(sid)
    assert step.state is SweepState.DETECTED and step.retry_in > 600
    assert orders(h, sid) == [] and all(not s.paid for s in h.sources.values())
    h.chain.bandwidth[A] = 600  # a day later
    h.tick()
    assert h.run(sid) == "CONFIRMED"


def test_a_second_deposit_gets_its_bytes_delegated_from_stake_and_its_energy_rented():
    h = heart(wallets=("stake",))
    h.chain.stake[STAKE_OWNER] = 400 * TRX  # enough for the bytes, not for the energy
    h.deposit(A, 0)
    sid = second_deposit(h)
    assert h.run(sid) == "CONFIRMED"
    steps = [(o.step, o.source, o.status) for o in orders(h, sid)]
    assert steps == [
        ("bandwidth", "stake", OrderRequestStatus.DELIVERED),
        ("energy", "cheap", OrderRequestStatus.DELIVERED),
    ]
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 20 * USDT
    h.tick()
    assert h.chain.delegated_bandwidth_sun(STAKE_OWNER, A) == 0  # taken back after the confirmation


def test_with_only_the_burn_source_one_transfer_of_trx_pays_energy_and_bytes():
    h = heart(prices={}, wallets=("burn",))
    h.deposit(A, 0)
    sid = second_deposit(h)
    assert h.run(sid) == "CONFIRMED"
    (order,) = orders(h, sid)
    assert order.source == "burn" and order.step == "energy"
    assert h.chain.trx[A] == 0  # exactly what the transfer burned was sent


def test_bandwidth_refused_at_broadcast_gets_the_bytes_and_resends_the_same_transfer():
    h = heart(wallets=("stake",))
    h.deposit(A, 20 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    h.chain.refuse_bandwidth = True  # e.g. another transaction in the pending pool used the bytes
    while h.ledger.get_sweep(sid).state is not SweepState.SIGNED:
        h.flow.advance(sid)
    signed = h.ledger.get_sweep(sid).txid
    h.chain.refuse_bandwidth = False
    h.chain.spend_free_bandwidth(A, 600)
    assert h.run(sid) == "CONFIRMED"
    sweep = h.ledger.get_sweep(sid)
    assert sweep.txid == signed and [t.txid for t in h.ledger.txs_for_sweep(sid)] == [signed]
    assert [o.step for o in orders(h, sid)] == ["bandwidth"]
    assert "FAILED" not in [e.to_state.value for e in h.ledger.history(sid)]


# -- measured energy -----------------------------------------------------------------------------------


def test_a_token_with_its_own_energy_cost_orders_what_the_chain_measures():
    h = heart()
    h.chain.token_energy[USDT_CONTRACT] = (31_000, 48_000)
    h.deposit(A, 20 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    assert [o.energy for o in orders(h, sid)] == [31_000]


def test_a_margin_is_added_to_the_measurement():
    h = heart(energy_margin=1_000)
    h.deposit(A, 20 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    assert [o.energy for o in orders(h, sid)] == [64_285 + 1_000]


def test_an_energy_factor_raised_after_ordering_tops_up_before_signing_instead_of_running_out():
    h = heart()
    h.sources["cheap"].hold = True
    h.deposit(A, 20 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)
    h.chain.energy_factor[USDT_CONTRACT] = 1.2  # a maintenance period raised the contract's factor
    h.sources["cheap"].release()
    assert h.run(sid) == "CONFIRMED"
    assert [o.energy for o in orders(h, sid)] == [64_285, round(64_285 * 1.2) - 64_285]
    assert all(r.result == "SUCCESS" for r in h.chain.receipts.values())


def test_a_measurement_above_the_ceiling_is_refused_before_anything_is_paid():
    h = heart()
    h.chain.token_energy[USDT_CONTRACT] = (900_000, 900_000)
    h.deposit(A, 20 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "FAILED"
    assert h.ledger.get_sweep(sid).reason.startswith("energy_ceiling")
    assert orders(h, sid) == [] and not h.sources["cheap"].paid


# -- chain time and solid truth -------------------------------------------------------------------------


@pytest.mark.parametrize("skew", [120.0, -120.0], ids=["clock-2min-fast", "clock-2min-slow"])
def test_a_worker_clock_skewed_by_two_minutes_neither_replaces_nor_fails_a_transfer(skew):
    h = heart()
    h.deposit(A, 20 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    h.skew = skew
    h.clock.now += skew  # the worker's clock, not the chain's
    assert h.run(sid) == "CONFIRMED"
    assert len(h.ledger.txs_for_sweep(sid)) == 1
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 20 * USDT


def test_confirmation_waits_for_the_solidified_block():
    h = heart(confirmations=0)
    h.chain.solid_depth = 6
    h.deposit(A, 20 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    while h.flow.advance(sid).state is not SweepState.BROADCAST:
        h.tick()
    h.tick()
    mined = h.chain.receipts[h.ledger.get_sweep(sid).txid].block_number
    while h.chain.solid_block().number < mined:
        assert h.flow.advance(sid).state is SweepState.BROADCAST
        h.tick()
    assert h.flow.advance(sid).state is SweepState.CONFIRMED


def test_a_success_receipt_without_the_transfer_log_is_held_loudly_and_not_confirmed():
    h = heart()
    h.chain.omit_transfer_log = True
    h.deposit(A, 20 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    h.run(sid, rounds=40)
    sweep = h.ledger.get_sweep(sid)
    assert sweep.state is SweepState.BROADCAST and sweep.reason.startswith("transfer_unproven")
    assert h.ledger.get_tx(sweep.txid).status is TxStatus.BROADCAST
    assert len(h.ledger.txs_for_sweep(sid)) == 1  # and nothing is signed again


# -- a deposit during the sweep ----------------------------------------------------------------------


def test_a_deposit_arriving_after_signing_is_noted_and_swept_right_after_the_confirmation():
    h = heart(wallets=("stake",))
    h.deposit(A, 20 * USDT)
    sid = h.open(A)
    while h.flow.advance(sid).state is not SweepState.BROADCAST:
        h.tick()
    h.chain.mint(A, 7 * USDT)
    assert h.flow.detect(A, USDT_CONTRACT).id == sid  # the open sweep, but not silently
    assert [e.reason for e in h.ledger.history(sid)][-1] == "deposit_after_signing"
    step = h.flow.advance(sid)
    while step.retry_in is not None:
        h.tick(step.retry_in)
        step = h.flow.advance(sid)
    assert step.state is SweepState.CONFIRMED and len(step.opened) == 1
    (second,) = step.opened
    assert h.ledger.get_sweep(second).amount == 7 * USDT
    assert h.run(second) == "CONFIRMED"
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 27 * USDT


# -- what it cost -------------------------------------------------------------------------------------


def test_with_the_burn_source_the_recorded_cost_is_what_left_the_gas_wallet_activation_included():
    h = heart(prices={}, wallets=("burn",))
    h.deposit(A, 20 * USDT, activated=False)
    before = h.chain.trx[GAS_WALLET]
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    sent = before - h.chain.trx[GAS_WALLET]
    assert h.ledger.get_sweep(sid).cost_sun == sent
    assert sent == 64_285 * 100 + 1_100_000  # the energy, and the 1.1 TRX the account creation burned


def test_energy_and_bytes_that_fit_the_cap_only_apart_wait_for_the_free_bytes_and_pay_nothing():
    h = heart(wallets=("burn",), max_sun_per_sweep=2_700_000)  # rent 2.57 TRX, bytes 0.345 TRX
    h.deposit(A, 0)
    sid = second_deposit(h)
    step = h.flow.advance(sid)
    assert step.state is SweepState.DETECTED and step.retry_in > 600
    assert orders(h, sid) == [] and not h.sources["cheap"].paid
    h.chain.bandwidth[A] = 600  # the free bytes are back: the energy alone fits
    h.tick()
    assert h.run(sid) == "CONFIRMED"
    assert [o.source for o in orders(h, sid)] == ["cheap"]
