"""The state machine on in-memory seams: every transition and failover branch, in seconds, no devnet.

The chain, the energy sources, the keys and the ledger (SQLite in memory) are real in-memory
implementations (tests/support/memory.py), so each test drives behaviour and checks what it left
behind: states, order books, balances, stored transactions.
"""

from __future__ import annotations

import pytest

from sweeper.chain import size
from sweeper.errors import ChainUnavailable, ProviderInsufficientBalance, ProviderUnavailable
from sweeper.flow import Move, Proceed, Wait
from sweeper.ledger.records import OrderRequestStatus, TxStatus
from sweeper.models import SweepState
from tests.fixtures.db import tron_address
from tests.support.memory import HOT, USDT_CONTRACT, NoLocks, heart

pytestmark = pytest.mark.unit

USDT = 1_000_000
A = tron_address("deposit-a")
B = tron_address("deposit-b")


def orders(h, sweep_id):
    return h.ledger.orders_for_sweep(sweep_id)


def paid(h):
    return {name: len(source.paid) for name, source in h.sources.items()}


# -- the happy paths --------------------------------------------------------------------------------


def test_an_activated_deposit_buys_energy_from_the_cheapest_source_and_is_swept_once():
    h = heart()
    h.deposit(A, 150 * USDT)
    sid = h.open(A)

    assert h.run(sid) == "CONFIRMED"

    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 150 * USDT
    assert h.chain.tokens[(USDT_CONTRACT, A)] == 0
    assert paid(h) == {"cheap": 1, "dear": 0}
    sweep = h.ledger.get_sweep(sid)
    assert sweep.cost_sun == 64_285 * 40 and sweep.confirmed_block is not None
    assert [o.status for o in orders(h, sid)] == [OrderRequestStatus.DELIVERED]
    assert [t.status for t in h.ledger.txs_for_sweep(sid)] == [TxStatus.CONFIRMED]


def test_a_never_used_address_is_activated_with_its_energy_then_swept():
    h = heart()
    h.deposit(A, 80 * USDT, activated=False)
    sid = h.open(A)

    h.flow.advance(sid)
    assert h.ledger.get_sweep(sid).state is SweepState.ACTIVATING
    assert orders(h, sid)[0].step == "activation"

    assert h.run(sid) == "CONFIRMED"
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 80 * USDT
    assert paid(h) == {"cheap": 1, "dear": 0}
    states = [e.to_state for e in h.ledger.history(sid)]
    assert states == [
        SweepState.DETECTED,
        SweepState.ACTIVATING,
        SweepState.ENERGY_ORDERED,
        SweepState.ENERGY_READY,
        SweepState.SIGNED,
        SweepState.BROADCAST,
        SweepState.CONFIRMED,
    ]


def test_energy_already_on_the_address_is_used_and_nothing_is_ordered():
    h = heart()
    h.deposit(A, 10 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 0, "dear": 0} and orders(h, sid) == []


def test_confirmation_waits_for_the_configured_depth():
    h = heart(confirmations=5)
    h.deposit(A, 10 * USDT)
    sid = h.open(A)
    for _ in range(10):
        step = h.flow.advance(sid)
        if step.state is SweepState.BROADCAST:
            break
        h.tick()
    h.tick()  # mined in this block
    included = h.chain.head
    while h.chain.head - included < 5:
        assert h.flow.advance(sid).state is SweepState.BROADCAST
        h.tick()
    assert h.flow.advance(sid).state is SweepState.CONFIRMED


