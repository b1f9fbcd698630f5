"""``sweeper status | retry | migrate`` against a real SQLite ledger, needing only SWEEPER_DATABASE_URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sweeper.ledger import DepositAddress, Ledger, Sweep, create_engine_for
from sweeper.models import SweepState
from tasks.cli_status import register
from tests.fixtures.db import HOT_WALLET, USDT, tron_address

pytestmark = pytest.mark.integration


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite ledger path, and an environment with no energy credentials (full settings do not load)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("SWEEPER_DESTINATION", "SWEEPER_ENERGY__ORDER", "SWEEPER_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    monkeypatch.setenv("SWEEPER_DATABASE_URL", url)
    return url


def run(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def migrated(cli: typer.Typer, database_url: str) -> Iterator[Ledger]:
    code, output = run(cli, "migrate")
    assert code == 0, output
    ledger = Ledger(create_engine_for(database_url))
    yield ledger
    ledger.engine.dispose()


def sweep_in(ledger: Ledger, seed: str, state: SweepState, *, amount: int, cost: int = 0) -> Sweep:
    address = tron_address(seed)
    ledger.add_addresses([DepositAddress(address, f"mnemonic:{len(seed)}")])
    sweep = ledger.open_sweep(address, USDT, amount, HOT_WALLET)
    assert sweep is not None
    if state is not SweepState.DETECTED:
        assert ledger.transition(
            sweep.id, SweepState.DETECTED, state, add_cost=cost, reason=state.value.lower()
        )
    found = ledger.get_sweep(sweep.id)
    assert found is not None
    return found


@pytest.fixture
def populated(migrated: Ledger) -> dict[str, Sweep]:
    return {
        "confirmed": sweep_in(migrated, "a", SweepState.CONFIRMED, amount=5_000_000, cost=3_250_000),
        "confirmed2": sweep_in(migrated, "bb", SweepState.CONFIRMED, amount=2_500_000, cost=1_000_000),
        "failed": sweep_in(migrated, "ccc", SweepState.FAILED, amount=7_000_000),
        "waiting": sweep_in(migrated, "dddd", SweepState.DETECTED, amount=1_000_000),
    }


def test_migrate_brings_a_fresh_database_to_the_latest_revision_and_can_run_again(
    cli: typer.Typer, database_url: str
) -> None:
    first = run(cli, "migrate")
    second = run(cli, "migrate")

    assert first[0] == second[0] == 0
    assert "is at revision 0004_deployment_id" in second[1]  # the newest migration shipped


def test_status_on_a_database_that_was_never_migrated_says_what_to_do(
    cli: typer.Typer, database_url: str
) -> None:
    code, output = run(cli, "status")

    assert code == 1
    assert "not migrated" in output and "sweeper migrate" in output


def test_status_shows_totals_by_state_and_token_then_the_latest_sweeps(
    cli: typer.Typer, populated: dict[str, Sweep]
) -> None:
    code, output = run(cli, "status")

    assert code == 0, output
    lines = output.splitlines()
    confirmed_row = next(
        line for line in lines if "CONFIRMED" in line and "USDT" in line and "7.500000" in line
    )
    assert "4.25" in confirmed_row  # 3.25 + 1.00 TRX
    assert "Latest sweeps" in output
    assert populated["failed"].address in output
    assert populated["waiting"].address in output


def test_status_json_is_machine_readable_with_integer_money(
    cli: typer.Typer, populated: dict[str, Sweep]
) -> None:
    code, output = run(cli, "status", "--json")

    assert code == 0, output
    document = json.loads(output)
    summary = {(row["state"], row["token"]): row for row in document["summary"]}
    confirmed = summary[("CONFIRMED", "USDT")]
    assert (confirmed["count"], confirmed["amount"], confirmed["cost_sun"]) == (2, 7_500_000, 4_250_000)
    assert (confirmed["amount_tokens"], confirmed["cost_trx"]) == ("7.500000", "4.25")
    assert summary[("FAILED", "USDT")]["count"] == 1
    assert [s["id"] for s in document["sweeps"]] == sorted((s.id for s in populated.values()), reverse=True)
    assert all(isinstance(s["amount"], int) and s["destination"] == HOT_WALLET for s in document["sweeps"])


def test_status_can_list_one_state_and_limit_the_list(cli: typer.Typer, populated: dict[str, Sweep]) -> None:
    _, failed = run(cli, "status", "--json", "--state", "failed")
    _, newest = run(cli, "status", "--json", "--limit", "1")

    assert [s["id"] for s in json.loads(failed)["sweeps"]] == [populated["failed"].id]
    assert [s["id"] for s in json.loads(newest)["sweeps"]] == [populated["waiting"].id]


def test_status_refuses_an_unknown_state(cli: typer.Typer, populated: dict[str, Sweep]) -> None:
    code, output = run(cli, "status", "--state", "LOST")

    assert code == 2
    assert "unknown state" in output and "CONFIRMED" in output


def test_retry_reopens_a_failed_sweep_as_its_next_attempt(
    cli: typer.Typer, migrated: Ledger, populated: dict[str, Sweep]
) -> None:
    failed = populated["failed"]

    code, output = run(cli, "retry", str(failed.id))

    assert code == 0, output
    assert f"sweep {failed.id} re-opened" in output
    reopened = migrated.get_sweep(failed.id)
    assert reopened is not None
    assert (reopened.state, reopened.attempt, reopened.destination) == (SweepState.DETECTED, 1, HOT_WALLET)
    assert migrated.history(failed.id)[-1].reason == "retry_by_operator"


def test_retry_refuses_a_confirmed_sweep_and_changes_nothing(
    cli: typer.Typer, migrated: Ledger, populated: dict[str, Sweep]
) -> None:
    confirmed = populated["confirmed"]

    code, output = run(cli, "retry", str(confirmed.id))

    assert code == 1
    assert "is CONFIRMED; only FAILED sweeps can be retried" in output
    assert migrated.get_sweep(confirmed.id) == confirmed


def test_retry_of_an_unknown_sweep_says_so(cli: typer.Typer, populated: dict[str, Sweep]) -> None:
    code, output = run(cli, "retry", "999")

    assert code == 1
    assert "no sweep 999" in output


def test_the_full_configuration_is_used_when_it_loads(
    cli: typer.Typer, populated: dict[str, Sweep], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPER_DESTINATION", HOT_WALLET)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "burn")
    monkeypatch.setenv("SWEEPER_ENERGY__BURN__GAS_WALLET", tron_address("gas"))
    monkeypatch.setenv(
        "SWEEPER_TOKENS",
        json.dumps([{"symbol": "USDT", "contract": USDT.contract, "decimals": 3, "min_amount": 1}]),
    )

    code, output = run(cli, "status", "--json")

    assert code == 0, output
    summary = {(r["state"], r["token"]): r for r in json.loads(output)["summary"]}
    assert summary[("CONFIRMED", "USDT")]["amount_tokens"] == "7500.000"


def test_retry_skipped_reopens_a_fee_cap_skip_only_with_the_flag(cli: typer.Typer, migrated: Ledger) -> None:
    skipped = sweep_in(migrated, "eeeee", SweepState.SKIPPED, amount=3_000_000)

    refused, refused_out = run(cli, "retry", str(skipped.id))
    code, output = run(cli, "retry", "--skipped", str(skipped.id))
    again, again_out = run(cli, "retry", "--skipped", str(skipped.id))

    assert refused == 1 and "re-open it with --skipped" in refused_out
    assert code == 0, output
    reopened = migrated.get_sweep(skipped.id)
    assert reopened is not None and (reopened.state, reopened.attempt) == (SweepState.DETECTED, 1)
    assert migrated.history(skipped.id)[-1].reason == "retry_by_operator"
    assert again == 1 and "only SKIPPED sweeps" in again_out  # a compare-and-set: once


def test_retry_skipped_never_reopens_a_confirmed_sweep(
    cli: typer.Typer, migrated: Ledger, populated: dict[str, Sweep]
) -> None:
    confirmed = populated["confirmed"]

    code, _ = run(cli, "retry", "--skipped", str(confirmed.id))

    assert code == 1 and migrated.get_sweep(confirmed.id) == confirmed


def test_status_fits_80_columns_dropping_columns_and_wrapping_reasons(
    cli: typer.Typer, migrated: Ledger, populated: dict[str, Sweep]
) -> None:
    long_reason = sweep_in(migrated, "ffffff", SweepState.DETECTED, amount=1)
    migrated.transition(
        long_reason.id,
        SweepState.DETECTED,
        SweepState.SKIPPED,
        reason="fee_cap: the cheapest source costs 13.2 TRX, above SWEEPER_ENERGY__MAX_SUN_PER_SWEEP",
    )
    result = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80, result.output
    assert "…" not in result.output  # wrapped, never cut
    assert "SKIPPED" in result.output and "MAX_SUN_PER_SWEEP" in result.output.replace("\n", "")
