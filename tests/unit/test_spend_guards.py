"""The spend guards on in-memory seams: nothing is paid for a sweep that cannot finish, nothing past a budget.

Each test measures what the providers' own books charged (``MemorySource.paid``), not what the sweeper
thinks it ordered. The figures in docs/RELIABILITY.md ("money drains") come from these scenarios.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from sweeper.errors import ChainUnavailable, SignerUnavailable
from sweeper.ledger.controls import SpendControls
from sweeper.ledger.records import OrderRequestStatus
from sweeper.models import SweepState, Token
from tests.fixtures.db import tron_address
from tests.support.memory import HOT, USDT_CONTRACT, MemorySigner, NoLocks, heart

pytestmark = pytest.mark.unit

USDT = 1_000_000
A = tron_address("guard-a")
B = tron_address("guard-b")
C = tron_address("guard-c")
GAS = tron_address("gas-wallet")


def paid(h) -> int:
    """Orders the providers charged for, over every source."""
    return sum(len(source.paid) for source in h.sources.values())


def quotes(h) -> int:
    return sum(source.quotes for source in h.sources.values())


def state(h, sid) -> SweepState:
    return h.ledger.get_sweep(sid).state


# -- can the sweep finish? ---------------------------------------------------------------------------


def test_a_deposit_whose_key_nobody_holds_fails_before_any_energy_is_bought():
    h = heart()
    h.deposit(A, 50 * USDT, key=False)
    sid = h.open(A)

    assert h.run(sid) == "FAILED"

    reason = h.ledger.get_sweep(sid).reason
    assert reason.startswith("unknown_key: no signer for") and "nothing was ordered" in reason
    assert paid(h) == 0 and quotes(h) == 0 and h.ledger.orders_for_sweep(sid) == []


def test_the_rescan_does_not_reopen_a_failed_address_until_an_operator_releases_it():
    h = heart()
    h.deposit(A, 50 * USDT, key=False)
    sid = h.open(A)
    assert h.run(sid) == "FAILED"

    for _ in range(24):  # a day of hourly rescans
        assert h.flow.detect(A, USDT_CONTRACT) is None
    controls = SpendControls(h.ledger)
    assert controls.quarantined(A).sweep_id == sid

    released = controls.release(A, "key restored")
    assert released is not None and released.sweep_id == sid
    h.keyring.addresses.add(A)  # the operator brought the key back
    again = h.flow.detect(A, USDT_CONTRACT)
    assert again is not None and again.id != sid
    assert h.run(again.id) == "CONFIRMED"
    assert paid(h) == 1


def test_retrying_a_keyless_sweep_ten_times_pays_nothing():
    h = heart()
    h.deposit(A, 50 * USDT, key=False)
    sid = h.open(A)
    assert h.run(sid) == "FAILED"

    for _ in range(10):
        assert h.flow.retry(sid)
        assert h.run(sid) == "FAILED"

    assert paid(h) == 0 and h.ledger.get_sweep(sid).attempt == 10


def test_a_signer_that_refuses_the_probe_fails_the_sweep_before_spending():
    h = heart()
    h.deposit(A, 50 * USDT)
    h.keyring.signers[A] = MemorySigner(A, refuse=True)
    sid = h.open(A)

    assert h.run(sid) == "FAILED"

    assert h.ledger.get_sweep(sid).reason.startswith("signer_rejected:")
    assert paid(h) == 0


def test_a_signer_that_cannot_be_reached_makes_the_sweep_wait_having_paid_nothing():
    h = heart()
    h.deposit(A, 50 * USDT)
    signer = h.keyring.signers[A] = MemorySigner(A, away=True)
    sid = h.open(A)

    with pytest.raises(SignerUnavailable):  # transient: the task retries it later
        h.flow.advance(sid)
    assert state(h, sid) is SweepState.DETECTED and paid(h) == 0

    signer.away = False
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == 1


def test_the_preflight_probe_asks_whether_the_signer_can_sign_and_signs_nothing():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)  # preflight, then the order: nothing is built, so nothing may have been signed

    signer = h.keyring.signers[A]
    assert signer.probes == 1 and signer.signed == []  # no blind digest is ever handed to a signer
    assert paid(h) == 1


# -- our own wallets ---------------------------------------------------------------------------------


def test_a_watched_hot_wallet_is_never_swept_into_itself():
    h = heart()
    h.deposit(HOT, 0)  # the hot wallet was put on the watch list (derived at index 0, or in a CSV)
    h.deposit(A, 50 * USDT)
    assert h.run(h.open(A)) == "CONFIRMED"

    # The sweep into the hot wallet is a Transfer the scanner matches; nothing may be opened for it.
    for _ in range(60):
        assert h.flow.detect(HOT, USDT_CONTRACT, record_dust=True) is None
    assert h.ledger.sweeps(address=HOT) == []
    assert paid(h) == 1


def test_the_gas_wallet_and_the_stake_owner_are_never_opened_as_sweeps():
    h = heart(own_wallets=frozenset({GAS}))
    h.deposit(GAS, 500 * USDT)
    assert h.flow.detect(GAS, USDT_CONTRACT) is None
    assert paid(h) == 0


def test_a_sweep_of_an_own_wallet_opened_before_the_configuration_said_so_fails_without_paying():
    h = heart(own_wallets=frozenset({GAS}))
    h.deposit(GAS, 500 * USDT)
    sweep = h.ledger.open_sweep(GAS, h.flow.assets.get(USDT_CONTRACT).token, 500 * USDT, HOT)

    assert h.run(sweep.id) == "FAILED"

    assert h.ledger.get_sweep(sweep.id).reason.startswith("own_wallet:")
    assert paid(h) == 0


# -- budgets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("reopen", ["task", "cli"])
def test_a_retry_storm_is_bounded_by_the_sweeps_order_budget(reopen):
    h = heart(max_orders_per_sweep=6)
    h.chain.revert_transfers = True  # every attempt buys energy, then the transfer reverts
    h.deposit(A, 50 * USDT, trx=10_000_000)  # its TRX pays each attempt's bytes (600 free pay one a day)
    sid = h.open(A)
    assert h.run(sid) == "FAILED"
    assert paid(h) == 1

    for _ in range(10):
        if reopen == "task":
            assert h.flow.retry(sid)  # the sweeper.retry task
        else:
            assert h.ledger.reopen(sid, reason="retry_by_operator")  # `sweeper retry`
        assert h.run(sid) == "FAILED"

    assert paid(h) == 6
    assert h.ledger.get_sweep(sid).reason.startswith("order_budget:")
    assert SpendControls(h.ledger).crossings() == {"orders_per_sweep": 1}


def test_an_address_stops_ordering_at_its_budget_per_window_and_goes_on_when_the_window_frees():
    h = heart(max_orders_per_address=2, address_window_seconds=3600)
    h.deposit(A, 50 * USDT, trx=10_000_000)  # its TRX pays the bytes of every sweep after the first
    for _ in range(2):
        assert h.run(h.open(A)) == "CONFIRMED"
        h.chain.mint(A, 50 * USDT)
    third = h.open(A)

    with capture_logs() as logs:
        for _ in range(5):
            step = h.flow.advance(third)
            assert step.state is SweepState.DETECTED and step.retry_in is not None and step.retry_in > 30
            h.tick(60)
    assert paid(h) == 2
    assert SpendControls(h.ledger).crossings() == {"orders_per_address": 1}
    loud = [e for e in logs if e["event"] == "budget.crossed"]
    assert [(e["log_level"], e["budget"]) for e in loud] == [("error", "orders_per_address")]  # once

    h.tick(3600)
    assert h.run(third) == "CONFIRMED"
    assert paid(h) == 3


def test_the_deployment_stops_ordering_at_its_hourly_spend_budget():
    order_sun = 64_285 * 40
    h = heart(max_sun_per_hour=2 * order_sun + order_sun // 2)
    for address in (A, B, C):
        h.deposit(address, 50 * USDT)
    first, second, third = (h.open(a) for a in (A, B, C))
    assert h.run(first) == "CONFIRMED" and h.run(second) == "CONFIRMED"

    step = h.flow.advance(third)

    assert step.state is SweepState.DETECTED and step.retry_in is not None
    assert paid(h) == 2
    assert SpendControls(h.ledger).crossings() == {"sun_per_hour": 1}
    h.tick(3600)
    assert h.run(third) == "CONFIRMED"
    assert paid(h) == 3


# -- the kill switch ---------------------------------------------------------------------------------


def test_the_kill_switch_stops_every_order_and_sweeps_wait_until_resumed():
    h = heart()
    controls = SpendControls(h.ledger)
    assert controls.pause("provider balances draining")
    for address in (A, B):
        h.deposit(address, 50 * USDT)
    sweeps = [h.open(A), h.open(B)]

    for _ in range(5):
        for sid in sweeps:
            step = h.flow.advance(sid)
            assert step.state is SweepState.DETECTED and step.retry_in == 30.0
        h.tick(30)
    assert paid(h) == 0 and quotes(h) == 0

    assert controls.resume()
    assert [h.run(sid) for sid in sweeps] == ["CONFIRMED", "CONFIRMED"]
    assert paid(h) == 2


def test_a_pause_that_lands_while_a_sweep_decides_holds_its_order_before_the_source_is_called():
    h = heart()
    controls = SpendControls(h.ledger)
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.sources["cheap"].on_quote = lambda: controls.pause("incident")  # the operator, mid-decision

    h.flow.advance(sid)
    for _ in range(5):
        h.tick(30)
        h.flow.advance(sid)

    assert state(h, sid) is SweepState.ENERGY_ORDERED and paid(h) == 0
    assert [o.status for o in h.ledger.orders_for_sweep(sid)] == [OrderRequestStatus.REQUESTED]
    controls.resume()
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == 1 and len(h.ledger.orders_for_sweep(sid)) == 1


def test_a_sweep_that_already_holds_its_energy_finishes_while_spending_is_paused():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)  # ordered and delivered
    SpendControls(h.ledger).pause()
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == 1


# -- a lost lock -------------------------------------------------------------------------------------


def test_a_second_worker_never_calls_the_source_again_while_the_first_may_still_be_calling():
    h = heart(locks=NoLocks())
    other = h.second_worker(locks=NoLocks())  # the address lock was taken from the first worker
    h.sources["cheap"].reuses_numbers = True  # as the itrx and TronZap simulators do (undocumented live)
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.sources["cheap"].on_order = lambda: other.advance(sid)  # worker 2 runs while worker 1's call is out

    h.flow.advance(sid)
    assert h.run(sid) == "CONFIRMED"

    assert h.sources["cheap"].paid == [f"sw{h.ledger.deployment_id()}s{sid}a0o1"]


def test_an_order_a_dead_worker_left_requested_is_asked_again_by_only_one_of_two_workers():
    h = heart(locks=NoLocks())
    other = h.second_worker(locks=NoLocks())
    h.sources["cheap"].reuses_numbers = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.sources["cheap"].crash_after_place = True
    with pytest.raises(ChainUnavailable):  # the order went out, our side failed before storing the answer
        h.flow.advance(sid)
    assert h.flow.advance(sid).retry_in is not None  # left alone while the first call may be in flight
    assert len(h.sources["cheap"].paid) == 1

    h.tick(61)  # the claim lapsed: the caller must be gone
    h.sources["cheap"].on_order = lambda: other.advance(sid)
    h.flow.advance(sid)

    assert h.run(sid) == "CONFIRMED"
    assert len(h.sources["cheap"].paid) == 2  # the crash's order and one asking again, never a third


# -- whatever the end: our stake back, the burn's TRX accounted for ----------------------------------


def _end(h, sid, how: str) -> str:
    if how == "CONFIRMED":
        return h.run(sid)
    h.flow.advance(sid)  # energy ordered and delivered
    if how == "FAILED":
        h.chain.revert_transfers = True
    else:
        h.chain.tokens[(USDT_CONTRACT, A)] = 0  # the balance went elsewhere before signing
    return h.run(sid)


@pytest.mark.parametrize("end", ["CONFIRMED", "FAILED", "SKIPPED"])
def test_our_delegated_stake_is_taken_back_whatever_the_end(end):
    h = heart(prices={"stake": 0})
    h.deposit(A, 50 * USDT)
    sid = h.open(A)

    assert _end(h, sid, end) == end

    stake = h.sources["stake"]
    assert stake.reclaimed == [f"sw{h.ledger.deployment_id()}s{sid}a0o1"] and stake.delegated == {}
    assert [o.reclaimed_at is not None for o in h.ledger.orders_for_sweep(sid)] == [True]


def test_stake_a_failed_reclaim_left_delegated_is_taken_back_by_reconcile():
    h = heart(prices={"stake": 0})
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.sources["stake"].reclaim_error = ChainUnavailable("node down")

    assert h.run(sid) == "CONFIRMED"
    assert h.sources["stake"].reclaimed == []

    assert h.flow.reclaim_ended() == 1
    assert h.sources["stake"].reclaimed == [f"sw{h.ledger.deployment_id()}s{sid}a0o1"]
    assert h.flow.reclaim_ended() == 0  # settled: never asked again


def test_trx_the_burn_source_sent_for_a_sweep_that_ended_unused_is_swept_back_to_the_hot_wallet():
    h = heart(prices={"burn": 100}, leftover_trx_min_sun=1_000_000)
    h.deposit(A, 50 * USDT)
    sid = h.open(A)

    assert _end(h, sid, "SKIPPED") == "SKIPPED"

    sent = h.sources["burn"].charged_sun
    back = h.ledger.find_open_sweep(A, "TRX")
    assert sent > 1_000_000 and back is not None
    assert h.run(back.id) == "CONFIRMED"
    assert h.chain.trx.get(A, 0) == 0 and h.chain.trx[HOT] == sent


# -- destinations keyed by contract ------------------------------------------------------------------


def test_two_tokens_sharing_a_symbol_are_each_swept_to_their_own_destination():
    other = tron_address("usdt-lookalike-contract")
    elsewhere = tron_address("second-hot-wallet")
    h = heart(
        tokens={USDT_CONTRACT: Token("USDT", USDT_CONTRACT, 6, USDT), other: Token("USDT", other, 6, USDT)},
        destinations={USDT_CONTRACT: HOT, other: elsewhere},
    )
    h.chain.fund(elsewhere, 0)
    h.chain.mint(elsewhere, 1, other)
    h.deposit(A, 50 * USDT, trx=10_000_000)  # pays the second transfer's bytes
    h.chain.mint(A, 70 * USDT, other)

    first, second = h.open(A, USDT_CONTRACT), h.open(A, other)
    assert h.run(first) == "CONFIRMED" and h.run(second) == "CONFIRMED"

    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 50 * USDT
    assert h.chain.tokens[(other, elsewhere)] == 1 + 70 * USDT
    assert h.chain.tokens.get((other, HOT), 0) == 0
    assert [h.ledger.get_sweep(i).destination for i in (first, second)] == [HOT, elsewhere]


# -- the in-flight cap -------------------------------------------------------------------------------

D = tron_address("guard-d")


def _advance_until_sent(h, sid) -> set[int]:
    """Advance one sweep (letting time pass) until it is broadcast; the sweeps its steps woke."""
    woken: set[int] = set()
    for _ in range(30):
        step = h.flow.advance(sid)
        woken.update(step.opened)
        if step.state not in (SweepState.ENERGY_ORDERED, SweepState.ENERGY_READY, SweepState.SIGNED):
            return woken
        h.tick(max(step.retry_in or 0.0, 0.1))
    raise AssertionError(f"sweep {sid} was never sent")


def test_a_backlog_queues_unpaid_at_the_in_flight_cap_and_each_sent_sweep_wakes_the_oldest():
    h = heart(max_sweeps_in_flight=2)
    for address in (A, B, C, D):
        h.deposit(address, 50 * USDT)
    first, second, third, fourth = (h.open(a) for a in (A, B, C, D))

    with capture_logs() as logs:
        steps = [h.flow.advance(sid) for sid in (first, second)]
        asked = quotes(h)
        steps += [h.flow.advance(sid) for sid in (third, fourth)]

    assert [s.state for s in steps[:2]] == [SweepState.ENERGY_ORDERED] * 2
    assert [s.state for s in steps[2:]] == [SweepState.DETECTED] * 2
    assert all(s.retry_in and s.retry_in >= 30.0 for s in steps[2:])
    assert paid(h) == 2 and quotes(h) == asked  # the queued ones asked nobody for a price
    queued = [e for e in logs if e["event"] == "sweep.queued"]
    assert [(e["in_flight"], e["cap"]) for e in queued] == [(2, 2), (2, 2)]
    assert not [e for e in logs if e["event"] == "budget.crossed"]  # a queue is not a spend alarm

    assert _advance_until_sent(h, first) == {third}  # the oldest queued, not the newest
    assert h.ledger.get_sweep(third).next_check_at <= h.ledger.get_sweep(fourth).next_check_at
    assert h.flow.advance(third).state is SweepState.ENERGY_ORDERED
    assert h.flow.advance(fourth).state is SweepState.DETECTED  # still two in flight
    assert paid(h) == 3

    assert [h.run(sid) for sid in (first, second, third, fourth)] == ["CONFIRMED"] * 4
    assert paid(h) == 4  # one order each: the queue re-ordered nothing


def test_a_sweep_already_in_flight_fails_over_past_the_cap():
    h = heart(max_sweeps_in_flight=1)
    h.sources["cheap"].hold = True
    h.sources["cheap"].fail_orders = True
    h.deposit(A, 50 * USDT)
    h.deposit(B, 50 * USDT)
    sid, queued = h.open(A), h.open(B)
    assert h.flow.advance(sid).state is SweepState.ENERGY_ORDERED
    assert h.flow.advance(queued).state is SweepState.DETECTED

    assert h.run(sid) == "CONFIRMED"  # its failover to the next source was not queued behind the cap

    assert [o.source for o in h.ledger.orders_for_sweep(sid)] == ["cheap", "dear"]
    assert h.ledger.orders_for_sweep(queued) == []


def test_no_cap_when_the_setting_is_zero():
    h = heart(max_sweeps_in_flight=0)
    for address in (A, B, C):
        h.deposit(address, 50 * USDT)
    steps = [h.flow.advance(h.open(a)) for a in (A, B, C)]
    assert [s.state for s in steps] == [SweepState.ENERGY_ORDERED] * 3
