"""Worker processes give freed heap back to the OS (tasks/memory.py): rate-limited, off at 0, and on
glibc it really returns what a fragmented heap holds."""

from __future__ import annotations

import os
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


_FREE_THEN_TRIM = """
from tasks.memory import glibc_trim

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6

held = [bytearray(100_000) for _ in range(2000)]  # 200 MB from the heap (the mmap threshold is 1 MB)
del held
before = rss_mb()  # free() kept it all: its automatic trim is off (the threshold is 4 GB)
glibc_trim()()
print(round(before - rss_mb()))
"""
# What a long-lived worker's heap does with its holes, made certain: glibc's free() gives nothing back
# here, so whatever RSS drops is malloc_trim's doing (man 3 mallopt: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD).
_HEAP_KEEPS_WHAT_IT_FREES = {"MALLOC_TRIM_THRESHOLD_": str(4 << 30), "MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


@pytest.mark.skipif(glibc_trim() is None, reason="needs glibc's malloc_trim")
def test_on_glibc_heap_that_free_kept_is_given_back(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _FREE_THEN_TRIM],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        timeout=60,
        env={**os.environ, **_HEAP_KEEPS_WHAT_IT_FREES},
    )
    released_mb = int(out.stdout.strip())
    assert released_mb > 150, f"malloc_trim gave back only {released_mb} MB of 200 MB freed"
