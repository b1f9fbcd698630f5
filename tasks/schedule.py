"""The beat schedule: the scanner every few seconds, the rescan hourly, reconcile every minute."""

from __future__ import annotations

from typing import Any

from config.settings import Settings

CLOCK_TOLERANCE_S = 300.0
"""How far a worker host's clock may run ahead of beat's before it throws the periodic tasks away.

Celery turns ``expires`` into a time by the sender's clock and each worker compares it with its own
(https://docs.celeryq.dev/en/stable/userguide/calling.html#expiration): with an expiry of twice a 3 s
interval, a host two minutes fast would discard every scan and reconcile it receives. The same five
minutes the signer and the callback receiver allow. A backlog of expired-late scans costs one lock
attempt each (``scan_blocks`` runs one at a time)."""


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """One entry per periodic job; names are stable so a restarted beat never doubles them."""
    return {
        "scan-blocks": {
            "task": "sweeper.scan_blocks",
            "schedule": settings.scan_interval_seconds,
            "options": {"queue": "scan", "expires": _expiry(settings.scan_interval_seconds)},
        },
        "rescan-balances": {
            "task": "sweeper.rescan_balances",
            "schedule": settings.rescan_interval_seconds,
            "options": {"queue": "scan", "expires": _expiry(settings.rescan_interval_seconds / 2)},
        },
        "reconcile": {
            "task": "sweeper.reconcile",
            "schedule": settings.reconcile_interval_seconds,
            "options": {"queue": "sweep", "expires": _expiry(settings.reconcile_interval_seconds)},
        },
    }


def _expiry(interval: float) -> float:
    """Two intervals, plus the clock tolerance: a run that waited longer is replaced by the next one."""
    return interval * 2 + CLOCK_TOLERANCE_S
