"""A signer holding one private key in memory, and the secp256k1 helpers the keyrings share.

The key lives in a name-mangled slot: it never appears in ``repr``/``str``, ``vars()``, pickles or copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from coincurve import PrivateKey, PublicKey
from tronpy.keys import public_key_to_base58check_addr

from sweeper.chain import txid as local_txid
from sweeper.chain.intent import Intent

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def is_private_key(key: bytes) -> bool:
    """True for 32 bytes encoding an integer in 1..n-1."""
    return len(key) == 32 and 0 < int.from_bytes(key, "big") < SECP256K1_N


def address_of(private_key: bytes) -> str:
    """The base58 address of a 32-byte private key."""
    if not is_private_key(private_key):
        raise ValueError("a private key must be 32 bytes in 1..n-1")
    public = PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return str(public_key_to_base58check_addr(public))


def recover_address(digest: bytes, signature: bytes) -> str | None:
    """The base58 address that made ``signature`` over ``digest`` (v 0/1 or 27/28), or None if malformed."""
    if len(digest) != 32 or len(signature) != 65:
        return None
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    if v not in (0, 1):
        return None
    try:
        public = PublicKey.from_signature_and_message(signature[:64] + bytes([v]), digest, hasher=None)
    except ValueError:  # coincurve: unparsable or unrecoverable signature
        return None
    return str(public_key_to_base58check_addr(public.format(compressed=False)[1:]))


class LocalSigner:
    """Signs transaction ids with a private key held in this process; shows only its address."""

    __slots__ = ("__key", "_address")

    def __init__(self, private_key: bytes) -> None:
        self._address = address_of(private_key)
        self.__key = bytes(private_key)

    @property
    def address(self) -> str:
        return self._address

    def sign_transaction(self, raw_data: Mapping[str, Any], intent: Intent) -> bytes:
        """The signature of ``raw_data``'s txid, computed here. No policy: the signer service and the
        embedded demo wrap this in ``sweeper.custody.PolicySigner``."""
        return self.sign_digest(bytes.fromhex(local_txid.txid(raw_data)))

    def probe(self) -> None:
        """A key held in this process can always sign."""

    def sign_digest(self, digest: bytes) -> bytes:
        """65 bytes r||s||v (v in {0, 1}, low s) over the 32-byte digest as-is (only after a txid was
        computed from readable raw data: ``sign_transaction``)."""
        if len(digest) != 32:
            raise ValueError("the digest to sign must be 32 bytes")
        signature: bytes = PrivateKey(self.__key).sign_recoverable(digest, hasher=None)
        return signature

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self._address!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("signers hold private keys and cannot be pickled or copied")
