"""The block scanner: TRC20 ``Transfer`` logs to watched addresses, from a stored cursor to the safe head.

Delivery is at-least-once by construction: ``scan`` only reads and hands back what it found; the caller
enqueues the balance checks, then calls ``commit`` to move the cursor. A worker killed in between
scans the same blocks again, which only repeats idempotent work. ``commit`` is a compare-and-set on the
cursor, so of two scanners racing over the same range only one moves it.

The cursor is the last block fully processed. With no cursor, scanning starts at ``start_block`` if
given, else at head - confirmations (history before that is the balance rescan's job).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Container, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from sweeper.chain.port import TokenTransfer
from sweeper.detect.watchset import WatchSet

CURSOR = "blocks"
MIN_SPAN = 20
"""Fewest blocks one worker fetches in a parallel catch-up (below that, threads cost more than they save)."""


def fetch_threads(wall_s: float, cpu_s: float, most: int) -> int:
    """Threads that keep one core busy fetching, from one block's request: its wall time over its CPU.

    A node that answers slower than we decode (a remote node, java-tron reading a block's infos from
    its database) is waited on, and threads overlap the waits. A node that answers at once (one on
    this host) leaves only our own CPU, which the GIL serialises: there threads cost more than they
    save (measured with the devnet, 1,000,000 watched: 574 blocks/s on one thread, 340 on four).
    """
    if cpu_s <= 0:
        return most
    # Rounded down: a second thread pays for itself only once the wait is as long as our own work (a
    # node on this host answers in ~0.5 ms to our ~1.3: a ratio of 1.3-1.6, and two threads were slower).
    return max(1, min(most, math.floor(wall_s / cpu_s)))


class BlockSource(Protocol):
    """The part of the chain port the scanner reads (``TronChain`` is one)."""

    def head_block_number(self) -> int: ...

    def block_transfers(
        self,
        start: int,
        end: int,
        contracts: Collection[str],
        *,
        recipients: Container[int] | None = None,
    ) -> list[TokenTransfer]: ...


class CursorStore(Protocol):
    """Where the cursor lives (the ledger is one)."""

    def get_cursor(self, name: str) -> int | None: ...

    def set_cursor(self, name: str, block_number: int, *, expected: int | None = None) -> bool: ...


class Hit(NamedTuple):
    """A watched address that received ``contract`` tokens; ``block`` is the first block seen in this scan."""

    address: str
    contract: str
    block: int


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What one scan covered and found. ``from_block > to_block`` means there was nothing to scan.

    ``lag_blocks`` is how many safe blocks remain after ``to_block``: above zero, scan again at once.
    """

    from_block: int
    to_block: int
    hits: list[Hit]
    lag_blocks: int
    cursor_name: str = CURSOR
    cursor_before: int | None = None
    transfers: int = 0
    """Transfer logs of the configured contracts to watched recipients in the range (every one, where
    ``hits`` keeps the first per address and token)."""

    @property
    def blocks(self) -> int:
        return max(0, self.to_block - self.from_block + 1)


