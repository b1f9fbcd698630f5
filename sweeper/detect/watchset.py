"""The watched-address set: millions of deposit addresses in memory, O(1) membership.

An address is kept as its key, the top 88 bits of its 20-byte body (the base58check payload without the
constant ``0x41`` prefix and the checksum; ``sweeper.chain.addresses.KEY_BITS``): an int of three 30-bit
digits (36 bytes), not its 34-character string (about 120 bytes in a set) nor its whole 160-bit body
(48 bytes). A log topic is tested by the same key, parsed from 22 of its hex digits. Measured with
tracemalloc (tests/unit/test_watchset.py): about 82 bytes per address at 100,000 and 74 at 1,000,000
(the int plus 16 bytes per slot of a set table kept under 60% full).

Two addresses share a key with probability 2**-88 per pair: with 10 million watched, a stranger's
address is taken for a watched one about once in 3 * 10**19 lookups. Such a hit would only ask the
ledger, which opens sweeps for watched addresses alone (``Ledger.open_sweep``); nothing is ordered.

Membership decodes base58 with a small loop; the checksum is hashed only for members (a stored body
reached through a corrupted string is refused), so a miss costs about 3 us and a hit about 4 us.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Protocol

from sweeper.chain.addresses import body_key
from sweeper.errors import InvalidAddress

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DIGIT = {char: value for value, char in enumerate(_ALPHABET)}
_BODY_MASK = (1 << 160) - 1
_CHECK_MASK = (1 << 32) - 1
_PREFIX = 0x41
_PREFIX_BYTE = bytes([_PREFIX])
_LENGTH = 34


class AddressSource(Protocol):
    """Where the watched addresses live (the ledger): batches in a stable order, and a count."""

    def iter_addresses(self, batch_size: int = ...) -> Iterator[list[str]]: ...

    def address_count(self) -> int: ...


def _decode(address: object) -> tuple[int, int] | None:
    """(body, checksum) of a base58 TRON address, or None if it cannot be one (checksum unchecked)."""
    if not isinstance(address, str) or len(address) != _LENGTH:
        return None
    number = 0
    try:
        for char in address:
            number = number * 58 + _DIGIT[char]
    except KeyError:
        return None
    if number >> 192 != _PREFIX:
        return None
    return (number >> 32) & _BODY_MASK, number & _CHECK_MASK


def _checksum(body: int) -> int:
    payload = _PREFIX_BYTE + body.to_bytes(20, "big")
    return int.from_bytes(hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4], "big")


class WatchSet:
    """A set of TRON base58 addresses stored as their 88-bit keys; ``in`` never raises."""

    __slots__ = ("_keys",)

    def __init__(self, addresses: Iterable[str] = ()) -> None:
        self._keys: set[int] = set()
        self.update(addresses)

    def add(self, address: str) -> None:
        """Watch ``address``; raise InvalidAddress if it is not a valid base58check TRON address."""
        decoded = _decode(address)
        if decoded is None or _checksum(decoded[0]) != decoded[1]:
            raise InvalidAddress(f"not a TRON base58check address: {address!r}")
        self._keys.add(body_key(decoded[0]))

    def update(self, addresses: Iterable[str]) -> None:
        for address in addresses:
            self.add(address)

    def __contains__(self, address: object) -> bool:
        decoded = _decode(address)
        if decoded is None or body_key(decoded[0]) not in self._keys:
            return False
        return _checksum(decoded[0]) == decoded[1]  # only hashed for members: rare on the hot path

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> Container[int]:
        """The watched addresses' keys: what a log topic is tested by (``topic_key``), without base58."""
        return self._keys

    def __repr__(self) -> str:
        return f"WatchSet({len(self)} addresses)"

    @classmethod
    def load(cls, source: AddressSource, *, batch_size: int = 50_000) -> WatchSet:
        """Read every address from ``source`` in batches, so no full list of strings is ever held.

        Rows that are not valid addresses are skipped: one bad row must not stop the scanner.
        """
        watched = cls()
        for batch in source.iter_addresses(batch_size=batch_size):
            for address in batch:
                try:
                    watched.add(address)
                except InvalidAddress:
                    continue
        return watched


class WatchCache:
    """Holds one loaded WatchSet per process and reloads it when the ledger's address count changes.

    Addresses are only ever added (an import is one transaction), so a changed count means new ones;
    ``max_age_s`` bounds how stale the set may get even so. ``get()`` costs one COUNT query.
    """

    def __init__(
        self,
        source: AddressSource,
        *,
        max_age_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._max_age_s = max_age_s
        self._clock = clock
        self._current: WatchSet | None = None
        self._count = -1
        self._loaded_at = 0.0

    def get(self) -> WatchSet:
        count = self._source.address_count()
        stale = self._clock() - self._loaded_at >= self._max_age_s
        if self._current is None or count != self._count or stale:
            self._current = WatchSet.load(self._source)
            self._count = count
            self._loaded_at = self._clock()
        return self._current
