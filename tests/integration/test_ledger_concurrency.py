"""Races the ledger must win: many workers moving, opening and ordering for the same sweep at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from sweeper.ledger import Ledger, OrderRecord
from sweeper.models import SweepState
from tests.fixtures.db import HOT_WALLET, USDT

pytestmark = pytest.mark.integration

WORKERS = 8
T = TypeVar("T")


def race(action: Callable[[int], T]) -> list[T]:
    """Run ``action(worker)`` on WORKERS threads released together; return every result."""
    barrier = threading.Barrier(WORKERS)

    def run(worker: int) -> T:
        barrier.wait()
        return action(worker)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(run, range(WORKERS)))


def test_exactly_one_of_eight_concurrent_transitions_wins(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    results = race(
        lambda worker: ledger.transition(
            sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, order_no=f"worker-{worker}"
        )
    )

    assert results.count(True) == 1
    winner = results.index(True)
    stored = ledger.get_sweep(sweep.id)
    assert stored is not None
    assert (stored.state, stored.order_no, stored.version) == (
        SweepState.ENERGY_ORDERED,
        f"worker-{winner}",
        1,
    )
    assert [h.to_state for h in ledger.history(sweep.id)] == [SweepState.DETECTED, SweepState.ENERGY_ORDERED]


def test_concurrent_detections_open_one_sweep_per_address_and_token(ledger: Ledger, watched: str) -> None:
    results = race(lambda worker: ledger.open_sweep(watched, USDT, 1_000_000 + worker, HOT_WALLET))

    assert all(s is not None for s in results)
    assert len({s.id for s in results if s is not None}) == 1
    assert len(ledger.sweeps(address=watched)) == 1
    (only,) = ledger.sweeps(address=watched)
    assert len(ledger.history(only.id)) == 1


def test_concurrent_order_requests_record_one_order(ledger: Ledger, watched: str) -> None:
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None

    results: list[OrderRecord] = race(
        lambda _: ledger.record_order_request(sweep.id, "energy", "itrx", f"sw{sweep.id}a0e", 64_285)
    )

    assert len({r.id for r in results}) == 1
    assert len(ledger.orders_for_sweep(sweep.id)) == 1


def test_concurrent_callbacks_with_one_event_key_are_recorded_once(ledger: Ledger) -> None:
    results = race(lambda worker: ledger.record_callback("itrx", "itrx:order-1:DELIVERED", f"{{{worker}}}"))

    assert results.count(True) == 1


def test_a_stale_copy_of_the_sweep_never_closes_the_order_another_worker_just_named(
    ledger: Ledger, watched: str
) -> None:
    """A worker whose lock was taken read the sweep before another moved it to order o2 and stored o2; its
    clean-up of never-sent orders must judge by the sweep row as it is now, or it closes o2 while o2 is
    being paid for and then orders a third time (seen: three itrx orders for one step)."""
    sweep = ledger.open_sweep(watched, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    stale = ledger.get_sweep(sweep.id)  # the loser's copy: DETECTED, names no order
    ledger.record_order_request(sweep.id, "energy", "itrx", "o1", 65_000)  # left by a crash, never named
    assert ledger.transition(sweep.id, SweepState.DETECTED, SweepState.ENERGY_ORDERED, order_no="o2")
    ledger.record_order_request(sweep.id, "energy", "itrx", "o2", 65_000)  # the winner's, being paid

    assert stale is not None and stale.order_no is None
    assert ledger.void_unnamed_orders(stale.id, "never sent") == 1
    status = {o.order_no: o.status.value for o in ledger.orders_for_sweep(sweep.id)}
    assert status == {"o1": "FAILED", "o2": "REQUESTED"}
