"""The state machine sweeps real deposits on the devnet through real provider APIs, exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.server import Devnet
from sweeper.ledger.records import OrderRequestStatus
from sweeper.models import USDT_MAINNET, SweepState
from tests.support.stack import TRX, USDT, add_deposits, drive, stack, usdt_balance

pytestmark = pytest.mark.integration


def test_activated_and_unactivated_deposits_are_swept_once_to_the_hot_wallet(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch) as (rt, hot):
        addresses = add_deposits(rt, 4)
        amounts = [150 * USDT, 75 * USDT, 300 * USDT, 90 * USDT]
        for addr, amount in zip(addresses, amounts, strict=True):
            devnet.chain.mint(addr, amount)
        devnet.chain.fund(addresses[0], 1 * TRX)  # activated; the others are not
        devnet.chain.fund(addresses[1], 1 * TRX)
        devnet.chain.produce_blocks(1)
        before = usdt_balance(devnet, hot)

        sweeps = [rt.flow.detect(a, USDT_MAINNET) for a in addresses]
        assert all(s is not None for s in sweeps)
        ids = [s.id for s in sweeps if s is not None]
        states = drive(rt, ids)

        assert set(states.values()) == {SweepState.CONFIRMED}, [rt.ledger.get_sweep(i) for i in ids]
        assert usdt_balance(devnet, hot) - before == sum(amounts)
        for addr in addresses:
            assert usdt_balance(devnet, addr) == 0
        for sid in ids:
            sweep = rt.ledger.get_sweep(sid)
            assert sweep is not None and sweep.cost_sun > 0 and sweep.txid
            delivered = [
                o for o in rt.ledger.orders_for_sweep(sid) if o.status is OrderRequestStatus.DELIVERED
            ]
            assert len(delivered) == 1
        # Running advance again on finished sweeps changes nothing and sends nothing.
        again = drive(rt, ids, timeout=5)
        assert set(again.values()) == {SweepState.CONFIRMED}
        assert usdt_balance(devnet, hot) - before == sum(amounts)


def test_below_threshold_blacklisted_and_dry_run_deposits_are_skipped_with_reasons(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch) as (rt, _hot):
        small, black = add_deposits(rt, 2)
        devnet.chain.mint(small, USDT // 2)
        devnet.chain.mint(black, 50 * USDT)
        devnet.chain.set_blacklisted(black)
        devnet.chain.produce_blocks(1)
        assert rt.flow.detect(small, USDT_MAINNET) is None  # never opened: below the minimum
        sweep = rt.flow.detect(black, USDT_MAINNET)
        assert sweep is not None
        states = drive(rt, [sweep.id], timeout=10)
        assert states[sweep.id] is SweepState.SKIPPED
        final = rt.ledger.get_sweep(sweep.id)
        assert final is not None and final.reason is not None and final.reason.startswith("blacklisted")
        assert rt.ledger.orders_for_sweep(sweep.id) == []  # nothing was spent on it


def test_the_cheapest_source_is_used_and_failure_falls_over_to_the_next(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch) as (rt, _hot):
        first, second = add_deposits(rt, 2)
        for addr in (first, second):
            devnet.chain.mint(addr, 200 * USDT)
            devnet.chain.fund(addr, 1 * TRX)
        devnet.chain.produce_blocks(1)
        s1 = rt.flow.detect(first, USDT_MAINNET)
        assert s1 is not None
        drive(rt, [s1.id])
        used = {o.source for o in rt.ledger.orders_for_sweep(s1.id)}
        assert used == {"ea888fee"}  # 45 sun/energy: the cheapest devnet price

        devnet.faults.set("ea888fee", error_code=600006, count=5)  # insufficient platform resources
        s2 = rt.flow.detect(second, USDT_MAINNET)
        assert s2 is not None
        states = drive(rt, [s2.id])
        assert states[s2.id] is SweepState.CONFIRMED
        orders = rt.ledger.orders_for_sweep(s2.id)
        assert orders[0].source == "ea888fee"
        assert orders[-1].status is OrderRequestStatus.DELIVERED and orders[-1].source != "ea888fee"
