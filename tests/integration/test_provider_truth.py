"""The providers as they really answer, over real HTTP against the devnet simulators (docs/PROVIDERS.md §5).

Each test drives whole sweeps through the state machine with the real clients: numbers unique per
deployment and verified before adoption, TronZap's body-coded errors, itrx without ``out_trade_no``
queries, and refunds counted out of the cost.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from devnet.providers.itrx_reads import ItrxReads
from devnet.server import Devnet
from sweeper.ledger.records import OrderRequestStatus
from sweeper.models import USDT_MAINNET, SweepState
from sweeper.procurement import FOREIGN_COLLISION
from tasks.runtime import build_runtime
from tests.chaos.invariants import provider_books
from tests.support.stack import TRX, USDT, add_deposits, drive, stack

pytestmark = pytest.mark.integration


def faults(devnet: Devnet, provider: str, **switches: Any) -> None:
    httpx.post(f"{devnet.provider_url(provider)}/devnet/provider-faults", json=switches).raise_for_status()


def balance(devnet: Devnet, provider: str) -> int:
    reply = httpx.get(f"{devnet.provider_url(provider)}/devnet/provider-faults")
    return int(reply.raise_for_status().json()["balance"])


def balances(devnet: Devnet) -> dict[str, int]:
    return {name: balance(devnet, name) for name in ("itrx", "ea888fee", "tronzap")}


def deposit(devnet: Devnet, address: str, amount: int = 100 * USDT) -> None:
    devnet.chain.mint(address, amount)
    devnet.chain.fund(address, 1 * TRX)
    devnet.chain.produce_blocks(1)


def sweep_one(rt: Any, address: str) -> int:
    opened = rt.flow.detect(address, USDT_MAINNET)
    assert opened is not None
    states = drive(rt, [opened.id])
    assert states[opened.id] is SweepState.CONFIRMED, rt.ledger.orders_for_sweep(opened.id)
    return int(opened.id)


def test_a_fresh_ledger_on_accounts_that_saw_our_numbers_sweeps_at_once_adopting_no_old_order(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    with stack(devnet, tmp_path / "old", monkeypatch, order="tronzap") as (old, _):
        (first,) = add_deposits(old, 1)
        deposit(devnet, first)
        seen = {o.provider_order_id for o in old.ledger.orders_for_sweep(sweep_one(old, first))}
        old_numbers = {o.order_no for o in old.ledger.orders_for_sweep(1)}
    with stack(devnet, tmp_path / "new", monkeypatch, order="tronzap") as (new, _):
        (second,) = add_deposits(new, 1, start=1)
        deposit(devnet, second)
        before = balance(devnet, "tronzap")
        sid = sweep_one(new, second)
        orders = new.ledger.orders_for_sweep(sid)
    assert new.ledger.deployment_id() != old.ledger.deployment_id()
    assert [o.status for o in orders] == [OrderRequestStatus.DELIVERED]  # at once: one order, no timeout
    assert orders[0].provider_order_id not in seen and orders[0].order_no not in old_numbers
    assert before - balance(devnet, "tronzap") == orders[0].cost_sun > 0


def test_a_restored_ledger_records_the_collision_and_orders_under_a_fresh_number(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with stack(devnet, tmp_path, monkeypatch, order="tronzap") as (rt, _):
        first, second = add_deposits(rt, 2)
    shutil.copy(ledger, tmp_path / "backup.sqlite3")  # the same deployment, before its first sweep
    with stack(devnet, tmp_path, monkeypatch, order="tronzap") as (rt, _):
        deposit(devnet, first)
        seen = {o.provider_order_id for o in rt.ledger.orders_for_sweep(sweep_one(rt, first))}
    shutil.copy(tmp_path / "backup.sqlite3", ledger)
    with stack(devnet, tmp_path, monkeypatch, order="tronzap") as (rt, _):
        deposit(devnet, second)
        sid = sweep_one(rt, second)  # sweep 1 again: its first number names the old order
        orders = rt.ledger.orders_for_sweep(sid)
    collided, fresh = orders
    assert (collided.detail or "").startswith(FOREIGN_COLLISION) and collided.refused_at is not None
    assert fresh.status is OrderRequestStatus.DELIVERED and fresh.provider_order_id not in seen
    assert fresh.order_no != collided.order_no


def test_tronzap_code_500_in_an_http_200_body_after_creating_the_order_buys_the_energy_once(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch, order="tronzap,itrx") as (rt, _):
        (address,) = add_deposits(rt, 1)
        deposit(devnet, address)
        faults(devnet, "tronzap", error_after_order=500, count=1)
        before = balances(devnet)
        sid = sweep_one(rt, address)
        orders = rt.ledger.orders_for_sweep(sid)
    after = balances(devnet)
    assert [(o.source, o.status) for o in orders] == [("tronzap", OrderRequestStatus.DELIVERED)]
    assert after["itrx"] == before["itrx"] and after["ea888fee"] == before["ea888fee"]
    assert before["tronzap"] - after["tronzap"] == orders[0].cost_sun > 0  # one transaction paid


def test_itrx_without_out_trade_no_lookup_still_sweeps(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults(devnet, "itrx", query_by_out_trade_no=False)
    with stack(devnet, tmp_path, monkeypatch, order="itrx") as (rt, _):
        (address,) = add_deposits(rt, 1)
        deposit(devnet, address)
        before = balance(devnet, "itrx")
        sid = sweep_one(rt, address)
        orders = rt.ledger.orders_for_sweep(sid)
    assert [o.status for o in orders] == [OrderRequestStatus.DELIVERED] and orders[0].provider_order_id
    assert before - balance(devnet, "itrx") == orders[0].cost_sun > 0


@pytest.mark.parametrize("refunding", ["itrx", "ea888fee"])
def test_refunded_orders_cost_what_was_really_paid(
    refunding: str, devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch, order=refunding) as (rt, _):  # ordered again once refunded
        (address,) = add_deposits(rt, 1)
        deposit(devnet, address)
        faults(devnet, refunding, order_outcome="fail", count=1)  # itrx 41 / ea888fee ABORT, refunded
        before = balances(devnet)
        sid = sweep_one(rt, address)
        orders = rt.ledger.orders_for_sweep(sid)
        sweep = rt.ledger.get_sweep(sid)
    after = balances(devnet)
    refunded, paid = orders
    assert refunded.source == refunding and refunded.status is OrderRequestStatus.FAILED
    assert refunded.refunded_sun and refunded.refunded_sun > 0 and refunded.cost_sun == 0
    spent = sum(before[n] - after[n] for n in before)  # the first order was charged, then given back
    assert paid.status is OrderRequestStatus.DELIVERED and paid.cost_sun == spent
    assert sweep is not None and sweep.cost_sun >= spent and sweep.cost_sun - spent < 1 * TRX


def test_an_ea888fee_charge_far_from_its_quote_opens_its_breaker_and_is_flagged(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = {"SWEEPER_ENERGY__EA888FEE__PRICE_UNIT_SUN": "0.2"}  # not what it charges (≈ 0.3675)
    with stack(devnet, tmp_path, monkeypatch, order="ea888fee,tronzap", extra=unit) as (rt, _):
        first, second = add_deposits(rt, 2)
        deposit(devnet, first)
        (flagged,) = rt.ledger.orders_for_sweep(sweep_one(rt, first))
        deposit(devnet, second)
        (after,) = rt.ledger.orders_for_sweep(sweep_one(rt, second))
    assert flagged.source == "ea888fee" and flagged.charge_mismatch is True
    assert flagged.quoted_sun is not None and flagged.cost_sun is not None
    assert flagged.cost_sun > flagged.quoted_sun * 1.2  # charged on the document's scale
    assert after.source == "tronzap"  # ea888fee's breaker is open: its quotes cannot be trusted


def test_a_charge_mismatch_found_by_one_worker_process_keeps_every_other_process_off_the_source(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Breakers live in each process; the finding lives in the ledger, so a process that never saw the
    bad charge (its own breaker closed) still does not order from that source during the reset time."""
    unit = {"SWEEPER_ENERGY__EA888FEE__PRICE_UNIT_SUN": "0.2"}
    with stack(devnet, tmp_path, monkeypatch, order="ea888fee,tronzap", extra=unit) as (rt, _):
        first, second = add_deposits(rt, 2)
        deposit(devnet, first)
        (flagged,) = rt.ledger.orders_for_sweep(sweep_one(rt, first))
        other = build_runtime(rt.settings)  # another worker process on the same ledger
        try:
            assert other.breakers["ea888fee"].healthy  # it saw nothing itself
            deposit(devnet, second)
            (after,) = other.ledger.orders_for_sweep(sweep_one(other, second))
        finally:
            other.close()
    assert flagged.source == "ea888fee" and flagged.charge_mismatch is True
    assert after.source == "tronzap"


