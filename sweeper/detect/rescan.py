"""The balance rescan: every watched address asked for its token balances, the safety net under the scanner.

Concurrency is bounded twice: at most ``workers`` reads are in flight, and addresses are taken
``chunk_size`` at a time, so millions of addresses never sit in memory at once and a caller can enqueue
each chunk's finds before the next is read (``iter_rescan``). A source that can read many balances at
once (``BatchBalanceSource``: ``TronChain`` over keep-alive connections from one event loop) is given a
whole chunk per token; any other source is asked one address at a time by ``workers`` threads.

A balance that cannot be read is reported in ``failed``, not retried here: the next rescan asks again.
If every address of a chunk fails with a transient error the node is down and the rescan stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple, Protocol, runtime_checkable

from sweeper.errors import ChainUnavailable, SweeperError, TransientError
from sweeper.models import Token


class BalanceSource(Protocol):
    """The part of the chain port the rescan reads (``TronChain`` is one)."""

    def token_balance(self, contract: str, address: str) -> int: ...


@runtime_checkable
class BatchBalanceSource(Protocol):
    """A balance source that reads many addresses per call; each entry is a balance or its error."""

    def token_balances(
        self, contract: str, addresses: Sequence[str], *, concurrency: int
    ) -> list[int | SweeperError]: ...


class Holding(NamedTuple):
    """A watched address holding at least the token's sweep minimum."""

    address: str
    contract: str
    balance: int


@dataclass(slots=True)
class RescanChunk:
    """What one chunk of addresses gave: holdings to sweep, and addresses whose balance was not read."""

    checked: int
    found: list[Holding] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(address, error reason) pairs."""


@dataclass(slots=True)
class RescanResult:
    """The whole rescan: totals over every chunk."""

    checked: int = 0
    found: list[Holding] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def iter_rescan(
    chain: BalanceSource,
    addresses: Iterable[str],
    tokens: Sequence[Token],
    *,
    workers: int = 16,
    chunk_size: int = 2_000,
) -> Iterator[RescanChunk]:
    """Yield one RescanChunk per ``chunk_size`` addresses, read by ``workers`` threads."""
    if workers < 1 or chunk_size < 1:
        raise ValueError("workers and chunk_size must be >= 1")
    if not tokens:
        return

    def check(address: str) -> tuple[list[Holding], tuple[str, str] | None, bool]:
        found: list[Holding] = []
        for token in tokens:
            try:
                balance = chain.token_balance(token.contract, address)
            except SweeperError as exc:
                return found, (address, exc.reason), isinstance(exc, TransientError)
            if balance >= token.min_amount and balance > 0:
                found.append(Holding(address, token.contract, balance))
        return found, None, False

    def check_batch(chunk: list[str]) -> Iterator[tuple[list[Holding], tuple[str, str] | None, bool]]:
        assert isinstance(chain, BatchBalanceSource)
        found: list[list[Holding]] = [[] for _ in chunk]
        errors: dict[int, SweeperError] = {}
        for token in tokens:
            todo = [i for i in range(len(chunk)) if i not in errors]
            values = chain.token_balances(token.contract, [chunk[i] for i in todo], concurrency=workers)
            for i, value in zip(todo, values, strict=True):
                if isinstance(value, SweeperError):
                    errors[i] = value
                elif value >= token.min_amount and value > 0:
                    found[i].append(Holding(chunk[i], token.contract, value))
        for i, address in enumerate(chunk):
            exc = errors.get(i)
            failure = None if exc is None else (address, exc.reason)
            yield found[i], failure, isinstance(exc, TransientError)

    iterator = iter(addresses)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rescan") as pool:
        while chunk := list(islice(iterator, chunk_size)):
            result = RescanChunk(checked=len(chunk))
            transient = 0
            checked = check_batch(chunk) if isinstance(chain, BatchBalanceSource) else pool.map(check, chunk)
            for found, failure, is_transient in checked:
                result.found.extend(found)
                if failure is not None:
                    result.failed.append(failure)
                    transient += is_transient
            if transient == len(chunk):
                raise ChainUnavailable(
                    f"rescan stopped: all {len(chunk)} balance reads of a chunk failed "
                    f"({result.failed[-1][1]})"
                )
            yield result


def rescan(
    chain: BalanceSource,
    addresses: Iterable[str],
    tokens: Sequence[Token],
    *,
    workers: int = 16,
    chunk_size: int = 2_000,
) -> RescanResult:
    """Every address in ``addresses`` whose balance of a token is at least that token's ``min_amount``."""
    total = RescanResult()
    for chunk in iter_rescan(chain, addresses, tokens, workers=workers, chunk_size=chunk_size):
        total.checked += chunk.checked
        total.found.extend(chunk.found)
        total.failed.extend(chunk.failed)
    return total
