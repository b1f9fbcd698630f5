"""Detection tasks: the block scanner (beat, every few seconds) and the balance rescan (beat, hourly)."""

from __future__ import annotations

from typing import Any

import structlog

from sweeper.detect.rescan import iter_rescan
from sweeper.detect.scanner import Hit, commit, scan
from sweeper.detect.watchset import WatchCache
from sweeper.errors import LockBusy, PermanentError
from tasks.decorator import sweeper_task
from tasks.runtime import Runtime, runtime
from tasks.sweeping import schedule_advance

log = structlog.get_logger("sweeper.tasks")

SCAN_LOCK = "__block-scanner__"
RESCAN_LOCK = "__balance-rescan__"


def watch_cache(rt: Runtime) -> WatchCache:
    """The watched set of this process, reloaded when addresses are added."""
    cache = rt.extras.get("watch_cache")
    if cache is None:
        cache = rt.extras["watch_cache"] = WatchCache(rt.ledger)
    assert isinstance(cache, WatchCache)
    return cache


@sweeper_task("sweeper.scan_blocks")
def scan_blocks(**_: Any) -> dict[str, Any]:
    """Read the next safe blocks, open a sweep for each watched recipient, then move the cursor."""
    rt = runtime()
    try:
        with rt.flow.locks.hold(SCAN_LOCK):
            result = scan(
                rt.chain,
                rt.ledger,
                watch_cache(rt).get(),
                list(rt.flow.config.tokens),
                confirmations=rt.settings.confirmations,
                max_blocks=rt.settings.scan_max_blocks,
            )
            for hit in result.hits:
                open_for_hit(rt, hit)
            commit(rt.ledger, result)  # after the sweeps are in the ledger: at-least-once, never skipped
    except LockBusy:
        return {"ok": True, "skipped": "another scan is running", "idle": True}
    if result.lag_blocks > 0:
        scan_blocks.apply_async(countdown=0)  # still behind: keep catching up without waiting for beat
    return {
        "ok": True,
        "from": result.from_block,
        "to": result.to_block,
        "hits": len(result.hits),
        "lag_blocks": result.lag_blocks,
        "idle": not result.hits,  # the scan of a quiet chain, every few seconds: a DEBUG line
    }


def open_for_hit(rt: Runtime, hit: Hit) -> None:
    """Open the hit's sweep in the ledger before the cursor moves, then enqueue its first step.

    A message alone is not enough: one taken by a worker that is then SIGKILLed stays unacknowledged
    until the broker's visibility timeout (hours). A DETECTED row is re-enqueued by reconcile.
    """
    try:
        sweep = rt.flow.detect(hit.address, hit.contract, block=hit.block, record_dust=True)
    except PermanentError as exc:  # one bad balance must not stall the scanner
        log.warning("scan.refused", address=hit.address, reason=exc.reason, error=str(exc))
        return
    if sweep is not None:
        schedule_advance(rt, sweep.id, new=True)


@sweeper_task("sweeper.rescan_balances", soft_time_limit=3300, time_limit=3500)
def rescan_balances(**_: Any) -> dict[str, Any]:
    """Check every watched address's balances (bounded concurrency): the safety net behind the scanner."""
    rt = runtime()
    tokens = list(rt.flow.config.tokens.values())
    checked = opened = refused = 0
    try:
        with rt.flow.locks.hold(RESCAN_LOCK):
            addresses = (a for batch in rt.ledger.iter_addresses() for a in batch)
            for chunk in iter_rescan(rt.chain, addresses, tokens, workers=rt.settings.rescan_concurrency):
                checked += chunk.checked
                for holding in chunk.found:
                    if rt.ledger.find_open_sweep(holding.address, holding.contract) is not None:
                        continue
                    try:
                        sweep = rt.flow.detect(holding.address, holding.contract)
                    except PermanentError as exc:  # one bad balance must not end the safety net
                        refused += 1
                        log.warning(
                            "rescan.refused", address=holding.address, reason=exc.reason, error=str(exc)
                        )
                        continue
                    if sweep is not None:
                        opened += 1
                        schedule_advance(rt, sweep.id, new=True)
    except LockBusy:
        return {"ok": True, "skipped": "another rescan is running"}
    return {"ok": True, "checked": checked, "opened": opened, "refused": refused}