# -- skips -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arrange", "slug"),
    [
        (lambda h: h.chain.mint(A, USDT // 2), "below_threshold"),
        (lambda h: (h.chain.mint(A, 50 * USDT), h.chain.blacklisted.add(A)), "blacklisted"),
    ],
)
def test_a_deposit_that_must_not_be_swept_is_skipped_with_its_reason_and_costs_nothing(arrange, slug):
    h = heart()
    h.deposit(A, 0)
    arrange(h)
    sid = h.open(A)
    assert h.run(sid) == "SKIPPED"
    assert h.ledger.get_sweep(sid).reason.startswith(slug)
    assert orders(h, sid) == [] and paid(h) == {"cheap": 0, "dear": 0}


def test_a_dry_run_records_the_sweep_and_spends_nothing():
    h = heart(dry_run=True)
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "SKIPPED"
    assert h.ledger.get_sweep(sid).reason == f"dry_run: dry run: would sweep {50 * USDT} USDT"
    assert paid(h) == {"cheap": 0, "dear": 0}


def test_quotes_over_the_fee_cap_skip_the_sweep_as_fee_cap():
    h = heart(max_sun_per_sweep=1_000_000)
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "SKIPPED"
    reason = h.ledger.get_sweep(sid).reason
    assert reason.startswith("fee_cap:") and "cheap" in reason and "dear" in reason


def test_an_address_no_source_can_activate_is_skipped_as_no_energy_source():
    h = heart(activation={"cheap": False, "dear": False})
    h.deposit(A, 50 * USDT, activated=False)
    sid = h.open(A)
    assert h.run(sid) == "SKIPPED"
    assert h.ledger.get_sweep(sid).reason.startswith("no_energy_source:")
    assert "cannot activate" in h.ledger.get_sweep(sid).reason


def test_the_balance_gone_before_signing_is_skipped():
    h = heart()
    h.deposit(A, 50 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    h.chain.tokens[(USDT_CONTRACT, A)] = 0
    h.ledger.transition(sid, SweepState.DETECTED, SweepState.ENERGY_READY, amount=50 * USDT)
    assert h.run(sid) == "SKIPPED"
    assert h.ledger.get_sweep(sid).reason.startswith("balance_gone")


# -- sick and failing sources ------------------------------------------------------------------------


def test_sources_that_only_fail_for_now_make_the_sweep_wait_without_ordering():
    h = heart()
    for source in h.sources.values():
        source.quote_error = ProviderUnavailable("503")
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    step = h.flow.advance(sid)
    assert step.state is SweepState.DETECTED and step.retry_in == 30.0
    assert orders(h, sid) == []
    for source in h.sources.values():
        source.quote_error = None
    assert h.run(sid) == "CONFIRMED"


def test_a_refused_order_fails_over_to_the_next_source_in_the_same_step():
    h = heart()
    h.sources["cheap"].refuse_next = ProviderInsufficientBalance("poor")
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)
    recorded = orders(h, sid)
    assert [(o.source, o.status) for o in recorded] == [
        ("cheap", OrderRequestStatus.FAILED),
        ("dear", OrderRequestStatus.DELIVERED if h.sources["dear"].paid else OrderRequestStatus.PENDING),
    ]
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 0, "dear": 1}


def test_an_order_the_source_reports_failed_is_replaced_by_the_next_source():
    h = heart()
    h.sources["cheap"].hold = True
    h.sources["cheap"].fail_orders = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    assert [o.source for o in orders(h, sid)] == ["cheap", "dear"]
    assert orders(h, sid)[0].status is OrderRequestStatus.FAILED


def test_an_order_that_never_delivers_is_failed_over_after_the_deadline_only():
    h = heart(order_timeout_seconds=60)
    h.sources["cheap"].hold = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)
    for _ in range(15):  # 45 s: before the deadline nothing else is ordered
        h.tick()
        h.flow.advance(sid)
    assert [o.source for o in orders(h, sid)] == ["cheap"]
    assert h.run(sid) == "CONFIRMED"
    assert [o.source for o in orders(h, sid)] == ["cheap", "dear"]
    assert orders(h, sid)[0].detail == "no energy on chain before the deadline"


def test_a_lost_order_answer_waits_for_the_energy_and_never_orders_elsewhere():
    h = heart(order_timeout_seconds=600)
    h.sources["cheap"].lose_next = True
    h.sources["cheap"].hold = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)
    assert orders(h, sid)[0].status is OrderRequestStatus.UNKNOWN
    for _ in range(5):
        h.tick()
        h.flow.advance(sid)
    assert [o.source for o in orders(h, sid)] == ["cheap"]
    h.sources["cheap"].release()
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 1, "dear": 0}