@pytest.mark.parametrize(("outcome", "status"), [("partial", 31), ("retrying", 32)])
def test_an_itrx_order_that_passes_through_status_31_or_32_is_waited_for_and_paid_once(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str, status: int
) -> None:
    """Status 31 (partly delegated) and 32 (error, retrying) are neither done nor failed: the sweep waits
    for the energy it measured, never fails over to a second paid order."""
    faults(devnet, "itrx", order_outcome=outcome, count=1)
    seen: set[int] = set()
    with stack(devnet, tmp_path, monkeypatch, order="itrx") as (rt, _):
        (address,) = add_deposits(rt, 1)
        deposit(devnet, address)
        before = balances(devnet)
        opened = rt.flow.detect(address, USDT_MAINNET)
        assert opened is not None
        rt.flow.advance(opened.id)  # the order is placed
        (order,) = rt.ledger.orders_for_sweep(opened.id)
        for _ in range(12):  # the status itrx's order/query would answer while the order goes through
            devnet.chain.produce_blocks(1)
            ours = [o for book in provider_books(devnet) for o in book.all() if o.ref == order.order_no]
            seen.update(ItrxReads._status(o) for o in ours)
        states = drive(rt, [opened.id])
        orders = rt.ledger.orders_for_sweep(opened.id)
    after = balances(devnet)
    assert states[opened.id] is SweepState.CONFIRMED
    assert [(o.source, o.status) for o in orders] == [("itrx", OrderRequestStatus.DELIVERED)]
    assert after["tronzap"] == before["tronzap"] and after["ea888fee"] == before["ea888fee"]
    assert before["itrx"] - after["itrx"] == orders[0].cost_sun > 0
    assert status in seen and 40 in seen  # it went through 31/32 and completed
