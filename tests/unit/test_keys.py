"""Signers: wallet-compatible derivation, keystore round trips, remote signing, and no secret leaks."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
import stat
import traceback

import httpx
import pytest
from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic
from tronpy import Tron
from tronpy.hdwallet import key_from_seed, seed_from_mnemonic

from devnet import crypto
from sweeper.chain.intent import Intent
from sweeper.chain.port import Signer
from sweeper.chain.txid import txid
from sweeper.custody.auth import Verifier
from sweeper.errors import PermanentError, SigningRefused, SigningThrottled, TransientError
from sweeper.keys import (
    ChainedKeyring,
    InvalidMnemonic,
    Keyring,
    KeystoreError,
    KeystoreKeyring,
    LocalSigner,
    MnemonicKeyring,
    RemoteKeyring,
    RemoteSigner,
    SignerClient,
    SignerRejected,
    SignerUnavailable,
    UnknownKey,
    WrongPassword,
    bip44_path,
)
from sweeper.keys.web3 import MIN_SCRYPT_N, Web3Keyring, write_keyfile

pytestmark = pytest.mark.unit

ABANDON = "abandon " * 11 + "about"
# m/44'/195'/0'/0/i of the BIP39 test phrase, as published by Ian Coleman's BIP39 tool and Ledger's
# TRON app test suite (index 0), and reproduced by independent Node.js/Swift derivations (0-3).
ABANDON_ADDRESSES = [
    "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH",
    "TSeJkUh4Qv67VNFwY8LaAxERygNdy6NQZK",
    "TYJPRrdB5APNeRs4R7fYZSwW3TcrTKw2gx",
    "TRhVWK5XEDkQBDevcdCWW7RW51aRncty4W",
]
PRIV_88 = b"\x88" * 32
ADDR_88 = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
PASSWORD = "correct horse battery staple"
FAST_SCRYPT = 2**10
DIGEST = hashlib.sha256(b"a transaction id").digest()


def key(n: int) -> bytes:
    return hashlib.sha256(f"test key {n}".encode()).digest()


@pytest.fixture(scope="module")
def abandon() -> MnemonicKeyring:
    return MnemonicKeyring(ABANDON, scan_limit=20)


# -- mnemonic derivation ------------------------------------------------------------------------


def test_the_bip39_test_phrase_derives_the_published_tron_addresses(abandon):
    assert [abandon.derive(i) for i in range(4)] == ABANDON_ADDRESSES
    assert abandon.path(3) == "m/44'/195'/0'/0/3" == bip44_path(3)


def test_derivation_matches_tronpys_mnemonic_wallet_for_other_indexes(abandon):
    tron = Tron(network="nile")
    for index in (0, 7, 1000, 2**31 - 1):
        expected = tron.generate_address_from_mnemonic(ABANDON, account_path=bip44_path(index))
        assert abandon.derive(index) == expected["base58check_address"]


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.integers(0, 2**31 - 1), st.integers(0, 3), st.text(max_size=8))
def test_any_phrase_account_and_passphrase_match_tronpys_hd_wallet(entropy, index, account, passphrase):
    phrase = Mnemonic("english").to_mnemonic(entropy)
    keyring = MnemonicKeyring(phrase, passphrase, account=account)
    expected = key_from_seed(seed_from_mnemonic(phrase, passphrase), bip44_path(index, account))
    assert keyring.derive(index) == crypto.priv_to_address(expected)


def test_a_passphrase_gives_a_different_wallet():
    assert MnemonicKeyring(ABANDON, "TREZOR").derive(0) != ABANDON_ADDRESSES[0]


def test_extra_whitespace_in_the_phrase_does_not_change_the_wallet():
    assert MnemonicKeyring("  " + ABANDON.replace(" ", "\n  ") + "\n").derive(0) == ABANDON_ADDRESSES[0]


def test_signatures_recover_to_the_derived_address(abandon):
    signer = abandon.signer(2)
    signature = signer.sign_digest(DIGEST)
    assert len(signature) == 65 and signature[64] in (0, 1)
    assert signer.address == ABANDON_ADDRESSES[2]
    assert crypto.recover_address(DIGEST, signature) == ABANDON_ADDRESSES[2]


def test_signer_for_finds_an_address_among_the_first_indexes(abandon):
    assert abandon.signer_for(ABANDON_ADDRESSES[3]).address == ABANDON_ADDRESSES[3]


def test_signer_for_refuses_an_address_the_mnemonic_does_not_derive(abandon):
    with pytest.raises(UnknownKey) as info:
        abandon.signer_for(ADDR_88)
    assert ADDR_88 in str(info.value)
    assert isinstance(info.value, PermanentError)


def test_signer_for_uses_the_injected_index_lookup_beyond_the_scan_limit():
    far = MnemonicKeyring(ABANDON).derive(5000)
    lookup = {far: 5000, ABANDON_ADDRESSES[1]: 9}  # a wrong answer must not hand out the wrong key
    keyring = MnemonicKeyring(ABANDON, scan_limit=3, index_of=lookup.get)
    assert keyring.signer_for(far).address == far
    assert keyring.signer_for(ABANDON_ADDRESSES[1]).address == ABANDON_ADDRESSES[1]


def test_an_index_the_derivation_confirmed_is_looked_up_once_and_a_wrong_one_every_time():
    """The ledger names each address's index once: an address's index never changes. A wrong or missing
    answer is not kept, so an address added to the ledger later is found once it is there."""
    far, near = MnemonicKeyring(ABANDON).derive(5000), ABANDON_ADDRESSES[1]
    lookup: dict[str, int] = {near: 9}  # wrong: index 1 derives it
    asked: list[str] = []

    def index_of(address: str) -> int | None:
        asked.append(address)
        return lookup.get(address)

    keyring = MnemonicKeyring(ABANDON, scan_limit=3, index_of=index_of)
    for _ in range(3):
        assert keyring.signer_for(near).address == near  # found by the scan, never by the wrong index
    assert asked.count(near) == 3
    with pytest.raises(UnknownKey):
        keyring.signer_for(far)  # not in the ledger yet
    lookup[far] = 5000  # added now
    for _ in range(3):
        assert keyring.signer_for(far).address == far
    assert asked.count(far) == 2  # the miss, then once


@pytest.mark.parametrize(
    "phrase",
    [
        "abandon " * 12,  # checksum fails
        "abandon " * 11 + "zzzzzz",  # not a word
        "abandon abandon about",  # too short
        "",
    ],
)
def test_an_invalid_mnemonic_is_refused_without_quoting_it(phrase):
    with pytest.raises(InvalidMnemonic) as info:
        MnemonicKeyring(phrase)
    assert "abandon" not in str(info.value) and "zzzzzz" not in str(info.value)
    chain = "".join(traceback.format_exception(info.value))
    assert "abandon abandon" not in chain and "zzzzzz" not in chain


@pytest.mark.parametrize("index", [-1, 2**31, "0", True])
def test_derivation_indexes_outside_bip32_soft_range_are_refused(abandon, index):
    with pytest.raises(ValueError):
        abandon.derive(index)


# -- keystore -----------------------------------------------------------------------------------


@pytest.fixture
def keystore_path(tmp_path):
    return tmp_path / "keys.json"


def test_keystore_round_trip_signs_with_the_imported_keys(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    addresses = [store.add(PRIV_88), store.add(key(1))]
    assert addresses[0] == ADDR_88
    assert store.add(PRIV_88) == ADDR_88  # importing twice is harmless

    reopened = KeystoreKeyring(keystore_path, PASSWORD)
    assert reopened.addresses() == sorted(addresses) and len(reopened) == 2 and ADDR_88 in reopened
    for address in addresses:
        signer = reopened.signer_for(address)
        assert crypto.recover_address(DIGEST, signer.sign_digest(DIGEST)) == address


def test_the_keystore_file_is_owner_only_and_holds_no_plain_key(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    store.add(PRIV_88)
    text = keystore_path.read_text()
    assert stat.S_IMODE(keystore_path.stat().st_mode) == 0o600
    assert PRIV_88.hex() not in text and PASSWORD not in text
    assert json.loads(text)["keys"].keys() == {ADDR_88}


def test_a_wrong_password_is_a_clear_error_that_does_not_echo_it(keystore_path):
    KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT).add(PRIV_88)
    with pytest.raises(WrongPassword) as info:
        KeystoreKeyring(keystore_path, "hunter2")
    assert "password" in str(info.value) and str(keystore_path) in str(info.value)
    assert "hunter2" not in str(info.value) and PASSWORD not in str(info.value)


def test_an_address_not_in_the_keystore_is_unknown(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    with pytest.raises(UnknownKey):
        store.signer_for(ADDR_88)


def test_entries_moved_to_another_address_are_detected(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    a, b = store.add(key(1)), store.add(key(2))
    doc = json.loads(keystore_path.read_text())
    doc["keys"][a], doc["keys"][b] = doc["keys"][b], doc["keys"][a]
    keystore_path.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError) as info:
        KeystoreKeyring(keystore_path, PASSWORD).signer_for(a)
    assert "damaged" in str(info.value)


def test_a_tampered_entry_is_detected(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    store.add(PRIV_88)
    doc = json.loads(keystore_path.read_text())
    entry = doc["keys"][ADDR_88]
    entry["ciphertext"] = ("00" if entry["ciphertext"][:2] != "00" else "11") + entry["ciphertext"][2:]
    keystore_path.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError):
        KeystoreKeyring(keystore_path, PASSWORD).signer_for(ADDR_88)


def test_missing_foreign_and_existing_files_are_refused(keystore_path, tmp_path):
    with pytest.raises(KeystoreError, match="does not exist"):
        KeystoreKeyring(keystore_path, PASSWORD)
    (tmp_path / "v3.json").write_text(json.dumps({"version": 3, "crypto": {}}))
    (tmp_path / "v3.json").chmod(0o600)
    with pytest.raises(KeystoreError, match="not a sweeper-keystore"):
        KeystoreKeyring(tmp_path / "v3.json", PASSWORD)
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "junk.json").chmod(0o600)
    with pytest.raises(KeystoreError, match="unreadable"):
        KeystoreKeyring(tmp_path / "junk.json", PASSWORD)
    KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    with pytest.raises(KeystoreError, match="already exists"):
        KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620])
def test_a_keystore_file_the_group_or_others_may_access_is_refused(keystore_path, tmp_path, mode):
    KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    keystore_path.chmod(mode)
    with pytest.raises(KeystoreError, match="group or others"):
        KeystoreKeyring(keystore_path, PASSWORD)
    write_keyfile(tmp_path / "gas.json", PRIV_88, PASSWORD, scrypt_n=MIN_SCRYPT_N)
    (tmp_path / "gas.json").chmod(mode)
    with pytest.raises(KeystoreError, match="group or others"):
        Web3Keyring([tmp_path / "gas.json"], PASSWORD)


def test_a_web3_keyfile_round_trips_is_owner_only_and_is_what_eth_keyfile_reads(tmp_path):
    path = tmp_path / "gas.json"
    assert write_keyfile(path, PRIV_88, PASSWORD, scrypt_n=MIN_SCRYPT_N) == ADDR_88
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert (
        doc["version"] == 3 and doc["crypto"]["kdf"] == "scrypt" and doc["crypto"]["kdfparams"]["n"] >= 2**17
    )
    assert PRIV_88.hex() not in path.read_text()
    assert decode_keyfile_json(doc, PASSWORD.encode()) == PRIV_88  # the standard library reads it back
    ring = Web3Keyring([path], PASSWORD)
    assert ring.addresses() == [ADDR_88]
    assert crypto.recover_address(DIGEST, ring.signer_for(ADDR_88).sign_digest(DIGEST)) == ADDR_88
    with pytest.raises(UnknownKey):
        ring.signer_for(crypto.priv_to_address(key(3)))
    with pytest.raises(WrongPassword) as info:
        Web3Keyring([path], "guess")
    assert "guess" not in str(info.value)
    assert PASSWORD not in repr(ring) and PRIV_88.hex() not in repr(ring)


def test_a_web3_keyfile_with_a_weak_kdf_is_refused(tmp_path):
    weak = create_keyfile_json(PRIV_88, PASSWORD.encode(), kdf="pbkdf2", iterations=1000)
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(weak))
    path.chmod(0o600)
    with pytest.raises(KeystoreError, match="weak"):
        Web3Keyring([path], PASSWORD)


def test_importing_an_invalid_private_key_is_refused(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    for bad in (b"\x00" * 32, b"\x01" * 31, b"\xff" * 32):
        with pytest.raises(KeystoreError) as info:
            store.add(bad)
        assert bad.hex() not in str(info.value)


# -- remote signer ------------------------------------------------------------------------------


HMAC_KEY = b"k" * 32
RAW = {  # a TRX transfer from ADDR_88, as the adapter builds it (hex addresses)
    "contract": [
        {
            "parameter": {
                "value": {"owner_address": "41" + "11" * 20, "to_address": "41" + "22" * 20, "amount": 5},
                "type_url": "type.googleapis.com/protocol.TransferContract",
            },
            "type": "TransferContract",
        }
    ],
    "ref_block_bytes": "261b",
    "ref_block_hash": "9e6e8091f5bd92dc",
    "expiration": 1_700_000_060_000,
    "timestamp": 1_700_000_000_000,
}
INTENT = Intent("trx_transfer", "TRX", 5, "TBWQhs6N9tsvvfcTKqhGVKGatRVmvEnR9v", 7)
TXID = bytes.fromhex(txid(RAW))


class SigningService:
    """An in-memory stand-in for ``sweeper signer`` speaking its protocol (HMAC checked), through httpx."""

    def __init__(self, *signers: LocalSigner, status: int = 200, answer: object = None) -> None:
        self.signers = {s.address: s for s in signers}
        self.status, self.answer = status, answer
        self.requests: list[dict[str, object]] = []
        self.verifier = Verifier(HMAC_KEY)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path in ("/signer/v1/sign", "/signer/v1/can-sign")
        self.verifier.verify(
            "POST", request.url.path.removeprefix("/signer"), request.headers, request.content
        )
        body = json.loads(request.content)
        self.requests.append(body)
        if self.status != 200:
            return httpx.Response(self.status, json={"reason": "no"})
        if self.answer is not None:
            return httpx.Response(200, json=self.answer)
        signer = self.signers.get(body["address"])
        if signer is None:
            return httpx.Response(404, json={"reason": "unknown_key"})
        if request.url.path.endswith("can-sign"):
            return httpx.Response(200, json={"address": signer.address, "holds": True})
        signature = signer.sign_transaction(body["raw_data"], Intent.from_json(body["intent"]))
        return httpx.Response(200, json={"txid": txid(body["raw_data"]), "signature": signature.hex()})


def remote(service: SigningService) -> RemoteKeyring:
    client = SignerClient("http://signer.internal/signer/", HMAC_KEY, transport=httpx.MockTransport(service))
    return RemoteKeyring(client)


def test_a_remote_signature_over_the_raw_data_is_returned_after_it_recovers_to_the_address():
    service = SigningService(LocalSigner(PRIV_88))
    signer = remote(service).signer_for(ADDR_88)
    signature = signer.sign_transaction(RAW, INTENT)
    assert crypto.recover_address(TXID, signature) == ADDR_88
    assert service.requests == [{"address": ADDR_88, "raw_data": RAW, "intent": INTENT.to_json()}]
    signer.probe()  # the authenticated can-sign probe: nothing is signed
    assert service.requests[-1] == {"address": ADDR_88}


def test_a_remote_v_of_27_or_28_is_normalised_to_0_or_1():
    sig = LocalSigner(PRIV_88).sign_digest(TXID)
    tronweb_style = "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()
    service = SigningService(answer={"txid": TXID.hex(), "signature": tronweb_style})
    assert remote(service).signer_for(ADDR_88).sign_transaction(RAW, INTENT) == sig


def test_a_remote_signature_by_another_key_or_over_another_txid_is_rejected():
    other_key = {"txid": TXID.hex(), "signature": LocalSigner(key(1)).sign_digest(TXID).hex()}
    with pytest.raises(SignerRejected, match="not TJzX"):
        remote(SigningService(answer=other_key)).signer_for(ADDR_88).sign_transaction(RAW, INTENT)
    other_tx = {"txid": "00" * 32, "signature": LocalSigner(PRIV_88).sign_digest(b"\0" * 32).hex()}
    with pytest.raises(SignerRejected, match="not TJzX"):
        remote(SigningService(answer=other_tx)).signer_for(ADDR_88).sign_transaction(RAW, INTENT)


@pytest.mark.parametrize(
    ("service", "error"),
    [
        (SigningService(), UnknownKey),
        (SigningService(status=503), SignerUnavailable),
        (SigningService(status=429), SigningThrottled),
        (SigningService(status=403), SigningRefused),
        (SigningService(status=401), SignerRejected),
        (SigningService(answer={"signature": "zz"}), SignerRejected),
        (SigningService(answer={"sig": "00" * 65}), SignerRejected),
        (SigningService(answer=["not", "an", "object"]), SignerRejected),
    ],
)
def test_remote_failures_map_into_the_error_tree(service, error):
    with pytest.raises(error):
        remote(service).signer_for(ADDR_88).sign_transaction(RAW, INTENT)


def test_an_unreachable_remote_signer_is_transient():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = SignerClient("http://signer.internal", HMAC_KEY, transport=httpx.MockTransport(refuse))
    with pytest.raises(SignerUnavailable) as info:
        RemoteSigner(ADDR_88, client).sign_transaction(RAW, INTENT)
    assert isinstance(info.value, TransientError)


def test_a_request_key_shorter_than_32_bytes_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        SignerClient("http://signer.internal", b"short")


# -- composition and protocols ------------------------------------------------------------------


def test_a_chained_keyring_asks_each_keyring_in_turn(abandon, keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    store.add(PRIV_88)
    chained = ChainedKeyring(abandon, store)
    assert chained.signer_for(ABANDON_ADDRESSES[1]).address == ABANDON_ADDRESSES[1]
    assert chained.signer_for(ADDR_88).address == ADDR_88
    with pytest.raises(UnknownKey):
        chained.signer_for(crypto.priv_to_address(key(9)))


def test_every_signer_and_keyring_satisfies_the_protocols(abandon, keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    rk = remote(SigningService())
    for keyring in (abandon, store, rk, ChainedKeyring()):
        assert isinstance(keyring, Keyring)
    for signer in (abandon.signer(0), rk.signer_for(ADDR_88)):
        assert isinstance(signer, Signer)


# -- secrets never leak -------------------------------------------------------------------------


def test_reprs_show_addresses_never_keys_mnemonics_or_passwords(abandon, keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    store.add(PRIV_88)
    objects = [
        LocalSigner(PRIV_88),
        abandon,
        abandon.signer(0),
        store,
        store.signer_for(ADDR_88),
        remote(SigningService()).signer_for(ADDR_88),
        ChainedKeyring(abandon, store),
    ]
    secrets = [PRIV_88.hex(), "abandon", PASSWORD, str(int.from_bytes(PRIV_88, "big"))]
    for obj in objects:
        for text in (repr(obj), str(obj), f"{obj}", f"{obj!r}"):
            assert not any(s in text for s in secrets), text
    assert repr(LocalSigner(PRIV_88)) == f"LocalSigner(address='{ADDR_88}')"


def test_signers_and_keyrings_cannot_be_pickled_copied_or_inspected(abandon, keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    for obj in (LocalSigner(PRIV_88), abandon, store):
        with pytest.raises(TypeError):
            pickle.dumps(obj)
        with pytest.raises(TypeError):
            copy.copy(obj)
        with pytest.raises(TypeError):
            vars(obj)  # __slots__: no __dict__ to dump


def test_invalid_private_keys_are_refused_without_echoing_them():
    for bad in (b"\x00" * 32, b"\xab" * 31):
        with pytest.raises(ValueError) as info:
            LocalSigner(bad)
        assert bad.hex() not in str(info.value)
