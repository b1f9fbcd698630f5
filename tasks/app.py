"""The Celery application (`celery -A tasks.app worker|beat|flower`)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init

from config.celery import celery_settings
from config.logging import configure_logging
from config.settings import InvalidSettings, load_settings
from tasks.schedule import beat_schedule


def create_app() -> Celery:
    """Build the app from SWEEPER_* settings; invalid settings stop start-up with one line per problem."""
    try:
        settings = load_settings()
    except InvalidSettings as exc:
        raise SystemExit(str(exc)) from None
    celery = Celery("sweeper", include=["tasks.sweeping", "tasks.scanning"])
    celery.conf.update(celery_settings(settings.broker_url, settings.result_backend))
    celery.conf.beat_schedule = beat_schedule(settings)
    celery.conf.beat_scheduler = "tasks.beat_lock:LeaderScheduler"  # safe to run twice (tasks/beat_lock.py)
    celery.conf.sweeper_beat_lock_seconds = settings.beat_lock_seconds
    return celery


app = create_app()


@setup_logging.connect
def _our_logging(**_: Any) -> None:
    """Celery's own log format off: worker and beat write what every process writes (JSON in production).

    A receiver on this signal makes Celery leave logging alone, stdout and stderr included, so no JSON
    line is wrapped in Celery's plain-text format or relabelled WARNING.
    """
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)


@worker_init.connect
def _refuse_unready(**_: Any) -> None:
    """A worker that would buy energy for sweeps it can never finish does not start (tasks/startup.py)."""
    from sweeper.errors import ConfigError
    from tasks.startup import refuse_unless_ready

    try:
        refuse_unless_ready(load_settings())
    except (InvalidSettings, ConfigError) as exc:
        raise SystemExit(str(exc)) from None
