"""TRON keys, addresses and signatures for the devnet, written independently of tronpy.

An address is `0x41 || last20(keccak256(pubkey64))`; its hex form is 42 lowercase hex chars starting
`41`, its base58check form is 34 chars starting `T`, its ABI form is the 20 bytes without `41`.
Signatures are 65 bytes `r || s || v` over a 32-byte digest (the txID), with no extra hashing.
"""

from __future__ import annotations

import hashlib
import secrets

from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak

__all__ = [
    "SECP256K1_N",
    "abi_address",
    "address_from_pubkey",
    "b58check_decode",
    "b58check_encode",
    "generate_key",
    "is_address",
    "keccak256",
    "priv_to_address",
    "recover_address",
    "selector",
    "sign_digest",
    "to_base58",
    "to_hex_address",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ADDRESS_PREFIX = 0x41

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_HEX = frozenset("0123456789abcdefABCDEF")


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def b58check_encode(b: bytes) -> str:
    """Base58 of `b || first4(sha256(sha256(b)))`, leading zero bytes kept as '1'."""
    data = b + _checksum(b)
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, rem = divmod(n, 58)
        out.append(_ALPHABET[rem])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58check_decode(s: str) -> bytes:
    """The payload of a base58check string; ValueError on a bad character, length or checksum."""
    if not isinstance(s, str) or not s:
        raise ValueError("empty base58 string")
    n = 0
    for c in s:
        try:
            n = n * 58 + _INDEX[c]
        except KeyError:
            raise ValueError(f"invalid base58 character {c!r}") from None
    pad = len(s) - len(s.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    data = b"\0" * pad + body
    if len(data) < 4:
        raise ValueError("base58check string too short")
    payload, check = data[:-4], data[-4:]
    if _checksum(payload) != check:
        raise ValueError("bad base58check checksum")
    return payload


def _is_hex(s: str) -> bool:
    return all(c in _HEX for c in s)


def _address_bytes(addr: str) -> bytes:
    """The 21-byte address from base58 `T…`, hex `41…` or EVM `0x…` form."""
    if not isinstance(addr, str):
        raise ValueError(f"address must be a string, not {type(addr).__name__}")
    if len(addr) == 34 and addr.startswith("T"):
        raw = b58check_decode(addr)
    elif len(addr) == 42 and addr[:2] == "41" and _is_hex(addr):
        raw = bytes.fromhex(addr)
    elif len(addr) == 42 and addr[:2] in ("0x", "0X") and _is_hex(addr[2:]):
        raw = bytes([ADDRESS_PREFIX]) + bytes.fromhex(addr[2:])
    else:
        raise ValueError(f"not a TRON address: {addr!r}")
    if len(raw) != 21 or raw[0] != ADDRESS_PREFIX:
        raise ValueError(f"not a TRON address: {addr!r}")
    return raw


def to_hex_address(addr: str) -> str:
    """Lowercase 42-hex `41…` form of any accepted address form."""
    return _address_bytes(addr).hex()


def to_base58(addr: str) -> str:
    """Base58check `T…` form of any accepted address form."""
    return b58check_encode(_address_bytes(addr))


def is_address(s: object) -> bool:
    """True for a well-formed address in base58, `41…` hex or `0x…` form (checksum verified)."""
    if not isinstance(s, str):
        return False
    try:
        _address_bytes(s)
    except ValueError:
        return False
    return True


def keccak256(b: bytes) -> bytes:
    """Ethereum's keccak-256 (not NIST SHA3-256)."""
    return keccak.new(digest_bits=256, data=b).digest()


def address_from_pubkey(pub64: bytes) -> str:
    """Base58 address of an uncompressed public key given without its 0x04 prefix."""
    if len(pub64) == 65 and pub64[0] == 4:
        pub64 = pub64[1:]
    if len(pub64) != 64:
        raise ValueError("public key must be 64 bytes")
    return b58check_encode(bytes([ADDRESS_PREFIX]) + keccak256(pub64)[-20:])


def _private_key(priv32: bytes) -> PrivateKey:
    if len(priv32) != 32 or not 0 < int.from_bytes(priv32, "big") < SECP256K1_N:
        raise ValueError("private key must be 32 bytes in 1..n-1")
    return PrivateKey(priv32)


def priv_to_address(priv32: bytes) -> str:
    """Base58 address of a 32-byte private key."""
    pub = _private_key(priv32).public_key.format(compressed=False)
    return address_from_pubkey(pub[1:])


def sign_digest(priv32: bytes, digest32: bytes) -> bytes:
    """Recoverable secp256k1 signature over the digest as-is: 65 bytes r||s||v with v in {0, 1}."""
    if len(digest32) != 32:
        raise ValueError("digest must be 32 bytes")
    sig: bytes = _private_key(priv32).sign_recoverable(digest32, hasher=None)
    return sig


def recover_address(digest32: bytes, sig65: bytes) -> str:
    """Base58 address that signed the digest; v may be 0/1 or 27/28. ValueError on garbage."""
    if len(digest32) != 32:
        raise ValueError("digest must be 32 bytes")
    if len(sig65) != 65:
        raise ValueError("signature must be 65 bytes")
    v = sig65[64]
    if v >= 27:
        v -= 27
    if v not in (0, 1):
        raise ValueError("signature recovery id must be 0, 1, 27 or 28")
    r = int.from_bytes(sig65[:32], "big")
    s = int.from_bytes(sig65[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise ValueError("signature r or s out of range")
    try:
        pub = PublicKey.from_signature_and_message(sig65[:64] + bytes([v]), digest32, hasher=None)
    except ValueError as exc:  # coincurve: unparsable or unrecoverable signature
        raise ValueError("signature does not recover to a public key") from exc
    return address_from_pubkey(pub.format(compressed=False)[1:])


def generate_key() -> tuple[bytes, str]:
    """A fresh random private key and its base58 address."""
    while True:
        priv = secrets.token_bytes(32)
        if 0 < int.from_bytes(priv, "big") < SECP256K1_N:
            return priv, priv_to_address(priv)


def abi_address(addr: str) -> str:
    """64-hex ABI word of an address: the 20 bytes without `41`, left-padded with zeros."""
    return _address_bytes(addr)[1:].hex().rjust(64, "0")


def selector(signature: str) -> str:
    """8-hex function selector: the first 4 bytes of keccak256 of the canonical signature."""
    return keccak256(signature.encode()).hex()[:8]
