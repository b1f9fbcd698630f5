"""Worker processes give freed heap back to the OS (tasks/memory.py): rate-limited, off at 0, and on
glibc it really returns what a fragmented heap holds; the main process's timer loses the entries tasks
cancelled (kombu's own timer here; a real worker in tests/integration/test_worker_timer.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kombu.asynchronous.timer import Timer

from tasks.memory import Trimmer, drop_cancelled, glibc_trim

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


def _is_heap(items: list[Any]) -> bool:
    return all(not items[child] < items[(child - 1) // 2] for child in range(1, len(items)))


def test_cancelled_timer_entries_are_dropped_and_the_rest_fire_in_order() -> None:
    timer = Timer()
    fired: list[str] = []
    cancelled = [timer.call_after(90, fired.append, ("never",)) for _ in range(100)]
    for entry in cancelled:
        entry.cancel()
    timer.call_after(-2, fired.append, ("first",))
    timer.call_after(-1, fired.append, ("second",))
    later = timer.call_after(60, fired.append, ("later",))
    assert drop_cancelled(timer) == 100
    assert len(timer._queue) == 3
    assert _is_heap(timer._queue)
    assert drop_cancelled(timer) == 0  # nothing more to drop: the heap is left as it is
    for _ in range(3):
        _, entry = next(iter(timer))
        if entry is not None:
            entry()
    assert fired == ["first", "second"]
    assert [item.entry for item in timer._queue] == [later]


def test_the_iterator_a_timer_runs_sees_the_heap_dropped_in_place() -> None:
    timer = Timer()
    fired: list[int] = []
    scheduler = iter(timer)  # what the worker's event loop holds across ticks
    stale = timer.call_after(-5, fired.append, (0,))
    stale.cancel()
    timer.call_after(-1, fired.append, (1,))
    drop_cancelled(timer)
    _, entry = next(scheduler)
    assert entry is not None
    entry()
    assert fired == [1]
    assert timer._queue == []


def test_a_timer_without_its_heap_is_left_alone() -> None:
    assert drop_cancelled(object()) == 0
