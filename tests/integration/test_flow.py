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


SECOND_TOKEN = "TXLAQ63Xg1NAzckPwKHvzw7CSEmLMEqcdj"


def test_several_configured_tokens_are_each_swept_to_the_hot_wallet(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    devnet.chain.deploy_token(SECOND_TOKEN, "USDC", 6)
    tokens = (
        '[{"symbol":"USDT","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,"min_amount":1000000},'
        f'{{"symbol":"USDC","contract":"{SECOND_TOKEN}","decimals":6,"min_amount":5000000}}]'
    )
    with stack(devnet, tmp_path, monkeypatch, extra={"SWEEPER_TOKENS": tokens}) as (rt, hot):
        devnet.chain.mint(hot, 1, SECOND_TOKEN)
        (address,) = add_deposits(rt, 1)
        devnet.chain.fund(address, 1 * TRX)
        devnet.chain.mint(address, 40 * USDT)
        devnet.chain.mint(address, 25 * USDT, SECOND_TOKEN)
        devnet.chain.produce_blocks(1)
        opened = [rt.flow.detect(address, c) for c in rt.flow.config.tokens]
        ids = [s.id for s in opened if s is not None]
        assert len(ids) == 2
        states = drive(rt, ids)
        assert set(states.values()) == {SweepState.CONFIRMED}
        assert devnet.chain.token_balance(hot, SECOND_TOKEN) == 1 + 25 * USDT
        assert usdt_balance(devnet, hot) == 1 + 40 * USDT
        symbols = {rt.ledger.get_sweep(i).token_symbol for i in ids}  # type: ignore[union-attr]
        assert symbols == {"USDT", "USDC"}


def test_leftover_trx_is_swept_after_the_token_when_configured(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {"SWEEPER_SWEEP_LEFTOVER_TRX": "true", "SWEEPER_LEFTOVER_TRX_MIN_SUN": "1000000"}
    with stack(devnet, tmp_path, monkeypatch, extra=extra) as (rt, hot):
        (address,) = add_deposits(rt, 1)
        devnet.chain.fund(address, 3 * TRX)
        devnet.chain.mint(address, 80 * USDT)
        devnet.chain.produce_blocks(1)
        hot_trx = devnet.chain.trx_balance(hot)
        sweep = rt.flow.detect(address, USDT_MAINNET)
        assert sweep is not None
        assert drive(rt, [sweep.id])[sweep.id] is SweepState.CONFIRMED
        trx_sweeps = [s for s in rt.ledger.sweeps(address=address) if s.token_contract == "TRX"]
        assert len(trx_sweeps) == 1
        assert drive(rt, [trx_sweeps[0].id])[trx_sweeps[0].id] is SweepState.CONFIRMED
        gained = devnet.chain.trx_balance(hot) - hot_trx
        assert 2 * TRX <= gained <= 3 * TRX
        assert devnet.chain.trx_balance(address) < 1 * TRX


def test_an_order_row_left_by_a_crash_before_the_sweep_moved_is_closed_not_left_live(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with stack(devnet, tmp_path, monkeypatch) as (rt, _hot):
        (address,) = add_deposits(rt, 1)
        devnet.chain.fund(address, 1 * TRX)
        devnet.chain.mint(address, 60 * USDT)
        devnet.chain.produce_blocks(1)
        sweep = rt.flow.detect(address, USDT_MAINNET)
        assert sweep is not None
        # A worker stored the order number, then died before the sweep's row named it: never sent.
        rt.ledger.record_order_request(sweep.id, "energy", "ea888fee", f"sw{sweep.id}a0o1", 64_285)
        assert drive(rt, [sweep.id])[sweep.id] is SweepState.CONFIRMED
        orders = rt.ledger.orders_for_sweep(sweep.id)
        live = [o for o in orders if o.status is not OrderRequestStatus.FAILED]
        assert len(live) == 1 and live[0].order_no != f"sw{sweep.id}a0o1"
        orphan = next(o for o in orders if o.order_no == f"sw{sweep.id}a0o1")
        assert orphan.status is OrderRequestStatus.FAILED and "never sent" in (orphan.detail or "")
