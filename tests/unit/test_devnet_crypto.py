"""devnet.crypto agrees with the spec's vectors and with tronpy's independent implementation."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tronpy import keys as tkeys

from devnet import crypto

pytestmark = pytest.mark.unit

PRIV_88 = b"\x88" * 32
ADDR_88 = "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr3"
HEX_88 = "4162f94e9ac9349bccc61bfe66ddade6292702ecb6"
RECIPIENT = "TRsbuxREXKJKonexpejWhacE4sYHt1BSHV"
RECIPIENT_HEX = "41ae72a48c1a36bd18af168541c53037965d26e4a8"
USDT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
USDT_HEX = "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
ZERO = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"

private_keys = st.integers(min_value=1, max_value=crypto.SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)
addresses21 = st.binary(min_size=20, max_size=20).map(lambda b: b"\x41" + b)


def test_the_0x88_key_has_the_spec_address_in_both_forms():
    assert crypto.priv_to_address(PRIV_88) == ADDR_88
    assert crypto.to_hex_address(ADDR_88) == HEX_88
    assert crypto.to_base58(HEX_88) == ADDR_88


@pytest.mark.parametrize(
    ("b58", "hex_"),
    [(RECIPIENT, RECIPIENT_HEX), (USDT, USDT_HEX), (ZERO, "41" + "00" * 20)],
)
def test_spec_address_vectors_convert_both_ways(b58, hex_):
    assert crypto.to_hex_address(b58) == hex_
    assert crypto.to_base58(hex_) == b58
    assert crypto.to_base58("0x" + hex_[2:]) == b58
    assert crypto.to_hex_address(hex_.upper()) == hex_


def test_abi_address_is_the_20_bytes_left_padded_to_a_word():
    assert crypto.abi_address(RECIPIENT) == "000000000000000000000000ae72a48c1a36bd18af168541c53037965d26e4a8"
    assert crypto.abi_address(HEX_88) == "00000000000000000000000062f94e9ac9349bccc61bfe66ddade6292702ecb6"


def test_selectors_match_the_well_known_erc20_ones():
    assert crypto.selector("transfer(address,uint256)") == "a9059cbb"
    assert crypto.selector("balanceOf(address)") == "70a08231"
    assert crypto.keccak256(b"Transfer(address,address,uint256)").hex() == (
        "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
    )


def test_keccak256_is_not_nist_sha3():
    assert crypto.keccak256(b"") != hashlib.sha3_256(b"").digest()
    assert crypto.keccak256(b"").hex().startswith("c5d2460186f7233c")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr4",  # checksum flipped
        "TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr",  # too short
        "4262f94e9ac9349bccc61bfe66ddade6292702ecb6",  # wrong prefix
        "4162f94e9ac9349bccc61bfe66ddade6292702ecbz",  # not hex
        "0x62f94e9ac9349bccc61bfe66ddade6292702ec",  # 19 bytes
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",  # a bitcoin address
    ],
)
def test_malformed_addresses_are_rejected(bad):
    assert not crypto.is_address(bad)
    with pytest.raises(ValueError):
        crypto.to_hex_address(bad)
    with pytest.raises(ValueError):
        crypto.to_base58(bad)


def test_non_strings_are_not_addresses():
    assert not crypto.is_address(None)
    assert not crypto.is_address(bytes.fromhex(HEX_88))


def test_b58check_decode_rejects_bad_checksum_and_short_input():
    with pytest.raises(ValueError):
        crypto.b58check_decode("TJzXt1sZautjqXnpjQT4xSCBHNSYgBkDr4")
    with pytest.raises(ValueError):
        crypto.b58check_decode("1111")
    with pytest.raises(ValueError):
        crypto.b58check_decode("0OIl")


@given(st.binary(max_size=40))
def test_b58check_round_trips_any_payload_including_leading_zeros(payload):
    assert crypto.b58check_decode(crypto.b58check_encode(payload)) == payload


@given(addresses21)
def test_address_forms_agree_with_tronpy(raw):
    b58 = crypto.b58check_encode(raw)
    assert b58 == tkeys.to_base58check_address(raw)
    assert crypto.to_hex_address(b58) == tkeys.to_hex_address(b58)
    assert crypto.is_address(b58) and tkeys.is_address(b58)
    assert crypto.abi_address(b58) == tkeys.to_tvm_address(b58).hex().rjust(64, "0")


@settings(max_examples=50)
@given(private_keys)
def test_private_keys_map_to_the_same_address_as_tronpy(priv):
    assert crypto.priv_to_address(priv) == tkeys.PrivateKey(priv).public_key.to_base58check_address()


@settings(max_examples=50)
@given(private_keys, digests)
def test_signatures_equal_tronpy_and_recover_to_the_signer(priv, digest):
    sig = crypto.sign_digest(priv, digest)
    assert len(sig) == 65 and sig[64] in (0, 1)
    assert sig.hex() == tkeys.PrivateKey(priv).sign_msg_hash(digest).hex()
    address = crypto.priv_to_address(priv)
    assert crypto.recover_address(digest, sig) == address
    assert crypto.recover_address(digest, sig[:64] + bytes([sig[64] + 27])) == address


def test_a_signature_over_another_digest_recovers_someone_else():
    digest = hashlib.sha256(b"tx").digest()
    sig = crypto.sign_digest(PRIV_88, digest)
    assert crypto.recover_address(hashlib.sha256(b"other").digest(), sig) != ADDR_88


@pytest.mark.parametrize(
    ("digest", "sig"),
    [
        (b"\x01" * 32, b"\x01" * 64),  # too short
        (b"\x01" * 31, b"\x01" * 65),  # digest too short
        (b"\x01" * 32, b"\x01" * 64 + b"\x05"),  # bad v
        (b"\x01" * 32, b"\x00" * 64 + b"\x00"),  # r = s = 0
        (b"\x01" * 32, b"\xff" * 64 + b"\x01"),  # r, s >= n
    ],
)
def test_garbage_signatures_raise_value_error(digest, sig):
    with pytest.raises(ValueError):
        crypto.recover_address(digest, sig)


def test_invalid_private_keys_are_refused():
    for bad in (b"\x00" * 32, crypto.SECP256K1_N.to_bytes(32, "big"), b"\x01" * 31):
        with pytest.raises(ValueError):
            crypto.priv_to_address(bad)
        with pytest.raises(ValueError):
            crypto.sign_digest(bad, b"\x00" * 32)


def test_generated_keys_are_fresh_and_consistent():
    (p1, a1), (p2, a2) = crypto.generate_key(), crypto.generate_key()
    assert p1 != p2 and a1 != a2
    assert crypto.priv_to_address(p1) == a1 and crypto.is_address(a1)


def test_address_from_pubkey_accepts_the_04_prefixed_form():
    pub = tkeys.PrivateKey(PRIV_88).public_key.to_bytes()
    assert crypto.address_from_pubkey(pub) == ADDR_88
    assert crypto.address_from_pubkey(b"\x04" + pub) == ADDR_88
    with pytest.raises(ValueError):
        crypto.address_from_pubkey(pub[:63])
