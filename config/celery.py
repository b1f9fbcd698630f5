"""Celery settings as a plain dict: JSON only, late acks, no prefetch, task events when asked for.

The queues and routes they serve are drawn in docs/ARCHITECTURE.md §10.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

QUEUES = ("scan", "sweep")
"""Workers started with the older ``-Q scan,sweep,callbacks`` still work: Celery creates a named queue."""

# Longest countdown any task uses is far below this; a message must never be re-delivered while it
# still waits for its countdown, or two workers would hold the same step.
VISIBILITY_TIMEOUT_S = 6 * 3600


def celery_settings(
    broker_url: str, result_backend: str | None = None, *, task_events: bool = False
) -> dict[str, Any]:
    """Return the Celery configuration for one deployment.

    Task events cost a broker message per task state (about a tenth of a worker's CPU): off unless
    ``task_events`` (``SWEEPER_TASK_EVENTS``). Flower needs no setting: it asks the workers to send them
    (the ``enable_events`` remote control command) every 5 s, the first time 5 s after it starts: a worker's
    tasks until then are not in Flower.
    """
    return {
        "broker_url": broker_url,
        "result_backend": result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": task_events,
        "task_send_sent_event": task_events,
        "task_track_started": True,
        "task_time_limit": 120,
        "task_soft_time_limit": 90,
        # Only Redis understands a visibility timeout; the embedded SQL broker passes options to SQLAlchemy.
        "broker_transport_options": (
            {"visibility_timeout": VISIBILITY_TIMEOUT_S} if broker_url.startswith("redis") else {}
        ),
        "result_expires": 3600,
        "task_default_queue": "sweep",
        "task_queues": [Queue(q) for q in QUEUES],
        "task_routes": {
            "sweeper.scan_blocks": {"queue": "scan"},
            "sweeper.rescan_balances": {"queue": "scan"},
            "sweeper.sweep_address": {"queue": "sweep"},
            "sweeper.advance": {"queue": "sweep"},
            "sweeper.reconcile": {"queue": "sweep"},
        },
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
        "enable_utc": True,
    }
