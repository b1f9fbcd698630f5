"""The ledger's sweeps: compare-and-set transitions, history, reopen, reconcile deadlines, summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from sweeper.errors import StateConflict
from sweeper.ledger import DepositAddress, Ledger
from sweeper.models import SweepState, Token
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = pytest.mark.integration


def test_open_sweep_starts_detected_with_the_given_destination(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET, dry_run=False, detected_block=42)

    assert sweep is not None
    assert (sweep.state, sweep.amount, sweep.destination) == (SweepState.DETECTED, 5_000_000, HOT_WALLET)
    assert (sweep.attempt, sweep.version, sweep.cost_sun, sweep.detected_block) == (0, 0, 0, 42)
    assert sweep.created_at.tzinfo is not None
    assert sweep.is_open
    assert [(h.from_state, h.to_state) for h in ledger.history(sweep.id)] == [(None, SweepState.DETECTED)]


def test_open_sweep_is_idempotent_and_returns_the_open_sweep(ledger: Ledger, watched: str) -> None:
    first = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET, dry_run=False)
    again = ledger.open_sweep(watched, USDT, 9_000_000, HOT_WALLET, dry_run=False)

    assert first is not None and again is not None
    assert again.id == first.id
    assert again.amount == 5_000_000
    assert len(ledger.history(first.id)) == 1


def test_open_sweep_refuses_an_address_that_is_not_watched(ledger: Ledger) -> None:
    assert ledger.open_sweep(tron_address("stranger"), USDT, 5_000_000, HOT_WALLET) is None
    assert ledger.sweeps() == []


def test_a_new_sweep_opens_once_the_previous_one_is_terminal(ledger: Ledger, watched: str) -> None:
    first = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert first is not None
    assert ledger.transition(first.id, SweepState.DETECTED, SweepState.SKIPPED, reason="below_minimum")

    second = ledger.open_sweep(watched, USDT, 7_000_000, HOT_WALLET)

    assert second is not None and second.id != first.id
    assert ledger.find_open_sweep(watched, USDT.contract) == second


def test_a_repeated_transition_changes_nothing_and_writes_history_once(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    moved = ledger.transition(sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, energy_source="itrx")
    again = ledger.transition(sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, energy_source="x")

    assert (moved, again) == (True, False)
    stored = ledger.get_sweep(sweep.id)
    assert stored is not None
    assert (stored.state, stored.energy_source, stored.version) == (SweepState.ENERGY_ORDERED, "itrx", 1)
    steps = [(h.from_state, h.to_state) for h in ledger.history(sweep.id)]
    assert steps == [(None, SweepState.DETECTED), (SweepState.DETECTED, SweepState.ENERGY_ORDERED)]
    assert ledger.history(sweep.id)[-1].detail == {"set": {"energy_source": "itrx"}}


def test_a_transition_with_a_stale_version_is_refused(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    assert ledger.update_fields(sweep.id, SweepState.DETECTED, energy_needed=64_285)

    stale = ledger.transition(
        sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, expected_version=sweep.version
    )
    fresh = ledger.transition(
        sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, expected_version=sweep.version + 1
    )

    assert (stale, fresh) == (False, True)


def test_the_destination_and_the_address_can_never_be_changed(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    with pytest.raises(TypeError, match="destination"):
        ledger.transition(sweep.id, SweepState.DETECTED, SweepState.SIGNED, destination=tron_address("evil"))
    with pytest.raises(TypeError, match="address"):
        ledger.update_fields(sweep.id, SweepState.DETECTED, address=tron_address("evil"))

    stored = ledger.get_sweep(sweep.id)
    assert stored is not None
    assert (stored.state, stored.destination, stored.address) == (SweepState.DETECTED, HOT_WALLET, watched)


def test_update_fields_applies_only_in_the_expected_state(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    assert not ledger.update_fields(sweep.id, SweepState.SIGNED, txid="ab" * 32)
    assert ledger.update_fields(sweep.id, SweepState.DETECTED, cost_sun=1_234_567)

    stored = ledger.get_sweep(sweep.id)
    assert stored is not None
    assert (stored.txid, stored.cost_sun, stored.version) == (None, 1_234_567, 1)


def test_reopen_moves_a_failed_sweep_back_to_detected_with_the_next_attempt(
    ledger: Ledger, watched: str
) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    ledger.transition(sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, order_no="sw1a0")
    ledger.transition(sweep.id, SweepState.ENERGY_ORDERED, SweepState.FAILED, reason="provider_auth")

    assert ledger.reopen(sweep.id)
    assert not ledger.reopen(sweep.id)

    stored = ledger.get_sweep(sweep.id)
    assert stored is not None
    assert (stored.state, stored.attempt, stored.reason, stored.order_no) == (
        SweepState.DETECTED,
        1,
        None,
        None,
    )
    last = ledger.history(sweep.id)[-1]
    assert (last.from_state, last.to_state, last.reason) == (
        SweepState.FAILED,
        SweepState.DETECTED,
        "reopened",
    )


def test_reopen_refuses_when_another_sweep_is_open_for_the_address(ledger: Ledger, watched: str) -> None:
    failed = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert failed is not None
    ledger.transition(failed.id, SweepState.DETECTED, SweepState.FAILED, reason="blacklisted")
    newer = ledger.open_sweep(watched, USDT, 6_000_000, HOT_WALLET)
    assert newer is not None

    with pytest.raises(StateConflict):
        ledger.reopen(failed.id)

    stored = ledger.get_sweep(failed.id)
    assert stored is not None and stored.state is SweepState.FAILED
    assert ledger.history(failed.id)[-1].to_state is SweepState.FAILED


def test_history_is_append_only_in_the_database(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    for statement in ("UPDATE sweep_history SET reason = 'rewritten'", "DELETE FROM sweep_history"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), ledger.engine.begin() as conn:
            conn.exec_driver_sql(statement)

    assert [h.reason for h in ledger.history(sweep.id)] == ["detected"]


def test_the_database_refuses_an_unknown_state(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE sweeps SET state = 'LOST' WHERE id = {sweep.id}")


def test_due_sweeps_lists_open_sweeps_past_their_deadline(ledger: Ledger) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    addresses = [tron_address(f"due-{i}") for i in range(4)]
    ledger.add_addresses([_deposit(a) for a in addresses])
    late, later, future, done = (
        ledger.open_sweep(a, USDT, 1_000_000, HOT_WALLET, next_check_at=now + timedelta(seconds=s))
        for a, s in zip(addresses, (-60, -5, 60, -120), strict=True)
    )
    assert late and later and future and done
    ledger.transition(done.id, SweepState.DETECTED, SweepState.CONFIRMED)

    due = ledger.due_sweeps(now, limit=10)

    assert [s.id for s in due] == [late.id, later.id]
    assert [s.id for s in ledger.due_sweeps(now, limit=1)] == [late.id]
    assert ledger.due_sweeps(now, states=[SweepState.BROADCAST]) == []


def test_times_are_stored_and_returned_in_utc(ledger: Ledger, watched: str) -> None:
    tokyo = datetime(2030, 1, 1, 9, 0, tzinfo=UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    sweep = ledger.open_sweep(watched, USDT, 1_000_000, HOT_WALLET, next_check_at=tokyo)

    assert sweep is not None
    assert sweep.next_check_at == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert sweep.next_check_at is not None and sweep.next_check_at.utcoffset() == timedelta(0)


def test_summary_counts_and_sums_by_state_and_token(ledger: Ledger) -> None:
    addresses = [tron_address(f"sum-{i}") for i in range(3)]
    ledger.add_addresses([_deposit(a) for a in addresses])
    sweeps = [ledger.open_sweep(a, USDT, 2_000_000 * (i + 1), HOT_WALLET) for i, a in enumerate(addresses)]
    assert all(sweeps)
    first = sweeps[0]
    assert first is not None
    ledger.transition(first.id, SweepState.DETECTED, SweepState.CONFIRMED, cost_sun=3_000_000)

    totals = {(t.state, t.token_symbol): (t.count, t.amount, t.cost_sun) for t in ledger.summary()}

    assert totals == {
        (SweepState.CONFIRMED, "USDT"): (1, 2_000_000, 3_000_000),
        (SweepState.DETECTED, "USDT"): (2, 10_000_000, 0),
    }


def test_sweeps_lists_newest_first_and_filters_by_state(ledger: Ledger) -> None:
    addresses = [tron_address(f"list-{i}") for i in range(3)]
    ledger.add_addresses([_deposit(a) for a in addresses])
    ids = [s.id for a in addresses if (s := ledger.open_sweep(a, USDT, 1_000_000, HOT_WALLET))]
    ledger.transition(ids[1], SweepState.DETECTED, SweepState.SKIPPED)

    assert [s.id for s in ledger.sweeps()] == ids[::-1]
    assert [s.id for s in ledger.sweeps(SweepState.SKIPPED)] == [ids[1]]
    assert [s.id for s in ledger.sweeps(limit=1)] == [ids[2]]
    assert [s.id for s in ledger.sweeps(address=addresses[0])] == [ids[0]]


def test_ping_answers_on_a_reachable_database(ledger: Ledger) -> None:
    ledger.ping()


def _deposit(address: str) -> DepositAddress:
    return DepositAddress(address, "mnemonic:1")


def test_costs_add_up_atomically_in_transitions_and_on_their_own(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    ledger.transition(
        sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, add_cost=2_600_000, note="itrx 64k"
    )
    ledger.add_cost(sweep.id, 1_100_000)

    stored = ledger.get_sweep(sweep.id)
    assert stored is not None and stored.cost_sun == 3_700_000
    assert ledger.history(sweep.id)[-1].detail == {"add_cost": 2_600_000, "note": "itrx 64k"}
    with pytest.raises(TypeError, match="not both"):
        ledger.transition(sweep.id, SweepState.ENERGY_ORDERED, SweepState.FAILED, cost_sun=1, add_cost=1)


def test_set_next_check_reschedules_open_sweeps_only(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    later = datetime(2031, 1, 1, tzinfo=UTC)

    assert ledger.set_next_check(sweep.id, later) is SweepState.DETECTED  # open: its state
    stored = ledger.get_sweep(sweep.id)
    assert stored is not None and (stored.next_check_at, stored.version) == (later, sweep.version)

    ledger.transition(sweep.id, SweepState.DETECTED, SweepState.SKIPPED)
    assert ledger.set_next_check(sweep.id, later) is None  # ended: no next look


def test_a_move_answers_with_the_row_as_stored_and_none_when_it_lost(ledger: Ledger, watched: str) -> None:
    """The flow takes its next step from this answer instead of reading the sweep again."""
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    moved = ledger.move(
        sweep.id,
        SweepState.DETECTED,
        SweepState.ENERGY_ORDERED,
        expected_version=sweep.version,
        note="ordering",
        energy_source="itrx",
        order_no="o1",
    )
    assert moved is not None and moved == ledger.get_sweep(sweep.id)
    assert (moved.state, moved.version, moved.energy_source, moved.order_no) == (
        SweepState.ENERGY_ORDERED,
        sweep.version + 1,
        "itrx",
        "o1",
    )
    # the same move again, from the version it was made on, loses and writes nothing
    assert ledger.move(sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, expected_version=0) is None
    set_ = ledger.set_fields(sweep.id, SweepState.ENERGY_ORDERED, expected_version=moved.version, txid="t")
    assert set_ is not None and set_ == ledger.get_sweep(sweep.id) and set_.version == moved.version + 1
    stale = ledger.set_fields(sweep.id, SweepState.ENERGY_ORDERED, expected_version=moved.version, txid="u")
    assert stale is None
    costly = ledger.move(sweep.id, SweepState.ENERGY_ORDERED, SweepState.FAILED, add_cost=7, reason="x")
    assert costly is not None and (costly.cost_sun, costly.reason) == (sweep.cost_sun + 7, "x")
    assert [h.to_state for h in ledger.history(sweep.id)] == [
        SweepState.DETECTED,
        SweepState.ENERGY_ORDERED,
        SweepState.FAILED,
    ]


# -- amounts up to uint256 ---------------------------------------------------------------------------

USDD = Token("USDD", "TPYmHEhy5n8TCEfYGqW2rPxsghSfzghPDn", 18, 10**18)


@pytest.mark.parametrize(
    "amount", [10**21, 2**63, 2**256 - 1], ids=["1000-tokens-18-dec", "2^63", "uint256-max"]
)
def test_any_trc20_amount_is_stored_and_read_back_exactly_as_an_int(
    ledger: Ledger, watched: str, amount: int
) -> None:
    sweep = ledger.open_sweep(watched, USDD, amount, HOT_WALLET)
    assert sweep is not None
    read = ledger.get_sweep(sweep.id)
    assert read is not None and read.amount == amount and type(read.amount) is int
    assert ledger.transition(sweep.id, SweepState.DETECTED, SweepState.ENERGY_READY, amount=amount - 1)
    assert ledger.get_sweep(sweep.id).amount == amount - 1


def test_the_summary_adds_large_amounts_exactly(ledger: Ledger) -> None:
    a, b = tron_address("big-a"), tron_address("big-b")
    ledger.add_addresses([DepositAddress(a, "memory:a"), DepositAddress(b, "memory:b")])
    ledger.open_sweep(a, USDD, 2**255, HOT_WALLET)
    ledger.open_sweep(b, USDD, 2**255 - 1, HOT_WALLET)
    (totals,) = [t for t in ledger.summary() if t.token_symbol == "USDD"]
    assert totals.amount == 2**256 - 1 and totals.count == 2


@pytest.mark.parametrize("bad", [1.5e21, -1, 2**256])
def test_an_amount_that_is_not_a_uint256_integer_is_refused(
    ledger: Ledger, watched: str, bad: object
) -> None:
    with pytest.raises((TypeError, ValueError, sa.exc.StatementError)):
        ledger.open_sweep(watched, USDD, bad, HOT_WALLET)  # type: ignore[arg-type]


def test_flight_counts_sweeps_between_order_and_broadcast_and_release_wakes_the_oldest_held(
    ledger: Ledger,
) -> None:
    addresses = [tron_address(f"flight-{i}") for i in range(6)]
    ledger.add_addresses([_deposit(a) for a in addresses])
    later = ledger.now() + timedelta(minutes=10)
    opened = [ledger.open_sweep(a, USDT, 1_000_000, HOT_WALLET) for a in addresses]
    assert all(opened)
    ordered, ready, sent, fresh, held_old, held_new = (s.id for s in opened if s)
    ledger.transition(ordered, SweepState.DETECTED, SweepState.ENERGY_ORDERED)
    ledger.transition(ready, SweepState.DETECTED, SweepState.ENERGY_READY)
    ledger.transition(sent, SweepState.DETECTED, SweepState.BROADCAST)
    ledger.set_next_check(held_new, later)
    ledger.set_next_check(held_old, later)

    assert ledger.flight() == (2, 3)  # ENERGY_ORDERED + ENERGY_READY; three DETECTED
    fresh_check = ledger.get_sweep(fresh).next_check_at  # type: ignore[union-attr]
    assert ledger.release_held(1) == [held_old]  # the oldest held, not the fresh one nor the newest
    woken = ledger.get_sweep(held_old)
    assert woken is not None and woken.next_check_at is not None and woken.next_check_at <= ledger.now()
    assert ledger.release_held(5) == [held_new]  # nothing else was waiting
    assert ledger.release_held(1) == []
    assert ledger.get_sweep(fresh).next_check_at == fresh_check  # type: ignore[union-attr]
    assert {s.id for s in ledger.due_sweeps(ledger.now() + timedelta(seconds=1))} >= {held_old, held_new}
