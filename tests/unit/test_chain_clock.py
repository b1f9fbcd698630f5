"""The chain clock the embedded signing policy judges expiry by reads the head once a block, not once a
signature, and never guesses past a failed read (docs/SECURITY.md §3)."""

from __future__ import annotations

import pytest

from sweeper.chain.clock import HEAD_REFRESH_S, ChainClock
from sweeper.errors import ChainUnavailable
from sweeper.models import BlockRef

pytestmark = pytest.mark.unit


class Node:
    def __init__(self) -> None:
        self.reads = 0
        self.timestamp_ms = 1_700_000_000_000
        self.down = False

    def head_block(self) -> BlockRef:
        if self.down:
            raise ChainUnavailable("getnowblock: connection refused")
        self.reads += 1
        return BlockRef(100, self.timestamp_ms)


class Monotonic:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_one_head_read_serves_a_block_and_time_is_carried_forward_between_reads() -> None:
    node, mono = Node(), Monotonic()
    clock = ChainClock(node.head_block, monotonic=mono)
    assert clock() == node.timestamp_ms
    mono.now += 1.25
    assert clock() == node.timestamp_ms + 1_250  # no read: the last head plus the time since
    assert node.reads == 1
    mono.now += HEAD_REFRESH_S
    node.timestamp_ms += 6_000
    assert clock() == node.timestamp_ms  # a block later: read again, the head's own time
    assert node.reads == 2


def test_a_failed_read_raises_rather_than_guessing_from_an_old_head() -> None:
    node, mono = Node(), Monotonic()
    clock = ChainClock(node.head_block, monotonic=mono)
    clock()
    node.down = True
    mono.now += HEAD_REFRESH_S
    with pytest.raises(ChainUnavailable):
        clock()
