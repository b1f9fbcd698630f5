"""``sweeper addresses derive|import|list`` through typer's CliRunner, on a SQLite ledger of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mnemonic import Mnemonic
from tronpy import Tron
from typer.testing import CliRunner

from sweeper.ledger import DepositAddress, Ledger, create_engine_for
from tasks.cli_addresses import addresses_app
from tests.fixtures.db import HOT_WALLET, tron_address

pytestmark = pytest.mark.integration

MNEMONIC = Mnemonic("english").to_mnemonic(bytes(range(16)))
runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str) -> str:
    """Only our settings in the environment (no .env, no provider keys needed); the ledger URL."""
    for name in list(os.environ):
        if name.startswith("SWEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SWEEPER_DESTINATION", HOT_WALLET)
    monkeypatch.setenv("SWEEPER_ENERGY__ORDER", "")
    return sqlite_url


@pytest.fixture
def ledger_at(env: str) -> Iterator[Ledger]:
    """The same ledger the commands write to (migrated by the first command that runs)."""
    engine = create_engine_for(env)
    try:
        yield Ledger(engine)
    finally:
        engine.dispose()


def standard_address(index: int) -> str:
    """What a BIP44 wallet derives (tronpy's own implementation, independent of sweeper.keys)."""
    wallet = Tron(network="nile").generate_address_from_mnemonic(
        MNEMONIC, account_path=f"m/44'/195'/0'/0/{index}"
    )
    return str(wallet["base58check_address"])


def printed_pairs(stdout: str) -> list[tuple[int, str]]:
    return [(int(i), a) for i, a in (line.split("\t") for line in stdout.splitlines() if line)]


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "addresses.csv"
    path.write_text(text, encoding="utf-8")
    return path


def corrupt(address: str) -> str:
    return address[:-1] + ("a" if address[-1] != "a" else "b")


# --- derive -----------------------------------------------------------------------------------------


def test_derive_watches_and_prints_the_standard_bip44_addresses(
    monkeypatch: pytest.MonkeyPatch, ledger_at: Ledger
) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)

    result = runner.invoke(addresses_app, ["derive", "--count", "5"])

    assert result.exit_code == 0, result.output
    expected = [(i, standard_address(i)) for i in range(5)]
    assert printed_pairs(result.stdout) == expected
    for index, address in expected:
        stored = ledger_at.get_address(address)
        assert stored is not None and stored.key_ref == f"mnemonic:{index}"
    assert ledger_at.address_count() == 5
    assert "5 new" in result.stderr


def test_derive_reads_the_mnemonic_file_and_starts_at_the_given_index(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledger_at: Ledger
) -> None:
    phrase_file = tmp_path / "mnemonic.txt"
    phrase_file.write_text(MNEMONIC + "\n", encoding="utf-8")
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC_FILE", str(phrase_file))

    result = runner.invoke(addresses_app, ["derive", "--count", "2", "--start", "10"])

    assert result.exit_code == 0, result.output
    assert printed_pairs(result.stdout) == [(10, standard_address(10)), (11, standard_address(11))]
    assert ledger_at.get_address(standard_address(11)).key_ref == "mnemonic:11"  # type: ignore[union-attr]


def test_deriving_the_same_range_again_adds_nothing(
    monkeypatch: pytest.MonkeyPatch, ledger_at: Ledger
) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)
    runner.invoke(addresses_app, ["derive", "--count", "3"])

    again = runner.invoke(addresses_app, ["derive", "--count", "4"])

    assert again.exit_code == 0, again.output
    assert "1 new" in again.stderr
    assert ledger_at.address_count() == 4


def test_derive_never_prints_the_mnemonic(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)
    ok = runner.invoke(addresses_app, ["derive", "--count", "3"])
    bad_phrase = " ".join([*MNEMONIC.split()[:-1], "zoo"])  # a valid word list, a wrong checksum
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", bad_phrase)
    refused = runner.invoke(addresses_app, ["derive", "--count", "3"])

    assert ok.exit_code == 0 and refused.exit_code == 2
    assert "checksum" in refused.stderr
    for output in (ok.output, refused.output):
        for phrase in (MNEMONIC, bad_phrase):
            assert " ".join(phrase.split()[:3]) not in output


def test_derive_without_a_mnemonic_says_which_variable_to_set(env: str) -> None:
    result = runner.invoke(addresses_app, ["derive", "--count", "1"])
    assert result.exit_code == 2
    assert "SWEEPER_KEYS__MNEMONIC_FILE" in result.stderr


# --- import -----------------------------------------------------------------------------------------


