"""The signer service as a real process over HTTP: what its policy signs, and what it refuses and counts.

One ``sweeper signer`` process for the module, holding the devnet mnemonic (deposit addresses, the stake
owner) and the gas wallet's key in a Web3 keystore file; the ledger watches three deposit addresses.
Each test signs through the worker's own client (``RemoteSigner``) and reads the refusal counters from
the service's ``/metrics``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sweeper.chain.addresses import abi_word, to_hex
from sweeper.chain.intent import Intent
from sweeper.chain.txid import txid
from sweeper.custody.auth import sign_request
from sweeper.errors import SignerRejected, SigningRefused, SigningThrottled, UnknownKey
from sweeper.keys import LocalSigner, MnemonicKeyring, RemoteKeyring, SignerClient
from sweeper.keys.local import recover_address
from sweeper.keys.web3 import MIN_SCRYPT_N, write_keyfile
from sweeper.ledger import DepositAddress, Ledger, create_engine_for, upgrade
from sweeper.models import USDT_MAINNET
from tasks.devnet_profile import DEVNET_MNEMONIC
from tasks.processes import ProcessGroup, free_port
from tests.fixtures.db import tron_address

pytestmark = pytest.mark.integration

HOT = tron_address("signer-hot-wallet")
OTHER = tron_address("someone-else")
OTHER_TOKEN = tron_address("another-token")
GAS_KEY = bytes.fromhex("5a" * 32)
GAS = LocalSigner(GAS_KEY).address
RING = MnemonicKeyring(DEVNET_MNEMONIC)
STAKE = RING.derive(900)
DEPOSITS = [RING.derive(i) for i in range(4)]  # 0-2 watched, 3 derived but not watched
HMAC_KEY = "k" * 64
FEE_CEILING = 100_000_000
BURN_CAP = 15_000_000
RATE = 4


@dataclass
class Service:
    url: str
    keyring: RemoteKeyring
    processes: ProcessGroup

    def refusals(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        found = re.findall(r'^sweeper_signer_refusals_total\{reason="([a-z_]+)"\} ([0-9.]+)$', text, re.M)
        return {reason: float(count) for reason, count in found}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    workdir: Path = tmp_path_factory.mktemp("signer")
    url = f"sqlite:///{workdir / 'ledger.sqlite3'}"
    upgrade(url)
    ledger = Ledger(create_engine_for(url))
    ledger.add_addresses([DepositAddress(a, f"mnemonic:{i}", "") for i, a in enumerate(DEPOSITS[:3])])
    ledger.engine.dispose()
    secrets = workdir / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "mnemonic").write_text(DEVNET_MNEMONIC)
    (secrets / "hmac").write_text(HMAC_KEY)
    (secrets / "keystore-password").write_text("a keystore password")
    keystore = secrets / "keystore"
    keystore.mkdir(mode=0o700)
    write_keyfile(keystore / "gas.json", GAS_KEY, "a keystore password", scrypt_n=MIN_SCRYPT_N)
    env = {
        "SWEEPER_DATABASE_URL": url,
        "SWEEPER_DESTINATION": HOT,
        "SWEEPER_KEYS__MNEMONIC_FILE": str(secrets / "mnemonic"),
        "SWEEPER_KEYS__KEYSTORE_DIR": str(keystore),
        "SWEEPER_KEYS__KEYSTORE_PASSWORD_FILE": str(secrets / "keystore-password"),
        "SWEEPER_SIGNER__HMAC_KEY_FILE": str(secrets / "hmac"),
        "SWEEPER_SIGNER__RATE_PER_ADDRESS": str(RATE),
        "SWEEPER_ENERGY__MAX_FEE_LIMIT_SUN": str(FEE_CEILING),
        "SWEEPER_ENERGY__ORDER": "stake,burn",
        "SWEEPER_ENERGY__STAKE__OWNER": STAKE,
        "SWEEPER_ENERGY__BURN__GAS_WALLET": GAS,
        "SWEEPER_ENERGY__BURN__MAX_SUN_PER_SWEEP": str(BURN_CAP),
        "SWEEPER_LOG_FORMAT": "json",
    }
    group = ProcessGroup(env={}, workdir=workdir)
    port = free_port()
    try:
        group.signer(port, env)
        service_url = f"http://127.0.0.1:{port}"
        client = SignerClient(service_url, HMAC_KEY.encode())
        yield Service(service_url, RemoteKeyring(client), group)
        client.close()
    finally:
        group.stop()


def raw(kind: str, value: dict[str, Any], *, fee_limit: int | None = None, expires_in: int = 60_000) -> dict:
    now = int(time.time() * 1000)
    data: dict[str, Any] = {
        "contract": [
            {"parameter": {"value": value, "type_url": f"type.googleapis.com/protocol.{kind}"}, "type": kind}
        ],
        "ref_block_bytes": "261b",
        "ref_block_hash": "9e6e8091f5bd92dc",
        "expiration": now + expires_in,
        "timestamp": now,
    }
    if fee_limit is not None:
        data["fee_limit"] = fee_limit
    return data


def token_transfer(owner: str, to: str, amount: int, *, token: str = USDT_MAINNET, **kw: Any) -> dict:
    value = {
        "owner_address": to_hex(owner),
        "contract_address": to_hex(token),
        "data": "a9059cbb" + abi_word(to) + format(amount, "064x"),
        "call_token_value": 0,
        "call_value": 0,
        "token_id": 0,
    }
    return raw("TriggerSmartContract", value, fee_limit=kw.pop("fee_limit", 30_000_000), **kw)


def trx_transfer(owner: str, to: str, amount: int) -> dict:
    value = {"owner_address": to_hex(owner), "to_address": to_hex(to), "amount": amount}
    return raw("TransferContract", value)


def delegation(receiver: str, balance: int, *, undo: bool = False) -> dict:
    value: dict[str, Any] = {
        "owner_address": to_hex(STAKE),
        "receiver_address": to_hex(receiver),
        "balance": balance,
        "resource": "ENERGY",
    }
    if not undo:
        value["lock"] = False
    return raw("UnDelegateResourceContract" if undo else "DelegateResourceContract", value)


def sign(service: Service, owner: str, data: dict, intent: Intent) -> bytes:
    signature = service.keyring.signer_for(owner).sign_transaction(data, intent)
    assert recover_address(bytes.fromhex(txid(data)), signature) == owner
    return signature


def test_every_allowed_kind_of_transaction_is_signed(service: Service) -> None:
    d0, d1 = DEPOSITS[0], DEPOSITS[1]
    sign(
        service,
        d0,
        token_transfer(d0, HOT, 5_000_000),
        Intent("trc20_transfer", USDT_MAINNET, 5_000_000, HOT, 1),
    )
    sign(service, d0, trx_transfer(d0, HOT, 2_000_000), Intent("trx_transfer", "TRX", 2_000_000, HOT, 2))
    sign(service, GAS, trx_transfer(GAS, d1, BURN_CAP), Intent("trx_transfer", "TRX", BURN_CAP, d1, 3))
    sign(service, STAKE, delegation(d1, 7_000_000), Intent("delegate", "TRX", 7_000_000, d1, 3))
    sign(service, STAKE, delegation(d1, 7_000_000, undo=True), Intent("undelegate", "TRX", 7_000_000, d1, 3))
    for address in (d0, GAS, STAKE):
        service.keyring.signer_for(address).probe()  # the preflight's can-sign probe, nothing signed
    metrics = httpx.get(f"{service.url}/metrics", timeout=5).text
    for kind, count in (("trc20_transfer", 1), ("trx_transfer", 2), ("delegate", 1), ("undelegate", 1)):
        assert f'sweeper_signer_signed_total{{kind="{kind}"}} {count}.0' in metrics


REFUSED = [
    (
        "destination",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[2], OTHER, 9),
            Intent("trc20_transfer", USDT_MAINNET, 9, OTHER),
        ),
    ),
    (
        "token",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[2], HOT, 9, token=OTHER_TOKEN),
            Intent("trc20_transfer", OTHER_TOKEN, 9, HOT),
        ),
    ),
    (
        "fee_limit",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[2], HOT, 9, fee_limit=FEE_CEILING + 1),
            Intent("trc20_transfer", USDT_MAINNET, 9, HOT),
        ),
    ),
    (
        "expiration",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[2], HOT, 9, expires_in=23 * 3_600_000),
            Intent("trc20_transfer", USDT_MAINNET, 9, HOT),
        ),
    ),
    (
        "destination",
        lambda: (GAS, trx_transfer(GAS, OTHER, 1_000), Intent("trx_transfer", "TRX", 1_000, OTHER)),
    ),
    (
        "burn_cap",
        lambda: (
            GAS,
            trx_transfer(GAS, DEPOSITS[2], BURN_CAP + 1),
            Intent("trx_transfer", "TRX", BURN_CAP + 1, DEPOSITS[2]),
        ),
    ),
    (
        "destination",
        lambda: (
            DEPOSITS[2],
            trx_transfer(DEPOSITS[2], OTHER, 1_000),
            Intent("trx_transfer", "TRX", 1_000, OTHER),
        ),
    ),
    (
        "not_watched",
        lambda: (
            DEPOSITS[3],
            token_transfer(DEPOSITS[3], HOT, 9),
            Intent("trc20_transfer", USDT_MAINNET, 9, HOT),
        ),
    ),
    ("destination", lambda: (STAKE, delegation(OTHER, 1_000), Intent("delegate", "TRX", 1_000, OTHER))),
    (
        "intent_mismatch",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[2], HOT, 9),
            Intent("trc20_transfer", USDT_MAINNET, 1, HOT),
        ),
    ),
    (
        "wrong_owner",
        lambda: (
            DEPOSITS[2],
            token_transfer(DEPOSITS[0], HOT, 9),
            Intent("trc20_transfer", USDT_MAINNET, 9, HOT),
        ),
    ),
]


@pytest.mark.parametrize(("reason", "case"), REFUSED, ids=[f"{i}-{r}" for i, (r, _) in enumerate(REFUSED)])
def test_a_transaction_outside_the_policy_is_refused_with_its_reason_and_counted(
    service: Service, reason: str, case: Any
) -> None:
    owner, data, intent = case()
    before = service.refusals().get(reason, 0.0)
    with pytest.raises(SigningRefused) as info:
        service.keyring.signer_for(owner).sign_transaction(data, intent)
    assert info.value.reason == f"signer_{reason}"
    assert service.refusals()[reason] == before + 1
    assert f'"reason": "{reason}"' in service.processes.logs("signer")  # the loud security line


def test_a_blind_digest_is_never_signed(service: Service) -> None:
    body = json.dumps({"address": DEPOSITS[0], "digest": "00" * 32}).encode()
    for path in ("/sign", "/v1/sign-digest"):
        headers = sign_request(HMAC_KEY.encode(), "POST", path, body)
        assert httpx.post(service.url + path, content=body, headers=headers, timeout=5).status_code in (
            404,
            405,
        )


def test_an_unsigned_request_is_refused_and_counted(service: Service) -> None:
    before = service.refusals().get("unsigned", 0.0)
    body = {"address": DEPOSITS[0], "raw_data": trx_transfer(DEPOSITS[0], HOT, 1), "intent": {}}
    answer = httpx.post(f"{service.url}/v1/sign", json=body, timeout=5)
    assert answer.status_code == 401 and answer.json() == {"reason": "unsigned"}
    assert "signature" not in answer.text
    assert service.refusals()["unsigned"] == before + 1


def test_a_replayed_request_is_refused_and_counted(service: Service) -> None:
    d0 = DEPOSITS[0]
    body = json.dumps({"address": d0}).encode()
    headers = {
        "content-type": "application/json",
        **sign_request(HMAC_KEY.encode(), "POST", "/v1/can-sign", body),
    }
    first = httpx.post(f"{service.url}/v1/can-sign", content=body, headers=headers, timeout=5)
    before = service.refusals().get("replayed", 0.0)
    again = httpx.post(f"{service.url}/v1/can-sign", content=body, headers=headers, timeout=5)
    assert first.status_code == 200 and again.status_code == 401 and again.json() == {"reason": "replayed"}
    assert service.refusals()["replayed"] == before + 1


def test_a_request_signed_with_a_wrong_key_is_refused_and_counted(service: Service) -> None:
    before = service.refusals().get("bad_signature", 0.0)
    wrong = RemoteKeyring(SignerClient(service.url, b"w" * 64))
    d0 = DEPOSITS[0]
    with pytest.raises(SignerRejected) as info:
        wrong.signer_for(d0).sign_transaction(trx_transfer(d0, HOT, 1), Intent("trx_transfer", "TRX", 1, HOT))
    assert not isinstance(info.value, SigningRefused)  # authentication, not policy
    assert service.refusals()["bad_signature"] == before + 1


def test_a_stale_request_is_refused(service: Service) -> None:
    body = json.dumps({"address": DEPOSITS[0]}).encode()
    old = sign_request(
        HMAC_KEY.encode(), "POST", "/v1/can-sign", body, now_ms=int(time.time() * 1000) - 120_000
    )
    answer = httpx.post(f"{service.url}/v1/can-sign", content=body, headers=old, timeout=5)
    assert answer.status_code == 401 and answer.json() == {"reason": "stale"}


def test_an_address_without_a_key_is_unknown_and_probing_it_signs_nothing(service: Service) -> None:
    with pytest.raises(UnknownKey):
        service.keyring.signer_for(OTHER).probe()
    with pytest.raises(SigningRefused):  # held (derivable) but not watched: the probe says so
        service.keyring.signer_for(DEPOSITS[3]).probe()


def test_one_address_is_signed_for_at_most_the_rate_limit_then_throttled(service: Service) -> None:
    d2 = DEPOSITS[2]
    for n in range(RATE):
        sign(service, d2, token_transfer(d2, HOT, n + 1), Intent("trc20_transfer", USDT_MAINNET, n + 1, HOT))
    before = service.refusals().get("signing_throttled", 0.0)
    with pytest.raises(SigningThrottled):
        service.keyring.signer_for(d2).sign_transaction(
            token_transfer(d2, HOT, 99), Intent("trc20_transfer", USDT_MAINNET, 99, HOT)
        )
    assert service.refusals()["signing_throttled"] == before + 1
