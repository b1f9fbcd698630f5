"""``sweeper pause | resume | release`` and what ``sweeper status`` shows of the spend guards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sweeper.ledger import DepositAddress, Ledger, create_engine_for
from sweeper.ledger.controls import SpendControls
from sweeper.models import SweepState
from tasks.cli_guards import register as register_guards
from tasks.cli_status import register as register_status
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = pytest.mark.integration


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register_status(app)
    register_guards(app)
    return app


def run(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def ledger(cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    monkeypatch.chdir(tmp_path)
    for name in ("SWEEPER_DESTINATION", "SWEEPER_ENERGY__ORDER", "SWEEPER_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("SWEEPER_DATABASE_URL", url)
    assert run(cli, "migrate")[0] == 0
    ledger = Ledger(create_engine_for(url))
    yield ledger
    ledger.engine.dispose()


def failed_sweep(ledger: Ledger, seed: str) -> tuple[str, int]:
    address = tron_address(seed)
    ledger.add_addresses([DepositAddress(address, f"external:{address}")])
    sweep = ledger.open_sweep(address, USDT, 5_000_000, HOT_WALLET)
    assert sweep is not None
    ledger.transition(sweep.id, SweepState.DETECTED, SweepState.FAILED, reason="unknown_key: no signer")
    return address, sweep.id


def test_pause_is_seen_in_the_ledger_by_every_worker_and_resume_lifts_it(
    cli: typer.Typer, ledger: Ledger
) -> None:
    code, output = run(cli, "pause", "--reason", "itrx balance draining")
    assert code == 0 and "spending paused" in output
    assert SpendControls(ledger).pause_state().note == "itrx balance draining"

    code, output = run(cli, "pause")
    assert code == 0 and "already paused" in output and "itrx balance draining" in output

    code, output = run(cli, "status")
    assert code == 0 and "spending: PAUSED" in output and "sweeper resume" in output
    document = json.loads(run(cli, "status", "--json")[1])
    assert document["spending"]["paused"] is True and document["spending"]["note"] == "itrx balance draining"

    assert run(cli, "resume") == (0, "spending resumed\n")
    assert not SpendControls(ledger).paused()
    assert run(cli, "resume") == (0, "spending was not paused\n")
    assert json.loads(run(cli, "status", "--json")[1])["spending"]["paused"] is False


def test_status_lists_quarantined_addresses_and_release_frees_one(cli: typer.Typer, ledger: Ledger) -> None:
    address, sweep_id = failed_sweep(ledger, "quarantined-1")

    document = json.loads(run(cli, "status", "--json")[1])
    assert document["quarantined"]["count"] == 1
    (held,) = document["quarantined"]["addresses"]
    assert (held["address"], held["sweep_id"]) == (address, sweep_id)
    assert held["reason"].startswith("unknown_key")
    assert f"{address}" in run(cli, "status")[1]

    code, output = run(cli, "release", address, "--reason", "key restored")
    assert code == 0, output
    assert f"released {address}" in output and f"sweep {sweep_id}" in output
    assert SpendControls(ledger).quarantined(address) is None
    assert json.loads(run(cli, "status", "--json")[1])["quarantined"]["count"] == 0


def test_release_of_an_address_that_is_not_quarantined_or_not_an_address_says_so(
    cli: typer.Typer, ledger: Ledger
) -> None:
    address = tron_address("never-failed")
    code, output = run(cli, "release", address)
    assert code == 1 and f"{address} is not quarantined" in output

    code, output = run(cli, "release", "T-not-an-address")
    assert code == 2 and "not a TRON base58 address" in output


def test_status_shows_the_hourly_spend_against_its_budget_and_crossings(
    cli: typer.Typer, ledger: Ledger
) -> None:
    _, sweep_id = failed_sweep(ledger, "spender")
    ledger.record_order_request(sweep_id, "energy", "itrx", "sw1a0o1", 65_000, quoted_sun=3_250_000)
    SpendControls(ledger).record_crossing("sun_per_hour", "deployment", datetime.now(UTC), 9, 8)

    document = json.loads(run(cli, "status", "--json")[1])

    spending = document["spending"]
    assert spending["spent_last_hour_sun"] == 3_250_000
    assert spending["sun_per_hour_budget"] == 2_000_000_000
    assert spending["budget_crossings_24h"] == {"sun_per_hour": 1}
    output = run(cli, "status")[1]
    assert "energy spend in the last hour: 3.25 TRX (budget 2000 TRX)" in output
    assert "sun_per_hour 1" in output


def test_status_shows_the_sweeps_in_flight_against_the_cap_and_says_when_new_ones_queue(
    cli: typer.Typer, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPER_BUDGET__SWEEPS_IN_FLIGHT", "2")
    addresses = [tron_address(f"flying-{i}") for i in range(3)]
    ledger.add_addresses([DepositAddress(a, f"external:{a}") for a in addresses])
    sweeps = [ledger.open_sweep(a, USDT, 5_000_000, HOT_WALLET) for a in addresses]
    ledger.transition(sweeps[0].id, SweepState.DETECTED, SweepState.ENERGY_ORDERED)  # type: ignore[union-attr]

    spending = json.loads(run(cli, "status", "--json")[1])["spending"]
    assert (spending["in_flight"], spending["in_flight_cap"], spending["detected"]) == (1, 2, 2)
    assert "sweeps between order and broadcast: 1 (cap 2); DETECTED: 2" in run(cli, "status")[1]

    ledger.transition(sweeps[1].id, SweepState.DETECTED, SweepState.ENERGY_READY)  # type: ignore[union-attr]
    output = run(cli, "status")[1]
    assert "sweeps between order and broadcast: 2 (cap 2); DETECTED: 1" in output
    assert "new sweeps queue unpaid until one is sent" in output
