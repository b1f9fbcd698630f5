"""Deposit keys from a BIP39 mnemonic on TRON's BIP44 path m/44'/195'/account'/0/index.

The same derivation as TronLink, Ledger, Trust Wallet and tronpy's ``generate_address_from_mnemonic``, so a
standard wallet can recover every address. Only the account-level extended key is kept; the phrase and
passphrase are dropped after the seed is computed. The last (soft) step is done here with the parent's
public key cached, so deriving millions of addresses costs one EC multiplication each.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import unicodedata
from collections.abc import Callable
from typing import NoReturn

from coincurve import PrivateKey
from mnemonic import Mnemonic
from mnemonic.mnemonic import ConfigurationError
from tronpy.hdwallet.deterministic import HardNode, SoftNode, derive_child_key

from sweeper.keys.errors import InvalidMnemonic, UnknownKey
from sweeper.keys.local import SECP256K1_N, LocalSigner, address_of

TRON_COIN_TYPE = 195
MAX_INDEX = 2**31 - 1


def bip44_path(index: int, account: int = 0) -> str:
    """The derivation path of deposit address ``index``."""
    return f"m/44'/{TRON_COIN_TYPE}'/{account}'/0/{index}"


def seed_from_mnemonic(mnemonic: str, passphrase: str = "") -> bytes:
    """BIP39 seed of a valid phrase (any BIP39 language, 4-letter prefixes expanded like tronpy)."""
    words = " ".join(unicodedata.normalize("NFKD", mnemonic).split())
    if not words:
        raise InvalidMnemonic("the mnemonic is empty")
    try:
        language = Mnemonic.detect_language(words)
    except ConfigurationError:  # its message quotes the words: never chain it
        raise InvalidMnemonic("the mnemonic contains words of no BIP39 word list") from None
    phrase = Mnemonic(language)
    expanded = phrase.expand(words)
    if not phrase.check(expanded):
        raise InvalidMnemonic(
            f"the mnemonic fails the BIP39 checksum ({len(expanded.split())} words; 12-24 expected)"
        )
    return Mnemonic.to_seed(expanded, passphrase)


class MnemonicKeyring:
    """Derives deposit addresses and their signers from one mnemonic; keys are never stored."""

    __slots__ = (
        "__chain",
        "__key",
        "__public",
        "_account",
        "_index_of",
        "_lock",
        "_scan_limit",
        "_scanned",
        "_verified",
    )

    VERIFIED_LIMIT = 16_384
    """Addresses whose index ``index_of`` named and derivation confirmed, kept (oldest out first): an
    address's index never changes, so the ledger is asked once per address, not before every signature."""

    def __init__(
        self,
        mnemonic: str,
        passphrase: str = "",
        *,
        account: int = 0,
        scan_limit: int = 1000,
        index_of: Callable[[str], int | None] | None = None,
    ) -> None:
        """``index_of`` maps an address to its derivation index (the ledger knows it); without an
        answer, ``signer_for`` searches the first ``scan_limit`` indexes."""
        if not 0 <= account <= MAX_INDEX:
            raise ValueError("account must be in 0..2**31-1")
        seed = seed_from_mnemonic(mnemonic, passphrase)
        master = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
        key, chain = master[:32], master[32:]
        for node in (HardNode(44), HardNode(TRON_COIN_TYPE), HardNode(account), SoftNode(0)):
            key, chain = derive_child_key(key, chain, node)
        self.__key: bytes = key
        self.__chain: bytes = chain
        self.__public: bytes = PrivateKey(key).public_key.format(compressed=True)
        self._account = account
        self._scan_limit = scan_limit
        self._index_of = index_of
        self._scanned: dict[str, int] = {}
        self._verified: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def account(self) -> int:
        return self._account

    def path(self, index: int) -> str:
        return bip44_path(index, self._account)

    def _private_key(self, index: int) -> bytes:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_INDEX:
            raise ValueError("a derivation index must be an int in 0..2**31-1")
        mac = hmac.new(self.__chain, self.__public + index.to_bytes(4, "big"), hashlib.sha512).digest()
        tweak = int.from_bytes(mac[:32], "big")
        child = (tweak + int.from_bytes(self.__key, "big")) % SECP256K1_N
        if tweak >= SECP256K1_N or child == 0:  # < 2**-127: let tronpy apply BIP32's skip rule
            skipped: bytes = derive_child_key(self.__key, self.__chain, SoftNode(index))[0]
            return skipped
        return child.to_bytes(32, "big")

    def derive(self, index: int) -> str:
        """The base58 address at m/44'/195'/account'/0/index."""
        return address_of(self._private_key(index))

    def signer(self, index: int) -> LocalSigner:
        """A signer for the address at ``index``."""
        return LocalSigner(self._private_key(index))

    def signer_for(self, address: str) -> LocalSigner:
        """A signer for ``address`` if this mnemonic derives it; ``UnknownKey`` otherwise."""
        known = self._verified.get(address)
        if known is not None:
            return self.signer(known)
        if self._index_of is not None:
            index = self._index_of(address)
            if index is not None:
                signer = self.signer(index)
                if signer.address == address:
                    self._remember(address, index)
                    return signer
        index = self._scan(address)
        if index is None:
            raise UnknownKey(
                f"{address} is not among the first {self._scan_limit} addresses of account {self._account}"
            )
        return self.signer(index)

    def _remember(self, address: str, index: int) -> None:
        with self._lock:
            if len(self._verified) >= self.VERIFIED_LIMIT:
                del self._verified[next(iter(self._verified))]
            self._verified[address] = index

    def _scan(self, address: str) -> int | None:
        with self._lock:
            while address not in self._scanned and len(self._scanned) < self._scan_limit:
                index = len(self._scanned)
                self._scanned[self.derive(index)] = index
            return self._scanned.get(address)

    def __repr__(self) -> str:
        return f"MnemonicKeyring(account={self._account})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("keyrings hold secrets and cannot be pickled or copied")
