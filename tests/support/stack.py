"""A whole sweeper stack in one process against a devnet: settings, runtime, deposits, a driver loop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from config.settings import Settings
from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.keys import MnemonicKeyring
from sweeper.ledger.migrate import upgrade
from sweeper.ledger.records import DepositAddress
from sweeper.models import USDT_MAINNET, SweepState
from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env
from tasks.runtime import Runtime, build_runtime

TRX = 1_000_000
USDT = 1_000_000


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


@contextmanager
def stack(
    devnet: Devnet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    database_url: str | None = None,
    order: str = "itrx,ea888fee,tronzap",
    hot_holds_usdt: bool = True,
    extra: dict[str, str] | None = None,
) -> Iterator[tuple[Runtime, str]]:
    """A runtime wired to ``devnet``; yields it with the hot wallet's address."""
    _, hot = generate_key()
    devnet.chain.fund(hot, 10 * TRX)
    if hot_holds_usdt:
        devnet.chain.mint(hot, 1)
    mnemonic = tmp_path / "mnemonic.txt"
    mnemonic.write_text(DEVNET_MNEMONIC)
    url = database_url or f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(url)
    env = devnet_env(
        devnet,
        database_url=url,
        broker_url="memory://",
        destination=hot,
        mnemonic_file=str(mnemonic),
        order=order,
        confirmations=1,
        poll_seconds=0.2,
        extra={"SWEEPER_LOG_FORMAT": "json", **(extra or {})},
    )
    rt = build_runtime(settings_from(env, monkeypatch))
    devnet.chain.produce_blocks(1)
    try:
        yield rt, hot
    finally:
        rt.close()


def add_deposits(rt: Runtime, count: int, start: int = 0) -> list[str]:
    """Derive deposit addresses from the devnet mnemonic and watch them."""
    ring = MnemonicKeyring(DEVNET_MNEMONIC)
    rows = [DepositAddress(ring.derive(i), f"mnemonic:{i}", f"user-{i}") for i in range(start, start + count)]
    rt.ledger.add_addresses(rows)
    return [r.address for r in rows]


def drive(rt: Runtime, sweep_ids: list[int], timeout: float = 90.0) -> dict[int, SweepState]:
    """Call advance on every open sweep until all are terminal (what the Celery chain does)."""
    deadline = time.monotonic() + timeout
    states: dict[int, SweepState] = {}
    while time.monotonic() < deadline:
        states = {}
        for sid in sweep_ids:
            step = rt.flow.advance(sid)
            states[sid] = step.state
        if all(s in (SweepState.CONFIRMED, SweepState.SKIPPED, SweepState.FAILED) for s in states.values()):
            return states
        time.sleep(0.2)
    return states


def usdt_balance(devnet: Devnet, address: str) -> int:
    return int(devnet.chain.token_balance(address, USDT_MAINNET))
