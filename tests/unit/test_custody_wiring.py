"""Which keyring each process shape gets (tasks/custody.py): keys behind the policy, the signer client,
or — the receiver, given no request key — signers that refuse."""

from __future__ import annotations

import pytest

from config.settings import Settings
from sweeper.chain.intent import Intent
from sweeper.custody.guarded import PolicyKeyring
from sweeper.errors import SignerRejected
from sweeper.keys import RemoteKeyring
from sweeper.ledger import Ledger, create_engine_for
from tasks.custody import build_keyring, policy_config
from tests.fixtures.db import tron_address
from tests.support.raw_tx import trc20_transfer

pytestmark = pytest.mark.unit

HOT = tron_address("wiring-hot")
A = tron_address("wiring-deposit")


def settings(**keys: object) -> Settings:
    return Settings(_env_file=None, destination=HOT, keys=keys, energy={"order": []})  # type: ignore[call-arg]


def test_a_process_with_a_signer_url_but_no_request_key_builds_signers_that_refuse(tmp_path) -> None:
    ledger = Ledger(create_engine_for(f"sqlite:///{tmp_path / 'l.sqlite3'}"))
    keyring = build_keyring(settings(remote_signer_url="http://127.0.0.1:1/"), ledger, lambda: 0)
    signer = keyring.signer_for(A)
    assert signer.address == A
    with pytest.raises(SignerRejected):
        signer.probe()
    with pytest.raises(SignerRejected):
        signer.sign_transaction({}, Intent("trx_transfer", "TRX", 1, HOT))


def test_a_worker_with_a_request_key_gets_the_signer_client_and_no_keys(tmp_path, monkeypatch) -> None:
    key = tmp_path / "hmac"
    key.write_text("q" * 40)
    monkeypatch.setenv("SWEEPER_SIGNER__HMAC_KEY_FILE", str(key))
    ledger = Ledger(create_engine_for(f"sqlite:///{tmp_path / 'l.sqlite3'}"))
    s = Settings(
        _env_file=None,
        destination=HOT,
        keys={"remote_signer_url": "http://127.0.0.1:1/"},
        energy={"order": []},
    )  # type: ignore[call-arg]
    assert isinstance(build_keyring(s, ledger, lambda: 0), RemoteKeyring)


def test_without_a_signer_url_local_keys_sit_behind_the_policy_with_the_one_fee_ceiling(tmp_path) -> None:
    ledger = Ledger(create_engine_for(f"sqlite:///{tmp_path / 'l.sqlite3'}"))
    s = settings()
    keyring = build_keyring(s, ledger, lambda: 0)
    assert isinstance(keyring, PolicyKeyring)
    config = policy_config(s)
    assert config.max_fee_limit_sun == s.energy.max_fee_limit_sun
    assert config.destinations == s.destinations() and config.trx_destination == HOT


def test_local_signing_goes_through_the_same_policy(tmp_path) -> None:
    from sweeper.chain.txid import txid
    from sweeper.custody.policy import PolicyConfig, SigningPolicy
    from sweeper.errors import SigningRefused
    from sweeper.keys import MnemonicKeyring
    from sweeper.keys.local import recover_address
    from sweeper.models import USDT_MAINNET
    from tasks.devnet_profile import DEVNET_MNEMONIC

    ring = MnemonicKeyring(DEVNET_MNEMONIC, scan_limit=2)
    deposit = ring.derive(1)
    config = PolicyConfig({USDT_MAINNET: HOT}, HOT, None, 0, None, max_fee_limit_sun=50_000_000)
    policy = SigningPolicy(config, lambda a: a == deposit, clock_ms=lambda: 1_700_000_000_000)
    signer = PolicyKeyring(ring, policy).signer_for(deposit)

    def transfer(to: str) -> dict[str, object]:
        return trc20_transfer(deposit, to, 7, now_ms=1_700_000_000_000)

    good = transfer(HOT)
    signature = signer.sign_transaction(good, Intent("trc20_transfer", USDT_MAINNET, 7, HOT))
    assert recover_address(bytes.fromhex(txid(good)), signature) == deposit
    with pytest.raises(SigningRefused) as info:
        signer.sign_transaction(transfer(A), Intent("trc20_transfer", USDT_MAINNET, 7, A))
    assert info.value.reason == "destination" and policy.refusals["destination"] == 1
