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
from hypothesis import given, settings
from hypothesis import strategies as st
from mnemonic import Mnemonic
from tronpy import Tron
from tronpy.hdwallet import key_from_seed, seed_from_mnemonic

from devnet import crypto
from sweeper.chain.port import Signer
from sweeper.errors import PermanentError, TransientError
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
    SignerRejected,
    SignerUnavailable,
    UnknownKey,
    WrongPassword,
    bip44_path,
)

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
    with pytest.raises(KeystoreError, match="not a sweeper-keystore"):
        KeystoreKeyring(tmp_path / "v3.json", PASSWORD)
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(KeystoreError, match="unreadable"):
        KeystoreKeyring(tmp_path / "junk.json", PASSWORD)
    KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    with pytest.raises(KeystoreError, match="already exists"):
        KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)


def test_importing_an_invalid_private_key_is_refused(keystore_path):
    store = KeystoreKeyring.create(keystore_path, PASSWORD, scrypt_n=FAST_SCRYPT)
    for bad in (b"\x00" * 32, b"\x01" * 31, b"\xff" * 32):
        with pytest.raises(KeystoreError) as info:
            store.add(bad)
        assert bad.hex() not in str(info.value)


# -- remote signer ------------------------------------------------------------------------------


class SigningService:
    """A real in-memory signing service speaking the remote protocol, served through httpx."""

    def __init__(self, *signers: LocalSigner, status: int = 200, answer: object = None) -> None:
        self.signers = {s.address: s for s in signers}
        self.status, self.answer = status, answer
        self.requests: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == "/signer/sign"
        body = json.loads(request.content)
        self.requests.append(body)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "no"})
        if self.answer is not None:
            return httpx.Response(200, json=self.answer)
        signer = self.signers.get(body["address"])
        if signer is None:
            return httpx.Response(404, json={"error": "unknown address"})
        signature = signer.sign_digest(bytes.fromhex(body["digest"]))
        return httpx.Response(200, json={"signature": signature.hex()})


def remote(service: SigningService) -> RemoteKeyring:
    return RemoteKeyring(
        "http://signer.internal/signer/", httpx.Client(transport=httpx.MockTransport(service))
    )


def test_a_remote_signature_is_returned_after_it_recovers_to_the_address():
    service = SigningService(LocalSigner(PRIV_88))
    signer = remote(service).signer_for(ADDR_88)
    signature = signer.sign_digest(DIGEST)
    assert crypto.recover_address(DIGEST, signature) == ADDR_88
    assert service.requests == [{"address": ADDR_88, "digest": DIGEST.hex()}]


def test_a_remote_v_of_27_or_28_is_normalised_to_0_or_1():
    sig = LocalSigner(PRIV_88).sign_digest(DIGEST)
    tronweb_style = "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()
    signer = remote(SigningService(answer={"signature": tronweb_style})).signer_for(ADDR_88)
    assert signer.sign_digest(DIGEST) == sig


def test_a_remote_signature_by_another_key_is_rejected():
    service = SigningService(answer={"signature": LocalSigner(key(1)).sign_digest(DIGEST).hex()})
    with pytest.raises(SignerRejected, match="not TJzX"):
        remote(service).signer_for(ADDR_88).sign_digest(DIGEST)


@pytest.mark.parametrize(
    ("service", "error"),
    [
        (SigningService(), UnknownKey),
        (SigningService(status=503), SignerUnavailable),
        (SigningService(status=429), SignerUnavailable),
        (SigningService(status=403), SignerRejected),
        (SigningService(answer={"signature": "zz"}), SignerRejected),
        (SigningService(answer={"sig": "00" * 65}), SignerRejected),
        (SigningService(answer=["not", "an", "object"]), SignerRejected),
    ],
)
def test_remote_failures_map_into_the_error_tree(service, error):
    with pytest.raises(error):
        remote(service).signer_for(ADDR_88).sign_digest(DIGEST)


def test_an_unreachable_remote_signer_is_transient():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    signer = RemoteSigner(
        ADDR_88, "http://signer.internal", httpx.Client(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(SignerUnavailable) as info:
        signer.sign_digest(DIGEST)
    assert isinstance(info.value, TransientError)


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
