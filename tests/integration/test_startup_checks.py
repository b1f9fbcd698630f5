"""What stops a worker, the receiver or ``config check`` from starting: key files, watch list, secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from config.settings import Settings
from sweeper.ledger import DepositAddress, Ledger, create_engine_for, upgrade
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.startup import readiness
from tests.e2e.helpers import FAST_SCRYPT_N, KEYSTORE_PASSWORD
from tests.fixtures.db import HOT_WALLET, tron_address

pytestmark = pytest.mark.integration


@pytest.fixture
def base(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A valid configuration with a migrated, empty ledger and no keys yet."""
    for name in list(os.environ):
        if name.startswith("SWEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    upgrade(url)
    return {"SWEEPER_DATABASE_URL": url, "SWEEPER_DESTINATION": HOT_WALLET, "SWEEPER_ENERGY__ORDER": ""}


def settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def watch(env: dict[str, str], *rows: DepositAddress) -> None:
    ledger = Ledger(create_engine_for(env["SWEEPER_DATABASE_URL"]))
    try:
        ledger.add_addresses(rows)
    finally:
        ledger.engine.dispose()


def test_a_mnemonic_file_that_is_not_there_is_one_clear_problem(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "run" / "secrets" / "sweeper-mnemonic"
    found = readiness(settings(monkeypatch, {**base, "SWEEPER_KEYS__MNEMONIC_FILE": str(missing)}))
    assert found.problems == [
        f"SWEEPER_KEYS__MNEMONIC_FILE: cannot read {missing} (No such file or directory)"
    ]


def test_a_mnemonic_that_is_not_bip39_is_refused_without_quoting_its_words(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    phrase = tmp_path / "mnemonic.txt"
    phrase.write_text("correct horse battery staple " * 3)
    found = readiness(settings(monkeypatch, {**base, "SWEEPER_KEYS__MNEMONIC_FILE": str(phrase)}))
    assert len(found.problems) == 1 and found.problems[0].startswith(
        "SWEEPER_KEYS__MNEMONIC_FILE: the mnemonic"
    )
    assert "horse" not in found.problems[0]


def test_a_keystore_that_cannot_be_opened_is_a_problem(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from sweeper.keys import KeystoreKeyring

    path = tmp_path / "keystore.json"
    KeystoreKeyring.create(path, KEYSTORE_PASSWORD, scrypt_n=FAST_SCRYPT_N)
    wrong = readiness(
        settings(
            monkeypatch,
            {**base, "SWEEPER_KEYS__KEYSTORE_FILE": str(path), "SWEEPER_KEYS__KEYSTORE_PASSWORD": "not it"},
        )
    )
    missing = readiness(
        settings(monkeypatch, {**base, "SWEEPER_KEYS__KEYSTORE_FILE": str(tmp_path / "nope")})
    )
    assert [p.split(":")[0] for p in wrong.problems + missing.problems] == ["SWEEPER_KEYS__KEYSTORE_FILE"] * 2
    assert "not it" not in wrong.problems[0] and "does not exist" in missing.problems[0]


def test_watched_addresses_without_any_key_source_are_refused(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert readiness(settings(monkeypatch, base)).problems == []  # nothing watched yet: nothing to sign
    address = tron_address("external-row")
    watch(base, DepositAddress(address, f"external:{address}"))

    found = readiness(settings(monkeypatch, base))

    assert found.problems == [
        "1 addresses are watched but no key is configured: set SWEEPER_KEYS__MNEMONIC_FILE, "
        "SWEEPER_KEYS__KEYSTORE_FILE or SWEEPER_KEYS__REMOTE_SIGNER_URL"
    ]


def test_mnemonic_derived_addresses_without_a_mnemonic_are_refused(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(base, DepositAddress(tron_address("derived"), "mnemonic:0"))
    env = {**base, "SWEEPER_KEYS__KEYSTORE_FILE": ""}

    assert readiness(settings(monkeypatch, env)).problems == [
        "1 addresses are watched but no key is configured: set SWEEPER_KEYS__MNEMONIC_FILE, "
        "SWEEPER_KEYS__KEYSTORE_FILE or SWEEPER_KEYS__REMOTE_SIGNER_URL"
    ]


def test_with_a_signer_service_a_worker_needs_its_request_key_and_holds_no_key(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    watch(base, DepositAddress(tron_address("derived"), "mnemonic:0"))
    remote = {**base, "SWEEPER_KEYS__REMOTE_SIGNER_URL": "http://127.0.0.1:1/"}
    assert readiness(settings(monkeypatch, remote)).problems == [
        "SWEEPER_KEYS__REMOTE_SIGNER_URL needs SWEEPER_SIGNER__HMAC_KEY_FILE (the signer's request key)"
    ]
    assert readiness(settings(monkeypatch, remote), signs=False).problems == []  # the receiver

    key = tmp_path / "hmac"
    key.write_text("r" * 40)
    worker = {**remote, "SWEEPER_SIGNER__HMAC_KEY_FILE": str(key)}
    assert readiness(settings(monkeypatch, worker)).problems == []  # the service holds the mnemonic
    phrase = tmp_path / "mnemonic.txt"
    phrase.write_text(DEVNET_MNEMONIC)
    both = {**worker, "SWEEPER_KEYS__MNEMONIC_FILE": str(phrase)}
    [problem] = readiness(settings(monkeypatch, both)).problems
    assert problem.startswith("SWEEPER_KEYS__REMOTE_SIGNER_URL is set and so are keys")
    key.write_text("short")
    assert readiness(settings(monkeypatch, {**worker, "SWEEPER_KEYS__MNEMONIC_FILE": ""})).problems == [
        "SWEEPER_SIGNER__HMAC_KEY(_FILE): the key must be at least 32 bytes"
    ]


def test_placeholder_secrets_from_the_example_file_are_refused_by_name(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    phrase = tmp_path / "mnemonic.txt"
    phrase.write_text(DEVNET_MNEMONIC)
    env = {
        **base,
        "SWEEPER_KEYS__MNEMONIC_FILE": str(phrase),
        "SWEEPER_ENERGY__ITRX__API_KEY": "change-me",
        "SWEEPER_ENERGY__TRONZAP__API_SECRET": "Change-Me",
        "SWEEPER_KEYS__KEYSTORE_PASSWORD": "a real one",
    }

    found = readiness(settings(monkeypatch, env))

    assert found.problems == [
        "SWEEPER_ENERGY__ITRX__API_KEY is still the placeholder from .env.example: "
        "set the real secret or empty it",
        "SWEEPER_ENERGY__TRONZAP__API_SECRET is still the placeholder from .env.example: "
        "set the real secret or empty it",
    ]


def test_an_own_wallet_on_the_watch_list_is_a_warning(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    watch(base, DepositAddress(HOT_WALLET, "mnemonic:0"))
    found = readiness(settings(monkeypatch, {**base, "SWEEPER_KEYS__MNEMONIC": DEVNET_MNEMONIC}))
    assert found.problems == []
    assert found.warnings == [
        f"{HOT_WALLET}, the hot wallet (SWEEPER_DESTINATION), is on the watch list; it is never swept"
    ]


def test_a_ledger_that_is_not_migrated_or_not_there_says_nothing_about_the_watch_list(
    base: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {**base, "SWEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}
    assert readiness(settings(monkeypatch, env)).problems == []
