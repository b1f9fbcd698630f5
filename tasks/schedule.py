"""The beat schedule: the scanner every few seconds, the rescan hourly, reconcile every minute."""

from __future__ import annotations

from typing import Any

from config.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """One entry per periodic job; names are stable so a restarted beat never doubles them."""
    return {
        "scan-blocks": {
            "task": "sweeper.scan_blocks",
            "schedule": settings.scan_interval_seconds,
            "options": {"queue": "scan", "expires": settings.scan_interval_seconds * 2},
        },
        "rescan-balances": {
            "task": "sweeper.rescan_balances",
            "schedule": settings.rescan_interval_seconds,
            "options": {"queue": "scan", "expires": settings.rescan_interval_seconds},
        },
        "reconcile": {
            "task": "sweeper.reconcile",
            "schedule": settings.reconcile_interval_seconds,
            "options": {"queue": "sweep", "expires": settings.reconcile_interval_seconds * 2},
        },
    }
