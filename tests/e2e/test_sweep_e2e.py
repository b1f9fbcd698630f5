"""End to end: two Celery worker processes, beat, the callback receiver and the devnet sweep 50 deposits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.keys import MnemonicKeyring
from sweeper.ledger.engine import create_engine_for
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.records import DepositAddress, OrderRequestStatus
from sweeper.ledger.repository import Ledger
from sweeper.models import USDT_MAINNET, SweepState
from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
from tasks.processes import ProcessGroup, free_port

pytestmark = pytest.mark.e2e

TRX = 1_000_000
USDT = 1_000_000
TERMINAL = {SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED}


def wait_until_settled(ledger: Ledger, expected: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    sweeps: list = []
    while time.monotonic() < deadline:
        sweeps = ledger.sweeps(limit=10_000)
        if len(sweeps) >= expected and all(s.state in TERMINAL for s in sweeps):
            return sweeps
        time.sleep(1.0)
    return sweeps


def test_fifty_deposits_in_mixed_states_are_each_swept_exactly_once(
    tmp_path: Path, redis_broker: str, processes: ProcessGroup
) -> None:
    devnet = Devnet(port=0, block_time=0.3, solid_depth=2, callback_time_scale=0.05)
    devnet.start()
    try:
        _, hot = generate_key()
        devnet.chain.fund(
            hot, 10 * TRX
        )  # the hot wallet starts without USDT: first transfers cost 130k energy
        db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        upgrade(db)
        ledger = Ledger(create_engine_for(db))
        mnemonic = tmp_path / "mnemonic.txt"
        mnemonic.write_text(DEVNET_MNEMONIC)
        ring = MnemonicKeyring(DEVNET_MNEMONIC)
        addresses = [ring.derive(i) for i in range(50)]
        ledger.add_addresses(DepositAddress(a, f"mnemonic:{i}", f"user-{i}") for i, a in enumerate(addresses))
        web_port = free_port()
        processes.env = devnet_env(
            devnet,
            database_url=db,
            broker_url=redis_broker,
            destination=hot,
            mnemonic_file=str(mnemonic),
            callback_public_url=f"http://127.0.0.1:{web_port}",
            confirmations=2,
            poll_seconds=0.5,
            extra={
                "SWEEPER_SCAN_INTERVAL_SECONDS": "1",
                "SWEEPER_RECONCILE_INTERVAL_SECONDS": "5",
                "SWEEPER_LOG_FORMAT": "json",
                "SWEEPER_ENERGY__MAX_SUN_PER_SWEEP": "20000000",
                "SWEEPER_ENERGY__MAX_PERCENT_OF_AMOUNT": "50",
            },
        )
        ledger.set_cursor("blocks", devnet.chain.head_number())
        processes.web(web_port)
        processes.worker("w1", concurrency=2)
        processes.worker("w2", concurrency=2)
        processes.beat()

        plan: dict[str, tuple[int, str]] = {}
        for i, address in enumerate(addresses):
            if i < 30:
                plan[address] = ((20 + i) * USDT, "activated")
                devnet.chain.fund(address, 1 * TRX)
            elif i < 40:
                plan[address] = ((100 + i) * USDT, "not_activated")
            elif i < 45:
                plan[address] = (USDT // 4, "below_threshold")
            else:
                plan[address] = (500 * USDT, "blacklisted")
                devnet.chain.set_blacklisted(address)
        devnet.chain.produce_blocks(1)
        for address, (amount, _) in plan.items():
            devnet.chain.mint(address, amount)

        sweeps = wait_until_settled(ledger, expected=50, timeout=300)
        by_address: dict[str, list] = {}
        for sweep in sweeps:
            by_address.setdefault(sweep.address, []).append(sweep)

        eligible = [a for a, (_, kind) in plan.items() if kind in ("activated", "not_activated")]
        problems = [
            (a, [(s.state, s.reason) for s in by_address.get(a, [])])
            for a in eligible
            if [s.state for s in by_address.get(a, [])] != [SweepState.CONFIRMED]
        ]
        assert not problems, (problems, processes.logs("w1")[-4000:])
        expected_total = sum(plan[a][0] for a in eligible)
        assert devnet.chain.token_balance(hot) == expected_total
        for address in eligible:
            assert devnet.chain.token_balance(address) == 0
            (sweep,) = by_address[address]
            assert sweep.cost_sun > 0 and sweep.amount == plan[address][0]
            delivered = [
                o for o in ledger.orders_for_sweep(sweep.id) if o.status is OrderRequestStatus.DELIVERED
            ]
            assert len(delivered) == 1, ledger.orders_for_sweep(sweep.id)
        for address, (_, kind) in plan.items():
            if kind in ("below_threshold", "blacklisted"):
                recorded = by_address.get(address, [])
                assert recorded and all(s.state is SweepState.SKIPPED for s in recorded), (address, recorded)
                assert all((s.reason or "").startswith(kind) for s in recorded)
                assert devnet.chain.token_balance(address) == plan[address][0]  # untouched
        # Exactly one transfer out of each eligible address ever reached the chain.
        outgoing = [t for t in _transfers(devnet) if t["from"] in plan and t["to"] == hot]
        assert sorted(t["from"] for t in outgoing) == sorted(eligible)
    finally:
        devnet.stop()


def _transfers(devnet: Devnet) -> list[dict[str, str]]:
    from sweeper.chain import TronChain

    chain = TronChain(devnet.node_url)
    try:
        found = chain.block_transfers(1, devnet.chain.head_number(), [USDT_MAINNET])
    finally:
        chain.close()
    return [{"from": t.from_address, "to": t.to_address, "txid": t.txid} for t in found]
