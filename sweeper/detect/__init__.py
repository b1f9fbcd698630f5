"""Detection: which watched addresses hold tokens worth sweeping.

- ``WatchSet``: millions of watched addresses in memory, O(1) membership (``WatchCache`` reloads it).
- ``scan`` / ``commit``: TRC20 ``Transfer`` logs to watched addresses, cursor moved only after delivery.
- ``rescan``: every watched address's balances with bounded concurrency, the safety net.
"""

from sweeper.detect.rescan import BalanceSource, Holding, RescanChunk, RescanResult, iter_rescan, rescan
from sweeper.detect.scanner import (
    CURSOR,
    BlockScanner,
    BlockSource,
    CursorStore,
    Hit,
    ScanResult,
    commit,
    scan,
    watched_hits,
)
from sweeper.detect.watchset import AddressSource, WatchCache, WatchSet

__all__ = [
    "CURSOR",
    "AddressSource",
    "BalanceSource",
    "BlockScanner",
    "BlockSource",
    "CursorStore",
    "Hit",
    "Holding",
    "RescanChunk",
    "RescanResult",
    "ScanResult",
    "WatchCache",
    "WatchSet",
    "commit",
    "iter_rescan",
    "rescan",
    "scan",
    "watched_hits",
]
