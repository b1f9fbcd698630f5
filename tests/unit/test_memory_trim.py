"""Worker processes give freed heap back to the OS (tasks/memory.py): rate-limited, off at 0, and on
glibc it really returns what a fragmented heap holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tasks.memory import Trimmer, glibc_trim

pytestmark = pytest.mark.unit


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_trims_at_most_once_per_interval_whoever_asks() -> None:
    calls: list[int] = []
    mono = Monotonic()
    trimmer = Trimmer(lambda: calls.append(1) or 1, 10.0, mono)
    assert trimmer.maybe() is False  # just started
    mono.now = 10.0
    assert trimmer.maybe() is True
    mono.now = 15.0
    assert [trimmer.maybe() for _ in range(5)] == [False] * 5
    mono.now = 20.0
    assert trimmer.maybe() is True
    assert len(calls) == 2 == trimmer.trims


def test_zero_seconds_or_no_glibc_turns_it_off() -> None:
    mono = Monotonic()
    off = Trimmer(lambda: 1, 0.0, mono)
    none = Trimmer(None, 10.0, mono)
    mono.now = 1e6
    assert (off.enabled, off.maybe(), none.enabled, none.maybe()) == (False, False, False, False)


_FRAGMENT = """
import sys
from tasks.memory import glibc_trim

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6

keep, drop = [], []
for _ in range(2000):          # 100 KB buffers (under the mmap threshold: from the heap) between
    drop.append(bytearray(100_000))  # small long-lived blocks that pin the heap's top
    keep.append(bytes(600))
del drop
before = rss_mb()
glibc_trim()()
print(round(before - rss_mb()))
"""


@pytest.mark.skipif(glibc_trim() is None, reason="needs glibc's malloc_trim")
def test_on_glibc_a_fragmented_heap_is_given_back(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _FRAGMENT], capture_output=True, text=True, check=True, cwd=root, timeout=60
    )
    released_mb = int(out.stdout.strip())
    assert released_mb > 100, f"malloc_trim gave back only {released_mb} MB of 200 MB freed"
