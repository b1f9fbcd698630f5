"""Detection tasks: the block scanner (beat, every few seconds) and the balance rescan (beat, hourly)."""

from __future__ import annotations

from typing import Any

from sweeper.detect.rescan import iter_rescan
from sweeper.detect.scanner import commit, scan
from sweeper.detect.watchset import WatchCache
from sweeper.errors import LockBusy
from tasks.decorator import sweeper_task
from tasks.runtime import Runtime, runtime
from tasks.sweeping import schedule_advance, sweep_address

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
    """Read the next safe blocks, enqueue a check for each watched recipient, then move the cursor."""
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
                sweep_address.apply_async(kwargs={"address": hit.address})
            commit(rt.ledger, result)  # after the checks are enqueued: at-least-once, never skipped
    except LockBusy:
        return {"ok": True, "skipped": "another scan is running"}
    if result.lag_blocks > 0:
        scan_blocks.apply_async(countdown=0)  # still behind: keep catching up without waiting for beat
    return {
        "ok": True,
        "from": result.from_block,
        "to": result.to_block,
        "hits": len(result.hits),
        "lag_blocks": result.lag_blocks,
    }


@sweeper_task("sweeper.rescan_balances", soft_time_limit=3300, time_limit=3500)
def rescan_balances(**_: Any) -> dict[str, Any]:
    """Check every watched address's balances (bounded concurrency): the safety net behind the scanner."""
    rt = runtime()
    tokens = list(rt.flow.config.tokens.values())
    checked = opened = 0
    try:
        with rt.flow.locks.hold(RESCAN_LOCK):
            addresses = (a for batch in rt.ledger.iter_addresses() for a in batch)
            for chunk in iter_rescan(rt.chain, addresses, tokens, workers=rt.settings.rescan_concurrency):
                checked += chunk.checked
                for holding in chunk.found:
                    if rt.ledger.find_open_sweep(holding.address, holding.contract) is not None:
                        continue
                    sweep = rt.flow.detect(holding.address, holding.contract)
                    if sweep is not None:
                        opened += 1
                        schedule_advance(rt, sweep.id)
    except LockBusy:
        return {"ok": True, "skipped": "another rescan is running"}
    return {"ok": True, "checked": checked, "opened": opened}
