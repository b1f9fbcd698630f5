"""A waiting sweep is read once per look: its lock's address is known (docs/ARCHITECTURE.md §10.1)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest

from sweeper.flow import SweepAddresses
from sweeper.models import SweepState
from tests.fixtures.db import tron_address
from tests.support.memory import heart

pytestmark = pytest.mark.unit

USDT = 1_000_000


class RecordingLocks:
    """Real exclusion is not the point here: which address each look locked, in order."""

    def __init__(self) -> None:
        self.held: list[str] = []

    def hold(self, address: str) -> Any:
        self.held.append(address)
        return nullcontext()


def counting(h: Any, method: str = "get_sweep") -> list[Any]:
    """What the ledger's ``method`` is asked from now on (the real call still answers)."""
    reads: list[Any] = []
    real = getattr(h.ledger, method)

    def spy(key: Any) -> Any:
        reads.append(key)
        return real(key)

    setattr(h.ledger, method, spy)
    return reads


def delivering_later(tag: str, **kwargs: Any) -> tuple[Any, str, int]:
    """A heart with one open sweep whose provider takes the order and delegates when released."""
    h = heart(**kwargs)
    a = tron_address(tag)
    h.deposit(a, 20 * USDT)
    sid = h.open(a)
    h.sources["cheap"].hold = True
    return h, a, sid


def test_a_waiting_sweep_is_read_once_per_look_and_locked_by_its_own_address():
    locks = RecordingLocks()
    h, a, sid = delivering_later("reads-a", locks=locks)
    first = h.flow.advance(sid)  # orders energy, then waits for it
    assert first.state is SweepState.ENERGY_ORDERED and first.retry_in
    reads = counting(h)

    # No delegation has arrived: a plain look reads the sweep once, under the lock of its address.
    for _ in range(3):
        before = len(reads)
        step = h.flow.advance(sid)
        assert step.state is SweepState.ENERGY_ORDERED
        assert len(reads) - before == 1
    assert set(locks.held) == {a}
    h.sources["cheap"].release()
    assert h.run(sid) == "CONFIRMED"


def test_a_process_that_never_saw_the_sweep_reads_its_address_first_and_an_ended_one_is_forgotten():
    h = heart()
    a = tron_address("reads-b")
    h.deposit(a, 20 * USDT)
    sid = h.open(a)
    other = h.second_worker()
    reads = counting(h)
    step = other.advance(sid)  # knows nothing of the sweep: one read for the address, one under the lock
    assert step.state is SweepState.ENERGY_ORDERED
    assert reads[:2] == [sid, sid]
    assert other._addresses.get(sid) == a
    assert h.run(sid) == "CONFIRMED"
    assert h.flow._addresses.get(sid) is None  # ended: its entry is dropped
    assert len(h.flow._addresses) == 0


def test_the_address_book_is_bounded_oldest_first():
    book = SweepAddresses()
    for i in range(SweepAddresses.LIMIT + 10):
        book.put(i, f"T{i}")
    assert len(book) == SweepAddresses.LIMIT
    assert book.get(0) is None and book.get(9) is None
    assert book.get(10) == "T10" and book.get(SweepAddresses.LIMIT + 9) == f"T{SweepAddresses.LIMIT + 9}"
    book.drop(10)
    assert book.get(10) is None


def test_a_step_says_which_state_the_call_began_in_so_the_task_knows_who_failed_it():
    h = heart()
    a = tron_address("reads-c")
    h.deposit(a, 20 * USDT, key=False)  # nobody holds its key: the sweep fails before paying
    sid = h.open(a)
    step = h.flow.advance(sid)
    assert (step.began, step.state) == (SweepState.DETECTED, SweepState.FAILED)
    again = h.flow.advance(sid)  # already failed: this call ended nothing
    assert (again.began, again.state) == (SweepState.FAILED, SweepState.FAILED)
    fresh = h.second_worker().advance(sid)  # a process that never looked at it reads it once
    assert (fresh.began, fresh.state) == (SweepState.FAILED, SweepState.FAILED)


def test_a_first_order_closes_no_leftover_rows_because_there_are_none():
    from sqlalchemy import event

    h = heart()
    a = tron_address("reads-d")
    h.deposit(a, 20 * USDT)
    sid = h.open(a)
    statements: list[str] = []

    @event.listens_for(h.ledger.engine, "before_cursor_execute")
    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    assert h.flow.advance(sid).state is SweepState.ENERGY_ORDERED
    before_insert = statements[
        : next(i for i, q in enumerate(statements) if q.startswith("INSERT INTO energy_orders"))
    ]
    assert not [q for q in before_insert if q.startswith("UPDATE energy_orders")]


def test_a_row_a_crash_left_before_the_sweep_named_it_is_still_closed_as_never_sent():
    h = heart()
    a = tron_address("reads-e")
    h.deposit(a, 20 * USDT)
    sid = h.open(a)
    orphan = h.ledger.record_order_request(sid, "energy", "cheap", "orphan-1", 65_000)  # the crash's row
    assert h.flow.advance(sid).state is SweepState.ENERGY_ORDERED
    left = h.ledger.get_order("cheap", orphan.order_no)
    assert left is not None and left.status.value == "FAILED" and "never sent" in (left.detail or "")
    assert "orphan-1" not in h.sources["cheap"].paid


def test_a_look_that_moves_the_sweep_on_takes_each_next_step_from_the_row_its_move_left():
    """The compare-and-set answers with the row, so a look reads the sweep once however many steps it
    takes (before: once more after every move); a lost race or a failure still reads it again."""
    h, _, sid = delivering_later("reads-c")
    h.flow.advance(sid)  # the process now knows the sweep's address
    reads, tx_reads = counting(h), counting(h, "get_tx")
    h.sources["cheap"].release()
    step = h.flow.advance(sid)  # delivered -> ENERGY_READY -> SIGNED -> BROADCAST, then it waits
    assert (step.began, step.state) == (SweepState.ENERGY_ORDERED, SweepState.BROADCAST)
    assert reads == [sid]
    assert tx_reads == []  # the broadcast sends the row this look stored, not a fresh read of it
    assert h.run(sid) == "CONFIRMED"


def test_the_first_look_orders_and_schedules_the_next_on_one_read():
    h, _, sid = delivering_later("reads-d")
    reads = counting(h)
    step = h.flow.advance(sid)  # DETECTED -> ENERGY_ORDERED, the paid call, then a wait
    assert step.state is SweepState.ENERGY_ORDERED and step.retry_in
    assert reads == [sid]  # opened by this process: its address is known, and the move's row is used
    stored = h.ledger.get_sweep(sid)
    assert stored is not None and stored.next_check_at is not None
    h.sources["cheap"].release()
    assert h.run(sid) == "CONFIRMED"
