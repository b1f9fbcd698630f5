"""The operator commands drive real sweeps: `sweeper scan --local`, `sweeper sweep --local`, config check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devnet.crypto import generate_key
from devnet.server import Devnet
from sweeper.keys import MnemonicKeyring
from sweeper.ledger import create_engine_for, upgrade
from sweeper.ledger.records import DepositAddress
from sweeper.ledger.repository import Ledger
from sweeper.models import SweepState
from tasks.cli import app
from tasks.devnet_profile import DEVNET_MNEMONIC, devnet_env

pytestmark = pytest.mark.integration

TRX = 1_000_000
USDT = 1_000_000


@pytest.fixture
def cli_env(devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Ledger, str, list[str]]:
    for key in list(os.environ):
        if key.startswith("SWEEPER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    _, hot = generate_key()
    devnet.chain.fund(hot, 10 * TRX)
    devnet.chain.mint(hot, 1)
    db = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(db)
    ledger = Ledger(create_engine_for(db))
    (tmp_path / "m.txt").write_text(DEVNET_MNEMONIC)
    ring = MnemonicKeyring(DEVNET_MNEMONIC)
    addresses = [ring.derive(i) for i in range(3)]
    ledger.add_addresses(DepositAddress(a, f"mnemonic:{i}") for i, a in enumerate(addresses))
    env = devnet_env(
        devnet,
        database_url=db,
        broker_url="memory://",
        destination=hot,
        mnemonic_file=str(tmp_path / "m.txt"),
        confirmations=1,
        poll_seconds=0.2,
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ledger, hot, addresses


def test_sweep_local_drives_one_address_to_confirmed_and_reports_it(
    devnet: Devnet, cli_env: tuple[Ledger, str, list[str]]
) -> None:
    ledger, hot, addresses = cli_env
    devnet.chain.fund(addresses[0], 1 * TRX)
    devnet.chain.mint(addresses[0], 42 * USDT)
    devnet.chain.produce_blocks(1)
    result = CliRunner().invoke(app, ["sweep", addresses[0], "--local", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    assert "CONFIRMED" in result.output
    assert devnet.chain.token_balance(hot) == 1 + 42 * USDT
    assert [s.state for s in ledger.sweeps(address=addresses[0])] == [SweepState.CONFIRMED]


def test_sweep_rejects_a_bad_address_and_an_unwatched_one(cli_env: tuple[Ledger, str, list[str]]) -> None:
    bad = CliRunner().invoke(app, ["sweep", "TNotAnAddress", "--local"])
    assert bad.exit_code == 2 and "not a valid TRON address" in bad.output
    _, stranger = generate_key()
    unwatched = CliRunner().invoke(app, ["sweep", stranger, "--local"])
    assert unwatched.exit_code == 2 and "not a watched deposit address" in unwatched.output


def test_scan_local_finds_deposits_in_new_blocks_and_opens_sweeps(
    devnet: Devnet, cli_env: tuple[Ledger, str, list[str]]
) -> None:
    ledger, _, addresses = cli_env
    ledger.set_cursor("blocks", devnet.chain.head_number())
    devnet.chain.mint(addresses[1], 30 * USDT)
    devnet.chain.mint(addresses[2], USDT // 10)  # dust: recorded and skipped with its reason
    devnet.chain.produce_blocks(4)
    result = CliRunner().invoke(app, ["scan", "--local"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "2 transfers to watched addresses (2 address and token pairs), 2 sweeps opened" in said
    opened = {s.address: s for s in ledger.sweeps()}
    assert set(opened) == {addresses[1], addresses[2]}


def test_config_check_lists_every_problem_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in list(os.environ):
        if key.startswith("SWEEPER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPER_DESTINATION", "TBad")
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "tronzap")
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 2
    assert "SWEEPER_DESTINATION" in result.output
    assert "SWEEPER_ENERGY__TRONZAP__API_TOKEN" in result.output


@pytest.mark.parametrize(("order", "warned"), [("itrx,tronzap", True), ("itrx,burn", False)])
def test_config_check_says_when_nothing_can_pay_a_second_transfers_bandwidth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, order: str, warned: bool
) -> None:
    for key in list(os.environ):
        if key.startswith("SWEEPER_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPER_DESTINATION", "TPP5NBKiMX8AjS4fyao2Nj6AhFFCqDXgWS")
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", order)
    for name in ("ITRX__API_KEY", "ITRX__API_SECRET", "TRONZAP__API_TOKEN", "TRONZAP__API_SECRET"):
        monkeypatch.setenv(f"SWEEPER_ENERGY__{name}", "x")
    monkeypatch.setenv("SWEEPER_ENERGY__BURN__GAS_WALLET", "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3")
    result = CliRunner().invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert ("no bandwidth source" in result.output) is warned
    assert ("'stake'" in result.output and "'burn'" in result.output) is warned


def test_sweeper_devnet_serves_and_prints_all_four_ports(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tasks.cli", "devnet", "--port", "0", "--block-time", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        seen = ""
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while time.monotonic() < deadline and not all(n in seen for n in ("itrx", "ea888fee", "tronzap")):
            seen += proc.stdout.readline()
        assert all(name in seen for name in ("node", "itrx", "ea888fee", "tronzap")), seen
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
