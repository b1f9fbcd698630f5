"""``sweeper energy quotes`` and ``balances`` pick MERX, Feee.io and CatFee up from the registry alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from devnet.crypto import generate_key
from devnet.server import Devnet
from tasks.cli_energy import energy_app
from tasks.devnet_profile import provider_env

pytestmark = pytest.mark.integration

NEW = ("merx", "feee", "catfee")


@pytest.fixture(scope="module")
def node() -> Iterator[Devnet]:
    with Devnet(port=0, block_time=0.2, solid_depth=2) as devnet:
        yield devnet


@pytest.fixture
def env(node: Devnet, monkeypatch: pytest.MonkeyPatch, tmp_path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return {
        **provider_env(node),  # URLs and sample credentials from each simulator's declaration
        "SWEEPER_TRON__NODE_URL": node.node_url,
        "SWEEPER_DESTINATION": generate_key()[1],
        "SWEEPER_ENERGY__ORDER": ",".join(NEW),
        "COLUMNS": "220",
    }


def rows(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        cells = line.split("│")
        if line.startswith("│") and cells[1].strip():
            found[cells[1].strip()] = line
    return found


def test_quotes_price_the_new_sources_cheapest_first(node: Devnet, env: dict[str, str]) -> None:
    _, deposit = generate_key()
    node.chain.fund(deposit, 1_000_000)
    node.chain.produce_blocks(1)

    result = CliRunner().invoke(energy_app, ["quotes", "--address", deposit, "--energy", "65000"], env=env)

    assert result.exit_code == 0, result.output
    quoted = rows(result.output)
    assert list(quoted)[:3] == ["merx", "feee", "catfee"]  # 44, 46 and 47 sun per energy on the devnet
    assert "2.860000" in quoted["merx"]  # 65,000 energy at 44 sun


def test_balances_read_each_new_account(env: dict[str, str]) -> None:
    result = CliRunner().invoke(energy_app, ["balances"], env=env)

    assert result.exit_code == 0, result.output
    listed = rows(result.output)
    assert all(name in listed and "10,000,000.000000" in listed[name] for name in NEW), result.output
