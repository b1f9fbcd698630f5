"""TRON address forms (base58 ``T…``, hex ``41…``, 20-byte ABI word) with cached conversions.

The block scanner converts millions of log topics; an LRU cache makes repeated holders nearly free.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import base58

from sweeper.errors import InvalidAddress

ZERO_ADDRESS = "T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb"
"""``410000…00``: the owner of constant calls that need none."""

KEY_BITS = 88
"""An address's key: the top 88 bits of its 160-bit body, what the watch set stores and a log topic is
tested by. 22 hex digits of a topic, parsed without a shift; three 30-bit digits, a 36-byte int."""
_KEY_SHIFT = 160 - KEY_BITS
_KEY_START, _KEY_END = -40, -40 + KEY_BITS // 4

_CACHE_SIZE = 1 << 14
"""16,384 entries per form (a few MB; 411 B an address over both caches, measured): the hot ones
(destinations, contracts, our wallets) stay cached. At 2**18 the hourly rescan, which encodes every
watched address once and so hits nothing, grew a worker by tens of MB before the cache was full
(``test_the_conversion_caches_stay_small_however_many_addresses_pass_through``: 25 MB at 60,000)."""
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_PAIRS = [_ALPHABET[i // 58] + _ALPHABET[i % 58] for i in range(58 * 58)]
_PAIR = 58 * 58


def _b58check(raw: bytes) -> str:
    """Base58check of ``raw`` (21 bytes, first 0x41, so no leading zero bytes), two digits per divmod.

    A catch-up meets each recipient once, so this runs uncached for every Transfer log: it is about
    2.5 times faster than ``base58.b58encode_check``, which divides by 58 one digit at a time.
    """
    number = int.from_bytes(raw + hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4], "big")
    pairs: list[str] = []
    while number:
        number, rest = divmod(number, _PAIR)
        pairs.append(_PAIRS[rest])
    return "".join(reversed(pairs)).lstrip("1")


@lru_cache(maxsize=_CACHE_SIZE)
def to_hex(address: str) -> str:
    """Return the lowercase 42-hex ``41…`` form of a base58 address; raise InvalidAddress otherwise."""
    if not (isinstance(address, str) and len(address) == 34 and address.startswith("T")):
        raise InvalidAddress(f"not a TRON base58 address: {address!r}")
    try:
        raw = base58.b58decode_check(address)
    except ValueError as exc:
        raise InvalidAddress(f"bad base58check checksum: {address!r}") from exc
    if len(raw) != 21 or raw[0] != 0x41:
        raise InvalidAddress(f"not a TRON base58 address: {address!r}")
    return raw.hex()


@lru_cache(maxsize=_CACHE_SIZE)
def to_base58(address: str) -> str:
    """Return the base58 form of a base58, ``41…`` hex, ``0x``+40-hex or bare 40-hex address."""
    if len(address) == 34 and address.startswith("T"):
        to_hex(address)
        return address
    body = address[2:] if address.startswith("0x") else address
    if len(body) == 40:
        body = "41" + body
    try:
        raw = bytes.fromhex(body)
    except ValueError as exc:
        raise InvalidAddress(f"not a TRON address: {address!r}") from exc
    if len(raw) != 21 or raw[0] != 0x41:
        raise InvalidAddress(f"not a TRON address: {address!r}")
    return _b58check(raw)


def from_topic(word: str) -> str:
    """Return the base58 address held in a 64-hex ABI word (log topic or argument)."""
    return to_base58(word[-40:])


def abi_word(address: str) -> str:
    """Return the 64-hex ABI encoding of an address argument (20 bytes, left-padded)."""
    return to_hex(address)[2:].rjust(64, "0")


def validate(address: str) -> str:
    """Return ``address`` if it is a valid base58 TRON address, else raise InvalidAddress."""
    to_hex(address)
    return address


def body_key(body: int) -> int:
    """The key of a 160-bit address body (see ``KEY_BITS``)."""
    return body >> _KEY_SHIFT


def topic_key(word: str) -> int:
    """The key of the address in a 64-hex ABI word (a log topic); -1 when the word is not hex."""
    try:
        return int(word[_KEY_START:_KEY_END], 16)
    except ValueError:
        return -1