def test_an_import_with_bad_rows_lists_each_by_line_and_imports_nothing(
    tmp_path: Path, ledger_at: Ledger
) -> None:
    runner.invoke(addresses_app, ["list"])  # migrates the ledger
    taken = tron_address("taken")
    ledger_at.add_addresses([DepositAddress(taken, "mnemonic:7")])
    good = [tron_address(f"good-{i}") for i in range(3)]
    private_key = "ab" * 32
    path = write_csv(
        tmp_path,
        "address,label,key_ref\n"  # line 1
        f"{good[0]},alice,keystore:{good[0]}\n"  # 2 ok
        f"{corrupt(good[1])},bob\n"  # 3 bad checksum
        f"{good[2]}\n"  # 4 ok
        f"{good[0]},alice-again\n"  # 5 duplicate of line 2
        f"{taken},,keystore:{taken}\n"  # 6 already watched under mnemonic:7
        f"{tron_address('x')},carol,hex:{private_key}\n"  # 7 a key where a reference belongs
        f"{tron_address('y')},a,b,c\n"  # 8 too many columns
        "not-an-address\n",  # 9
    )

    result = runner.invoke(addresses_app, ["import", str(path)])

    assert result.exit_code == 2, result.output
    problem_lines = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("line ")]
    assert [line.split(":")[0] for line in problem_lines] == [f"line {n}" for n in (3, 5, 6, 7, 8, 9)]
    assert "checksum" in problem_lines[0]
    assert "duplicate of line 2" in problem_lines[1]
    assert "another key reference" in problem_lines[2]
    assert private_key not in result.output
    assert "nothing imported" in result.stderr
    assert ledger_at.address_count() == 1
    assert ledger_at.is_watched(good) == set()


def test_a_good_csv_is_imported_completely_and_can_be_imported_again(
    tmp_path: Path, ledger_at: Ledger
) -> None:
    addresses = [tron_address(f"import-{i}") for i in range(4)]
    path = write_csv(
        tmp_path,
        "# exported from the old system\n"
        f"{addresses[0]}\n"
        f"{addresses[1]},vip\n"
        "\n"
        f"{addresses[2]},,remote:hsm-1/2\n"
        f'{addresses[3]},"label, with comma",keystore:{addresses[3]}\n',
    )

    first = runner.invoke(addresses_app, ["import", str(path)])
    again = runner.invoke(addresses_app, ["import", str(path)])

    assert first.exit_code == 0, first.output
    assert "4 new" in first.stdout
    assert again.exit_code == 0, again.output
    assert "0 new" in again.stdout
    stored = {a: ledger_at.get_address(a) for a in addresses}
    assert [(s.key_ref, s.label) for s in stored.values() if s is not None] == [
        (f"external:{addresses[0]}", None),
        (f"external:{addresses[1]}", "vip"),
        ("remote:hsm-1/2", None),
        (f"keystore:{addresses[3]}", "label, with comma"),
    ]


def test_a_header_may_name_the_columns_in_any_order(tmp_path: Path, ledger_at: Ledger) -> None:
    address = tron_address("ordered")
    path = write_csv(tmp_path, f"key_ref,address\nmnemonic:42,{address}\n")

    result = runner.invoke(addresses_app, ["import", str(path)])

    assert result.exit_code == 0, result.output
    assert ledger_at.get_address(address).key_ref == "mnemonic:42"  # type: ignore[union-attr]


# --- list -------------------------------------------------------------------------------------------


def test_list_prints_watched_addresses_with_their_key_references(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)
    runner.invoke(addresses_app, ["derive", "--count", "3"])

    result = runner.invoke(addresses_app, ["list", "--limit", "2"])

    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    derived = {standard_address(i): f"mnemonic:{i}" for i in range(3)}
    assert len(rows) == 2
    assert all(derived[address] == key_ref for address, key_ref, _label in rows)
    assert "2 of 3" in result.stderr


# --- our own wallets are never watched --------------------------------------------------------------


def test_derive_refuses_an_index_whose_address_is_the_hot_wallet_and_stores_nothing(
    monkeypatch: pytest.MonkeyPatch, ledger_at: Ledger
) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)
    monkeypatch.setenv("SWEEPER_DESTINATION", standard_address(0))  # index 0 is the hot wallet

    result = runner.invoke(addresses_app, ["derive", "--count", "3"])

    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"index 0 derives {standard_address(0)}, the hot wallet (SWEEPER_DESTINATION)" in message
    assert "--start 1" in message and "nothing was stored" in message
    assert ledger_at.address_count() == 0
    assert runner.invoke(addresses_app, ["derive", "--count", "3", "--start", "1"]).exit_code == 0
    assert ledger_at.address_count() == 3


def test_derive_refuses_the_gas_wallet_and_the_stake_owner_too(
    monkeypatch: pytest.MonkeyPatch, ledger_at: Ledger
) -> None:
    monkeypatch.setenv("SWEEPER_KEYS__MNEMONIC", MNEMONIC)
    monkeypatch.setenv("SWEEPER_ENERGY__STAKE__OWNER", standard_address(2))

    result = runner.invoke(addresses_app, ["derive", "--count", "4"])

    assert result.exit_code == 2
    assert "index 2" in result.output and "SWEEPER_ENERGY__STAKE__OWNER" in result.output
    assert ledger_at.address_count() == 0


def test_an_import_naming_the_hot_wallet_imports_nothing_and_says_which_line(
    tmp_path: Path, ledger_at: Ledger
) -> None:
    deposit = tron_address("csv-deposit")
    path = write_csv(tmp_path, f"{deposit},user 1\n{HOT_WALLET},the hot wallet by mistake\n")

    result = runner.invoke(addresses_app, ["import", str(path)])

    assert result.exit_code == 2
    assert (
        f"line 2: {HOT_WALLET} is the hot wallet (SWEEPER_DESTINATION) and is never watched" in result.output
    )
    assert ledger_at.address_count() == 0