def test_when_every_source_failed_until_the_order_budget_is_used_the_sweep_fails_as_order_budget():
    h = heart(max_orders_per_sweep=3)
    for source in h.sources.values():
        source.hold = True
        source.fail_orders = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    assert h.run(sid, rounds=60) == "FAILED"
    sweep = h.ledger.get_sweep(sid)
    assert sweep.reason.startswith("order_budget: sweep 1 has placed 3 orders")
    assert len(orders(h, sid)) == 3


def test_an_order_asked_again_after_our_side_failed_mid_call_is_placed_once():
    h = heart()
    h.sources["cheap"].crash_after_place = True
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    with pytest.raises(ChainUnavailable):
        h.flow.advance(sid)
    assert [o.status for o in orders(h, sid)] == [OrderRequestStatus.REQUESTED]
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 1, "dear": 0} and len(orders(h, sid)) == 1


def test_a_sweep_naming_an_order_that_was_never_stored_orders_again_having_sent_nothing():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    # A crash between the move and storing the order: the source was never called.
    h.ledger.transition(
        sid,
        SweepState.DETECTED,
        SweepState.ENERGY_ORDERED,
        energy_source="cheap",
        order_no="sw1a0o1",
        energy_needed=64_285,
        amount=50 * USDT,
    )
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 1, "dear": 0}


def test_an_order_row_a_crash_left_unsent_is_closed_not_left_looking_live():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    sweep = h.ledger.get_sweep(sid)
    h.ledger.record_order_request(sid, "energy", "cheap", "orphan", 64_285)  # crash before the move
    assert h.run(sid) == "CONFIRMED"
    orphan = h.ledger.get_order("cheap", "orphan")
    assert orphan.status is OrderRequestStatus.FAILED and "never sent" in orphan.detail
    assert sweep.order_no is None and paid(h) == {"cheap": 1, "dear": 0}


# -- broadcasting, expiry, receipts -------------------------------------------------------------------


def test_a_transfer_the_chain_never_saw_is_replaced_only_after_it_expired():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.chain.drop_broadcasts = True  # nodes accept and forget it
    while h.ledger.get_sweep(sid).state is not SweepState.BROADCAST:
        h.flow.advance(sid)
        h.tick()
    first = h.ledger.get_sweep(sid).txid
    h.tick(30)
    assert h.flow.advance(sid).state is SweepState.BROADCAST  # not expired yet: the same bytes again
    assert h.ledger.get_sweep(sid).txid == first
    h.chain.drop_broadcasts = False
    h.tick(40)  # past expiration and grace, never included
    assert h.run(sid) == "CONFIRMED"
    assert h.ledger.get_tx(first).status is TxStatus.EXPIRED
    assert h.ledger.get_sweep(sid).txid != first
    assert h.chain.tokens[(USDT_CONTRACT, HOT)] == 1 + 50 * USDT


