"""The first look after an order comes when the source's energy has lately been seen, not a fixed poll
later that finds nothing (sweeper/pace.py): learned per source and kind of order, probed, bounded."""

from __future__ import annotations

import pytest

from sweeper.models import SweepState
from sweeper.pace import PROBE_EVERY, WINDOW, DeliveryPace
from tests.fixtures.db import tron_address
from tests.support.memory import heart

pytestmark = pytest.mark.unit

USDT = 1_000_000


def test_nothing_learned_means_the_poll_interval() -> None:
    pace = DeliveryPace(floor=3.0, ceiling=30.0)
    assert pace.first_look("itrx", "energy") == 3.0
    pace.seen("itrx", "energy", 6.0)
    assert pace.first_look("itrx", "energy") == 3.0  # one delivery is not a pattern


def test_a_source_seen_late_is_first_looked_at_then_and_probed_at_the_floor_now_and_then() -> None:
    pace = DeliveryPace(floor=3.0, ceiling=30.0)
    for _ in range(WINDOW):
        pace.seen("slow", "energy", 6.2)
    looks = [pace.first_look("slow", "energy") for _ in range(2 * PROBE_EVERY)]
    assert looks.count(3.0) == 2 and looks.count(6.2) == 2 * PROBE_EVERY - 2
    assert pace.first_look("fast", "energy") == 3.0  # learned per source
    assert pace.first_look("slow", "activation") == 3.0  # and per kind of order


def test_two_fast_deliveries_in_the_window_bring_the_first_look_back() -> None:
    pace = DeliveryPace(floor=3.0, ceiling=30.0)
    for _ in range(WINDOW):
        pace.seen("p", "energy", 9.0)
    pace.seen("p", "energy", 3.0)  # the probes found it at the floor
    pace.seen("p", "energy", 3.1)
    assert pace.first_look("p", "energy") == 3.1


def test_a_source_that_is_sometimes_late_keeps_the_early_look() -> None:
    pace = DeliveryPace(floor=3.0, ceiling=30.0)
    for n in range(WINDOW):
        pace.seen("p", "energy", 3.0 if n % 3 else 6.0)  # a third of the orders are seen a poll later
    assert pace.first_look("p", "energy") == 3.0


def test_the_first_look_stays_within_the_ceiling_and_ignores_nonsense() -> None:
    pace = DeliveryPace(floor=3.0, ceiling=30.0)
    for _ in range(WINDOW):
        pace.seen("p", "energy", 400.0)
        pace.seen("q", "energy", -5.0)  # a clock step: not a delay
    assert pace.first_look("p", "energy") == 30.0
    assert pace.first_look("q", "energy") == 3.0


def test_the_flow_learns_from_the_looks_that_saw_the_energy_and_skips_the_empty_first_look() -> None:
    h = heart()
    cheap = h.sources["cheap"]
    first_looks, looks_per_sweep = [], []
    for n in range(4):
        address = tron_address(f"pace-{n}")
        h.deposit(address, 150 * USDT)
        sid = h.open(address)
        cheap.hold = True  # the provider delegates only after our first look at +3 s
        step = h.flow.advance(sid)
        assert step.state is SweepState.ENERGY_ORDERED
        first_looks.append(step.retry_in)
        looks = 0
        while step.state is SweepState.ENERGY_ORDERED:
            h.tick(step.retry_in or 0.1)
            if h.clock.now - h.ledger.orders_for_sweep(sid)[0].created_at.timestamp() >= 5.0:
                cheap.release()
            step = h.flow.advance(sid)
            looks += 1
        looks_per_sweep.append(looks)
        assert h.run(sid) == "CONFIRMED"
    assert first_looks[:2] == [3.0, 3.0]  # nothing learned: the poll interval
    assert first_looks[2] == first_looks[3] == 6.0  # seen at the second look, due 6 s after the order
    assert looks_per_sweep == [2, 2, 1, 1]  # the empty look at +3 s is gone
