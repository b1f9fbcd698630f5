"""``sweeper energy quotes`` and ``balances`` against the devnet's providers, configured by environment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from devnet.crypto import generate_key
from devnet.providers.common import (
    EA888FEE_API_KEY,
    EA888FEE_API_SECRET,
    ITRX_API_KEY,
    ITRX_API_SECRET,
    TRONZAP_API_TOKEN,
)
from devnet.server import Devnet
from tasks.cli_energy import energy_app
from tasks.cli_output import quiet_logging

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2) as devnet:
        yield devnet


@pytest.fixture
def env(node: Devnet, monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    _, hot = generate_key()
    values = {
        "SWEEPER_TRON__NODE_URL": node.node_url,
        "SWEEPER_DESTINATION": hot,
        "SWEEPER_TOKENS": '[{"symbol":"USDT","contract":"TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t","decimals":6,'
        '"min_amount":1000000}]',
        "SWEEPER_ENERGY__ORDER": "itrx,ea888fee,tronzap",
        "SWEEPER_ENERGY__ITRX__BASE_URL": node.itrx_url,
        "SWEEPER_ENERGY__ITRX__API_KEY": ITRX_API_KEY,
        "SWEEPER_ENERGY__ITRX__API_SECRET": ITRX_API_SECRET,
        "SWEEPER_ENERGY__EA888FEE__BASE_URL": node.ea888fee_url,
        "SWEEPER_ENERGY__EA888FEE__API_KEY": EA888FEE_API_KEY,
        "SWEEPER_ENERGY__EA888FEE__API_SECRET": EA888FEE_API_SECRET,
        "SWEEPER_ENERGY__TRONZAP__BASE_URL": node.tronzap_url,
        "SWEEPER_ENERGY__TRONZAP__API_TOKEN": TRONZAP_API_TOKEN,
        "SWEEPER_ENERGY__TRONZAP__API_SECRET": "wrong secret",
        "COLUMNS": "220",
    }
    monkeypatch.chdir(tmp_path)  # no stray .env
    return values


def test_quotes_lists_every_source_cheapest_first_with_errors_per_row(node, env):
    _, deposit = generate_key()
    httpx.post(node.node_url + "devnet/fund", json={"address": deposit, "sun": 1_000_000}).raise_for_status()
    result = CliRunner().invoke(energy_app, ["quotes", "--address", deposit], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    rows = [line for line in lines if line.startswith("│")]
    order = [row.split("│")[1].strip() for row in rows if row.split("│")[1].strip()]
    assert order[:2] == ["ea888fee", "itrx"]  # 131,000 energy: ea888fee 45 sun/energy, itrx 60
    assert "tronzap" in order and "provider_auth" in result.output
    assert "wrong secret" not in result.output and ITRX_API_SECRET not in result.output


def test_balances_lists_each_account(env):
    result = CliRunner().invoke(energy_app, ["balances"], env=env)
    assert result.exit_code == 0, result.output
    assert "10,000,000.000000" in result.output  # the devnet's itrx and ea888fee accounts
    assert "provider_auth" in result.output  # tronzap with a wrong secret


def test_quotes_json_on_stdout_holds_no_log_line(node, env, tmp_path):
    """Run as the operator does: logs go to stderr (warnings only), stdout is one JSON document."""
    _, deposit = generate_key()
    httpx.post(node.node_url + "devnet/fund", json={"address": deposit, "sun": 1_000_000}).raise_for_status()
    result = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "energy", "quotes", "--address", deposit, "--json"],
        env={**env, "PATH": "/usr/bin:/bin", "SWEEPER_LOG_LEVEL": "DEBUG"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [q["source"] for q in document["quotes"]][:2] == ["ea888fee", "itrx"]
    assert [e["source"] for e in document["errors"]] == ["tronzap"]
    assert all(isinstance(q["total_sun"], int) for q in document["quotes"])
    assert "tron.request" not in result.stdout + result.stderr  # debug lines only with --verbose


def test_balances_need_no_destination_and_speak_json(env):
    without_wallet = {k: v for k, v in env.items() if k != "SWEEPER_DESTINATION"}
    quiet_logging(verbose=False)  # as `sweeper` does before any command
    result = CliRunner().invoke(
        energy_app, ["balances", "--json"], env={**without_wallet, "SWEEPER_DESTINATION": ""}
    )

    assert result.exit_code == 0, result.output
    balances = {row["source"]: row for row in json.loads(result.stdout)["balances"]}
    assert balances["itrx"]["balance_sun"] == 10_000_000 * 1_000_000
    assert balances["tronzap"]["balance_sun"] is None and "provider_auth" in balances["tronzap"]["error"]


def test_quotes_show_why_a_rental_too_short_for_the_sweep_would_never_be_chosen(node, env):
    _, deposit = generate_key()
    httpx.post(node.node_url + "devnet/fund", json={"address": deposit, "sun": 1_000_000}).raise_for_status()
    long_wait = {**env, "SWEEPER_ORDER_TIMEOUT_SECONDS": "7200"}  # the energy must outlast two hours
    quiet_logging(verbose=False)  # as `sweeper` does before any command (an earlier test may have set DEBUG)
    result = CliRunner().invoke(energy_app, ["quotes", "--address", deposit, "--json"], env=long_wait)
    assert result.exit_code == 0, result.output
    quotes = json.loads(result.stdout)["quotes"]
    hourly = [q for q in quotes if q["duration"] == "1H"]
    assert {q["source"] for q in hourly} >= {"itrx", "ea888fee"}
    assert all(q["excluded"] == "too_short" and "the sweep needs 7260 s" in q["why"] for q in hourly)
    kept = [q["excluded"] is None for q in quotes]
    assert kept == sorted(kept, reverse=True)  # excluded quotes are listed last