def test_a_signed_transfer_found_on_chain_after_a_restart_is_not_signed_again():
    h = heart()
    h.deposit(A, 50 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    h.flow.advance(sid)  # signs, broadcasts
    sweep = h.ledger.get_sweep(sid)
    # As if the worker died after broadcasting and before recording it: back to SIGNED, back 2 min later.
    h.ledger.transition(sid, SweepState.BROADCAST, SweepState.SIGNED)
    h.tick(120, blocks=40)
    assert h.run(sid) == "CONFIRMED"
    assert h.ledger.get_sweep(sid).txid == sweep.txid
    assert len(h.ledger.txs_for_sweep(sid)) == 1


def test_a_receipt_that_failed_on_chain_fails_the_sweep_with_its_result_and_cost():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    while h.flow.advance(sid).state is not SweepState.BROADCAST:
        h.tick()
    # Signed for 64,285 energy, but before it is mined the destination stops holding USDT: 130,285.
    h.chain.tokens[(USDT_CONTRACT, HOT)] = 0
    assert h.run(sid) == "FAILED"
    sweep = h.ledger.get_sweep(sid)
    assert sweep.reason.startswith("onchain_out_of_energy")
    assert sweep.cost_sun == 64_285 * 40


def test_a_sweep_whose_stored_destination_is_not_the_configured_one_fails_before_signing():
    h = heart()
    h.deposit(A, 50 * USDT)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    with h.ledger.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE sweeps SET destination = ? WHERE id = ?", (B, sid))
    assert h.run(sid) == "FAILED"
    assert h.ledger.get_sweep(sid).reason.startswith("destination_mismatch")
    assert h.ledger.txs_for_sweep(sid) == []


def test_leftover_trx_is_swept_after_the_token_when_enabled():
    h = heart(leftover_trx_min_sun=1_000_000)
    h.deposit(A, 50 * USDT, trx=3_000_000)
    h.chain.delegate(A, 70_000)
    sid = h.open(A)
    assert h.run(sid) == "CONFIRMED"
    trx_sweep = h.ledger.find_open_sweep(A, "TRX")
    assert trx_sweep is not None
    assert h.run(trx_sweep.id) == "CONFIRMED"
    # The token transfer used 345 of the 600 free bytes: the TRX transfer burns its own bytes.
    fee = size.trx_transfer_bytes(A, HOT, 3_000_000) * 1_000
    assert h.chain.trx[A] == 0 and h.chain.trx[HOT] == 3_000_000 - fee


# -- decisions and races -----------------------------------------------------------------------------


def test_every_handler_answers_with_a_decision_the_machine_applies():
    h = heart()
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    decision = h.flow._handlers[SweepState.DETECTED](h.ledger.get_sweep(sid))
    assert isinstance(decision, Move) and decision.to is SweepState.ENERGY_ORDERED
    assert paid(h) == {"cheap": 0, "dear": 0}  # deciding pays nothing: the move comes first
    assert isinstance(Wait(1.0), Wait) and isinstance(Proceed(), Proceed)


def test_two_workers_racing_on_one_sweep_without_the_lock_place_one_order():
    h = heart(locks=NoLocks())
    other = h.second_worker(locks=NoLocks())  # shares the ledger, chain and providers
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    # While worker 1 waits for its quote, worker 2 runs the same step to the end.
    h.sources["cheap"].on_quote = lambda: other.advance(sid)
    h.flow.advance(sid)
    assert paid(h) == {"cheap": 1, "dear": 0}
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 1, "dear": 0}
    live = [o for o in orders(h, sid) if o.status is not OrderRequestStatus.FAILED]
    assert len(live) == 1


def test_an_order_given_up_at_its_deadline_whose_energy_then_arrives_is_recorded_as_delivered():
    h = heart(order_timeout_seconds=30)
    h.sources["cheap"].hold = True
    for source in h.sources.values():
        source.quote_error = None
    h.deposit(A, 50 * USDT)
    sid = h.open(A)
    h.flow.advance(sid)
    h.sources["dear"].quote_error = ProviderUnavailable("503")  # failover can only wait
    h.sources["cheap"].quote_error = ProviderUnavailable("503")
    for _ in range(12):
        h.tick()
        h.flow.advance(sid)
    assert orders(h, sid)[0].status is OrderRequestStatus.FAILED  # given up on at the deadline
    h.sources["cheap"].release()  # … and then it delivers after all
    assert h.run(sid) == "CONFIRMED"
    assert [(o.source, o.status) for o in orders(h, sid)] == [("cheap", OrderRequestStatus.DELIVERED)]


def test_a_worker_holding_a_stale_copy_of_the_sweep_never_orders_a_second_time():
    """Lock taken away: worker B read the sweep (DETECTED) before A moved it to an order; while A's paid
    call is out, B finishes its stale step and then its next one. B must lose, find A's order live and
    wait for it; it must not close A's order as "never sent" and buy the energy again (seen end to end:
    three itrx orders for one step)."""
    h = heart(locks=NoLocks())
    h.deposit(A, 40 * USDT)
    sid = h.open(A)
    stale = h.ledger.get_sweep(sid)

    def worker_b() -> None:
        assert h.flow._apply(stale, h.flow._handlers[stale.state](stale)) == (None, None)  # lost the race
        h.flow.advance(sid)  # B's next step reads A's order, still REQUESTED: the call is in flight

    h.sources["cheap"].on_order = worker_b
    assert h.run(sid) == "CONFIRMED"
    assert paid(h) == {"cheap": 1, "dear": 0}
    assert [o.status for o in orders(h, sid)] == [OrderRequestStatus.DELIVERED]