def scan(
    chain: BlockSource,
    cursor_store: CursorStore,
    watched: Container[str],
    contracts: Collection[str],
    *,
    confirmations: int,
    max_blocks: int,
    start_block: int | None = None,
    cursor_name: str = CURSOR,
    workers: int = 4,
) -> ScanResult:
    """Read the next at most ``max_blocks`` safe blocks and return the watched recipients in them.

    Does not move the cursor: call ``commit(cursor_store, result)`` after the hits are enqueued.
    Raises what the chain raises (``ChainUnavailable`` …), with the cursor untouched.
    """
    if max_blocks < 1 or confirmations < 0 or workers < 1:
        raise ValueError("max_blocks and workers must be >= 1, confirmations >= 0")
    cursor = cursor_store.get_cursor(cursor_name)
    safe_head = chain.head_block_number() - confirmations
    if cursor is not None:
        first = cursor + 1
    elif start_block is not None:
        first = max(0, start_block)
    else:
        first = max(0, safe_head)
    last = min(safe_head, first + max_blocks - 1)
    if last < first:
        return ScanResult(first, first - 1, [], 0, cursor_name, cursor)
    # A WatchSet is tested by address key before any base58 is computed (sweeper/chain/logs.py).
    recipients = watched.keys if isinstance(watched, WatchSet) else None
    transfers = _fetch(chain, first, last, contracts, workers, recipients=recipients)
    if recipients is None:
        transfers = [t for t in transfers if t.to_address in watched]
    return ScanResult(
        from_block=first,
        to_block=last,
        hits=watched_hits(transfers, watched),
        lag_blocks=safe_head - last,
        cursor_name=cursor_name,
        cursor_before=cursor,
        transfers=len(transfers),
    )


def commit(cursor_store: CursorStore, result: ScanResult) -> bool:
    """Move the cursor past ``result``; False if there was nothing to move or another scanner moved it."""
    if result.to_block < result.from_block:
        return False
    if result.cursor_before is None:
        return cursor_store.set_cursor(result.cursor_name, result.to_block)
    return cursor_store.set_cursor(result.cursor_name, result.to_block, expected=result.cursor_before)


def watched_hits(transfers: Sequence[TokenTransfer], watched: Container[str]) -> list[Hit]:
    """One hit per (recipient, contract) among ``transfers`` whose recipient is watched, in chain order."""
    hits: dict[tuple[str, str], Hit] = {}
    for transfer in transfers:
        key = (transfer.to_address, transfer.contract)
        if key not in hits and transfer.to_address in watched:
            hits[key] = Hit(transfer.to_address, transfer.contract, transfer.block_number)
    return list(hits.values())


def _fetch(
    chain: BlockSource,
    first: int,
    last: int,
    contracts: Collection[str],
    workers: int,
    *,
    recipients: Container[int] | None,
) -> list[TokenTransfer]:
    """Transfers in ``first..last`` in chain order; a long range is split across up to ``workers``
    threads, as many as the first block's request shows are worth it (``fetch_threads``)."""
    count = last - first + 1
    parts = min(workers, max(1, count // MIN_SPAN))
    if parts == 1:
        return chain.block_transfers(first, last, contracts, recipients=recipients)
    wall, cpu = time.perf_counter(), time.thread_time()
    head = chain.block_transfers(first, first, contracts, recipients=recipients)
    parts = fetch_threads(time.perf_counter() - wall, time.thread_time() - cpu, parts)
    if parts == 1:
        return head + chain.block_transfers(first + 1, last, contracts, recipients=recipients)
    rest = count - 1
    span = -(-rest // parts)
    ranges = [(start, min(last, start + span - 1)) for start in range(first + 1, last + 1, span)]
    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="scan") as pool:
        chunks = list(
            pool.map(lambda r: chain.block_transfers(r[0], r[1], contracts, recipients=recipients), ranges)
        )
    return head + [transfer for chunk in chunks for transfer in chunk]


@dataclass(frozen=True, slots=True)
class BlockScanner:
    """``scan`` and ``commit`` bound to one chain, cursor store and configuration (built once per process)."""

    chain: BlockSource
    cursor_store: CursorStore
    contracts: Collection[str]
    confirmations: int
    max_blocks: int
    start_block: int | None = None
    cursor_name: str = CURSOR
    workers: int = 4

    def scan(self, watched: Container[str]) -> ScanResult:
        return scan(
            self.chain,
            self.cursor_store,
            watched,
            self.contracts,
            confirmations=self.confirmations,
            max_blocks=self.max_blocks,
            start_block=self.start_block,
            cursor_name=self.cursor_name,
            workers=self.workers,
        )

    def commit(self, result: ScanResult) -> bool:
        return commit(self.cursor_store, result)
